// Package gwhealth probes the east-west gateways of the other networks and
// takes the endpoints behind the unreachable ones out of what a daemon
// serves, within seconds, while memberlist may need a minute to call a
// peer daemon dead (and a dead daemon says nothing about its data plane).
//
//	daemon.serve(composed mesh) ─Targets─▶ Prober.SetTargets ─▶ one loop per gateway (every Interval ± Jitter)
//	                                                                 │ TCP connect + TLS ClientHello (ProbeSNI, ProbeALPN)
//	                                       Prober.Down ◀─state──────┘ up / down (DownAfter failures) / unknown
//	           ─Mark(mesh, network, Down)─▶ MeshState.Unreachable ─▶ xds/translate   └─ OnChange ─▶ daemon: serve again
//
// # The probe
//
// A gateway answers a probe when, after the TCP connect, the TLS handshake
// ends in any way but a timeout. The SNI names nothing a gateway routes
// (the reserved .invalid TLD), so an AUTO_PASSTHROUGH listener (Envoy's and
// the built-in gateway's tls_inspector) closes the connection after reading
// the ClientHello and forwards nothing; a gateway that terminates TLS
// completes or refuses the handshake. Either way its listener and its
// worker are alive and the path both ways works. A refused or timed-out
// connect, or silence until Timeout, is a failure. Cost: one connection of
// ~1 KB every Interval (500 ms) per gateway per daemon; the gateway counts
// each in downstream_cx_no_filter_chain_match. Istio's readiness port
// (15021 /healthz/ready) is not used: it says the gateway pod is ready, not
// that the path from here to 15443 works, and it is often not exposed.
//
// Verdicts decide locally: what this daemon's gateways are sent depends on
// what is reachable from this network; a peer's view of the same gateway
// says nothing about this path (partitions are per path: net2 may reach a
// gateway net1 cannot, and the reverse). The daemon gossips its down
// gateways in its cluster's record (model.ClusterState.UnreachableGateways)
// and shows the others' reports in /debug/gateways (reportedDownBy) next to
// its own verdicts: corroborating evidence for an operator (is the gateway
// down, or only the path from here?), never a reason to prune a gateway
// that answers from here, nor to keep one that does not.
//
// # States and hysteresis
//
// A new gateway is unknown (treated as up) until its first verdict. DownAfter
// (3) failures in a row make it down: ~2.5 s for a silent gateway, ~1.5 s
// for a refusing one. UpAfter (2) answers in a row make it up again (~1 s
// after the heal), unless it is flapping: a gateway down again within
// FlapWindow (30 s) of coming back must then answer without a failure for a
// hold that doubles with each flap (FlapHold 2 s up to MaxHold 30 s), so a
// flapping link changes the endpoints a bounded number of times.
//
// # Mark
//
// Mark is pure: the daemon applies it to each composed mesh before the
// translator, setting model.MeshState.Unreachable to the down gateways. The
// translator (xds/translate, endpoints.go) splits a remote endpoint's weight
// over the gateways of its cluster that answer, and leaves the unreachable
// ones out of every load assignment that has anything else (an endpoint of
// the proxy's network, a gateway that answers); a load assignment with
// nothing else keeps them (fail-static: no endpoint at all helps no caller,
// and a probe may be wrong). So the granularity is the Envoy cluster: a
// subset that only runs behind a down gateway keeps it.
//
// Metrics: meshgate_gateway_probe_up, meshgate_gateway_probes_total{result},
// meshgate_gateway_probe_transitions_total, meshgate_gateway_probe_rtt_seconds,
// all by gateway (address:port). Status carries each gateway's last answer
// and the start of its current streak of answers, from which the daemon
// times what it serves (meshgate_gateway_withdrawal_seconds and
// meshgate_gateway_restore_seconds, cmd/internal/daemon/gateways.go).
//
// Imports only: the standard library, ./discovery/model, ./identity and
// github.com/prometheus/client_golang/....
package gwhealth
