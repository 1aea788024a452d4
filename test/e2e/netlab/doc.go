// Package netlab builds the networks of the multi-cluster end-to-end tests on
// one machine: a Linux network namespace per mesh network, a routing
// namespace between them, and a link from the test process's own namespace
// to the router (so the test reaches API servers and daemons).
//
//	   test process (root netns)  10.B.0.1  ── Toxiproxy listens here
//	             │ veth  <p>-h / <p>-hr
//	     ┌───────┴────────┐ router netns <p>-rt: ip_forward=1,
//	     │     router     │ FORWARD policy DROP, accept only to the
//	     └──┬─────┬─────┬─┘ public addresses below (+ replies)
//	  veth  │     │     │
//	┌───────┴┐ ┌──┴─────┐ ┌┴───────┐   network netns <p>-n<i>:
//	│ net1   │ │ net2   │ │ net3   │   uplink 10.B.i.2 (node: API server, daemon),
//	│ pods   │ │ pods   │ │ pods   │   10.B.i.10 (east-west gateway), 10.B.i.11 (ingress)
//	└────────┘ └────────┘ └────────┘   pods 10.B.(100+i).x (/32s on lo), never routed
//	                                   outside; pod traffic leaving is masqueraded
//
// B is 200 + 5*slot + lab index (a slot holds up to 5 labs, named with a letter). Only the public addresses of a network (its node and
// gateway addresses) are reachable from another network; pod addresses are
// not routed anywhere outside their own namespace, and the router drops
// anything not addressed to a public address.
//
// Every name starts with the prefix "mge2e<slot><lab letter>". A slot is held through a
// flock for the life of the test process, so concurrent runs on one machine
// use different names and subnets. Before building, Sweep removes what a dead
// run of a free slot left behind: processes inside its namespaces (by pid),
// the namespaces (which takes their links, addresses, routes and iptables
// rules with them) and the host end of the management link.
//
// Sockets of in-process workloads (echo servers, clients, Toxiproxy's
// upstream) are created inside a namespace by Network.Do, which switches one
// locked OS thread into the namespace for the duration of a call and back.
package netlab
