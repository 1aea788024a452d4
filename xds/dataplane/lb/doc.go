// Package lb chooses the upstream endpoint of each new connection of the
// built-in gateway, and ejects endpoints whose connects keep failing (Envoy's
// outlier detection: consecutive failures, and, once per interval, success
// rate and failure percentage over the interval's connects, evaluated at
// the first pick after it ends).
//
//	cluster (CDS) + endpoints (EDS) ─▶ lb.New ─▶ Balancer ─▶ Pick ─▶ Lease ─▶ Success / Failure / Release
//	                                      ▲                                      │
//	                  Hosts (outlier state, survives endpoint updates) ◀────────┘
//
// Selection follows Envoy where it matters for the mesh and is deterministic
// where Envoy is random, so that tests can count exactly:
//   - the lowest priority level that has an available endpoint is used;
//   - within it, localities are chosen by smooth weighted round robin on their
//     load_balancing_weight (when locality weighting is on), then endpoints by
//     smooth weighted round robin on their load_balancing_weight;
//   - LeastRequest picks the endpoints with the fewest active connections per
//     unit of weight (a full scan, not Envoy's power of two random choices) and
//     breaks ties by weighted round robin;
//   - ejected and unhealthy endpoints are skipped unless fewer than
//     PanicThreshold percent are available (Envoy's panic mode).
//
// A Balancer is immutable apart from its round-robin positions; a new
// endpoint set builds a new Balancer sharing the same Hosts.
package lb
