package convert

import (
	"reflect"
	"testing"
	"time"

	"github.com/meshgate/meshgate/discovery/model"
)

func u32(v uint32) *uint32 { return &v }

func TestDestinationRuleConversion(t *testing.T) {
	got, errs := DestinationRule(dr(t, `
host: reviews.default.svc.cluster.local
exportTo: ["*"]
trafficPolicy:
  loadBalancer:
    consistentHash:
      httpCookie: {name: user, path: /, ttl: 0s}
      ringHash: {minimumRingSize: 1024}
  connectionPool:
    tcp: {maxConnections: 100, connectTimeout: 0.030s, tcpKeepalive: {time: 7200s, interval: 75s, probes: 9}, maxConnectionDuration: 3600s, idleTimeout: 0s}
    http: {http1MaxPendingRequests: 10, http2MaxRequests: 20, maxRequestsPerConnection: 1, maxRetries: 3, idleTimeout: 3600s, h2UpgradePolicy: UPGRADE,
      maxConcurrentStreams: 5, http2KeepAlive: {interval: 10s, timeout: 5s}}
  outlierDetection: {consecutive5xxErrors: 7, consecutiveGatewayErrors: 2, interval: 300s, baseEjectionTime: 900s, maxEjectionPercent: 50, minHealthPercent: 10}
  tls: {mode: MUTUAL, clientCertificate: /c, privateKey: /k, caCertificates: /ca, subjectAltNames: [r.example.com], sni: r.example.com, insecureSkipVerify: false}
  portLevelSettings:
  - port: {number: 80}
    loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 65537}}}
    tls: {mode: ISTIO_MUTUAL, sni: edition.cnn.com}
subsets:
- name: v1
  labels: {version: v1}
- name: cnn
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    tls: {mode: SIMPLE, credentialName: client-cred}
`))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	zero := time.Duration(0)
	want := model.DestinationRule{
		Meta:     model.Meta{Name: "dr", Namespace: "default"},
		Host:     "reviews.default.svc.cluster.local",
		ExportTo: []string{"*"},
		TrafficPolicy: &model.TrafficPolicy{
			LoadBalancer: &model.LoadBalancer{ConsistentHash: &model.ConsistentHash{HTTPCookieName: "user", HTTPCookiePath: "/", HTTPCookieTTL: &zero, Algorithm: model.HashRing, MinimumRingSize: 1024}},
			ConnectionPool: &model.ConnectionPool{
				TCP: &model.TCPPool{MaxConnections: 100, ConnectTimeout: dur(30 * time.Millisecond),
					TCPKeepalive:          &model.TCPKeepalive{Probes: 9, Time: dur(2 * time.Hour), Interval: dur(75 * time.Second)},
					MaxConnectionDuration: dur(time.Hour), IdleTimeout: &zero},
				HTTP: &model.HTTPPool{HTTP1MaxPendingRequests: 10, HTTP2MaxRequests: 20, MaxRequestsPerConnection: 1, MaxRetries: 3, IdleTimeout: dur(time.Hour), H2UpgradePolicy: "UPGRADE",
					MaxConcurrentStreams: 5, HTTP2KeepAlive: &model.HTTP2Keepalive{Interval: dur(10 * time.Second), Timeout: dur(5 * time.Second)}},
			},
			OutlierDetection: &model.OutlierDetection{Consecutive5xxErrors: u32(7), ConsecutiveGatewayErrors: u32(2), Interval: dur(5 * time.Minute),
				BaseEjectionTime: dur(15 * time.Minute), MaxEjectionPercent: 50, MinHealthPercent: 10},
			TLS: &model.ClientTLS{Mode: "MUTUAL", ClientCertificate: "/c", PrivateKey: "/k", CACertificates: "/ca",
				SubjectAltNames: []string{"r.example.com"}, SNI: "r.example.com"},
			PortLevelSettings: []model.PortTrafficPolicy{{Port: 80, LoadBalancer: &model.LoadBalancer{ConsistentHash: &model.ConsistentHash{UseSourceIP: true, Algorithm: model.HashMaglev, MaglevTableSize: 65537}},
				TLS: &model.ClientTLS{Mode: "ISTIO_MUTUAL", SNI: "edition.cnn.com"}}},
		},
		Subsets: []model.Subset{
			{Name: "v1", Labels: map[string]string{"version": "v1"}},
			{Name: "cnn", TrafficPolicy: &model.TrafficPolicy{LoadBalancer: &model.LoadBalancer{Simple: "ROUND_ROBIN"},
				TLS: &model.ClientTLS{Mode: "SIMPLE", CredentialName: "client-cred"}}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
		if !reflect.DeepEqual(got.TrafficPolicy, want.TrafficPolicy) {
			t.Errorf("traffic policy:\n got  %+v\nwant %+v", *got.TrafficPolicy, *want.TrafficPolicy)
		}
	}
}

func TestDestinationRuleValidation(t *testing.T) {
	tests := []struct {
		name  string
		spec  string
		field string
	}{
		{"no host", `subsets: [{name: v1}]`, "spec.host"},
		{"invalid host", `host: "reviews.*"`, "spec.host"},
		{"IP host", `host: 10.0.0.1`, "spec.host"},
		{"duplicate subsets", "host: r\nsubsets: [{name: v1, labels: {version: v1}}, {name: v1, labels: {version: v2}}]", "spec.subsets[1].name"},
		{"empty subset name", "host: r\nsubsets: [{labels: {version: v1}}]", "spec.subsets[0].name"},
		{"invalid subset name", "host: r\nsubsets: [{name: V1}]", "spec.subsets[0].name"},
		{"invalid subset label", "host: r\nsubsets: [{name: v1, labels: {version: \"a b\"}}]", "spec.subsets[0].labels[version]"},
		{"empty traffic policy", "host: r\ntrafficPolicy: {}", "spec.trafficPolicy"},
		{"empty connection pool", "host: r\ntrafficPolicy: {connectionPool: {}}", "spec.trafficPolicy.connectionPool"},
		{"negative max connections", "host: r\ntrafficPolicy: {connectionPool: {tcp: {maxConnections: -1}}}", "spec.trafficPolicy.connectionPool.tcp.maxConnections"},
		{"ejection percent", "host: r\ntrafficPolicy: {outlierDetection: {maxEjectionPercent: 101}}", "spec.trafficPolicy.outlierDetection.maxEjectionPercent"},
		{"interval below 1ms", "host: r\ntrafficPolicy: {outlierDetection: {interval: 0.0005s}}", "spec.trafficPolicy.outlierDetection.interval"},
		{"cookie without name", "host: r\ntrafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {ttl: 1s}}}}", "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name"},
		{"mutual without client certificate", "host: r\ntrafficPolicy: {tls: {mode: MUTUAL, privateKey: /k}}", "spec.trafficPolicy.tls.clientCertificate"},
		{"credentialName with files", "host: r\ntrafficPolicy: {tls: {mode: SIMPLE, credentialName: c, caCertificates: /ca}}", "spec.trafficPolicy.tls.credentialName"},
		{"port policy without port", "host: r\ntrafficPolicy: {portLevelSettings: [{tls: {mode: SIMPLE}}]}", "spec.trafficPolicy.portLevelSettings[0].port"},
		{"empty port policy", "host: r\ntrafficPolicy: {portLevelSettings: [{port: {number: 80}}]}", "spec.trafficPolicy.portLevelSettings[0]"},
		{"subset policy", "host: r\nsubsets: [{name: v1, trafficPolicy: {tls: {mode: MUTUAL, clientCertificate: /c}}}]", "spec.subsets[0].trafficPolicy.tls.privateKey"},
		{"duplicate exportTo", "host: r\nexportTo: [a, a]", "spec.exportTo[1]"},
		{"tcp idleTimeout below 1ms", "host: r\ntrafficPolicy: {loadBalancer: {simple: LEAST_CONN}, connectionPool: {tcp: {idleTimeout: 0.0001s}}}", "spec.trafficPolicy.connectionPool.tcp.idleTimeout"},
		{"maglev without table size", "host: r\ntrafficPolicy: {loadBalancer: {consistentHash: {maglev: {}}}}", "spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize"},
		{"maglev table size not prime", "host: r\ntrafficPolicy: {loadBalancer: {consistentHash: {maglev: {tableSize: 1000}}}}", "spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize"},
		{"useClientProtocol with upgrade", "host: r\ntrafficPolicy: {connectionPool: {http: {useClientProtocol: true, h2UpgradePolicy: UPGRADE}}}", "spec.trafficPolicy.connectionPool.http.useClientProtocol"},
		{"http2KeepAlive without timeout", "host: r\ntrafficPolicy: {connectionPool: {http: {http2KeepAlive: {interval: 1s}}}}", "spec.trafficPolicy.connectionPool.http.http2KeepAlive.timeout"},
		{"failover with a topology label in failoverPriority", "host: r\ntrafficPolicy: {loadBalancer: {localityLbSetting: {failover: [{from: a, to: b}], failoverPriority: [topology.istio.io/network, topology.kubernetes.io/zone]}}, outlierDetection: {consecutive5xxErrors: 1}}", "spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority[1]"},
		{"distribute weights not 100", "host: r\ntrafficPolicy: {loadBalancer: {localityLbSetting: {distribute: [{from: a/b/*, to: {a/b/*: 80, a/c/*: 10}}]}}}", "spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[0].to"},
		{"failover to the same region", "host: r\ntrafficPolicy: {loadBalancer: {localityLbSetting: {failover: [{from: a, to: a}]}}}", "spec.trafficPolicy.loadBalancer.localityLbSetting.failover[0]"},
		{"distribute and failover", "host: r\ntrafficPolicy: {loadBalancer: {localityLbSetting: {failover: [{from: a, to: b}], distribute: [{from: a, to: {b: 100}}]}}}", "spec.trafficPolicy.loadBalancer.localityLbSetting"},
		{"unsupported warmup", "host: r\ntrafficPolicy: {loadBalancer: {simple: ROUND_ROBIN, warmup: {duration: 10s}}}", "spec.trafficPolicy.loadBalancer.warmup"},
		{"unsupported proxyProtocol", "host: r\ntrafficPolicy: {proxyProtocol: {version: V1}}", "spec.trafficPolicy.proxyProtocol"},
		{"unsupported tunnel", "host: r\ntrafficPolicy: {tunnel: {targetHost: a, targetPort: 80}}", "spec.trafficPolicy.tunnel"},
		{"unsupported retryBudget", "host: r\ntrafficPolicy: {retryBudget: {percent: 10}}", "spec.trafficPolicy.retryBudget"},
		{"unsupported splitExternalLocalOriginErrors", "host: r\ntrafficPolicy: {outlierDetection: {splitExternalLocalOriginErrors: true}}", "spec.trafficPolicy.outlierDetection.splitExternalLocalOriginErrors"},
		{"unsupported caCrl", "host: r\ntrafficPolicy: {tls: {mode: SIMPLE, caCrl: /crl}}", "spec.trafficPolicy.tls.caCrl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := DestinationRule(dr(t, tt.spec))
			assertOneFieldError(t, errs, model.Ref{Kind: model.KindDestinationRule, Namespace: "default", Name: "dr"}, tt.field)
		})
	}
}
