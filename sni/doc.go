// Package sni is the one place that builds and parses the names Istio derives
// from a service, a subset and a port: the TLS SNI used for mesh mTLS and by the
// east-west gateway (the "DNS SRV" form), and the ordinary Envoy cluster name.
//
//	discovery/model ─▶ xds/translate ──▶ sni.Name{Port, Subset, Host}
//	                                         │ .SNI()         outbound_.9080_.v2_.reviews.default.svc.cluster.local
//	                                         │ .ClusterName() outbound|9080|v2|reviews.default.svc.cluster.local
//	 east-west gateway filter chains ◀───────┘
//	 meshgate sni encode / decode ─▶ Parse / ParseClusterName (checked inverses)
//
// Formats (they must match Istio byte for byte):
//
//	SNI / SNI-DNAT cluster: outbound_.<port>_.<subset>_.<fqdn>   (no subset: outbound_.8080_._.echo.ns1.svc.cluster.local)
//	cluster name:           outbound|<port>|<subset>|<fqdn>      (no subset: outbound|9080||reviews.default.svc.cluster.local)
//
// Unlike Istio's ParseSubsetKey, which returns zero values on bad input, Parse
// and ParseClusterName return an error for anything that the matching encoder
// would not produce from a valid Name, so for every accepted string s,
// Parse(s).SNI() == s (and likewise for cluster names).
//
// Validation rules (Name.Validate / Name.ValidateCluster):
//   - only the outbound direction: "inbound" names are rejected;
//   - port: decimal 1–65535, no sign, no leading zero;
//   - subset: empty, or a DNS-1123 label (what Istio accepts for a
//     DestinationRule subset name): 1–63 letters, digits or '-', starting and
//     ending with a letter or digit;
//   - host: dot-separated DNS-1123 labels (same alphabet, 1–63 bytes each, at
//     most 253 bytes), no trailing dot; the encoded name is at most 255 bytes;
//   - letters keep their case. Istio's own label syntax accepts upper case and
//     Istio never folds case when building these names, so neither do we:
//     "Foo.example.com" round-trips as written.
//
// Wildcards: a host beginning with "*." (for example "*.example.com") is
// accepted in cluster names only. Istio does build such cluster names
// ("outbound|443||*.example.com") for ServiceEntries with wildcard hosts, so
// the cluster-name parser must read them. It is rejected in the SNI form: an
// SNI is the literal server name a client sends in its ClientHello (RFC 6066
// forbids wildcards there), and the east-west gateway, the only consumer of
// these SNIs, skips ServiceEntry services. No other use of '*' is accepted.
//
// Never imports: this repository.
package sni
