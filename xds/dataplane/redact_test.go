package dataplane

import (
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// TestRedactNestedAny: a private key inline in a listener's
// DownstreamTlsContext (an Any inside a filter chain) is redacted in the
// dump, and the live config is left alone.
func TestRedactNestedAny(t *testing.T) {
	const secret = "SECRET-KEY-MATERIAL"
	l := eastWestListener()
	l.FilterChains[0].TransportSocket = &corev3.TransportSocket{Name: "tls", ConfigType: &corev3.TransportSocket_TypedConfig{
		TypedConfig: mustAnyT(&tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsCertificates: []*tlsv3.TlsCertificate{{
				CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "CERT"}},
				PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: secret}},
				Password:         &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: []byte(secret)}},
			}},
		}}),
	}}
	orig := proto.Clone(l)
	b, err := protojson.Marshal(redactedAny(l))
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Join(strings.Fields(string(b)), "") // protojson spacing is deliberately unstable
	if strings.Contains(out, secret) || strings.Contains(out, "U0VDUkVULUtFWS1NQVRFUklBTA") {
		t.Fatalf("dump leaks the key: %s", out)
	}
	if !strings.Contains(out, `"privateKey":{"inlineString":"[redacted]"}`) || !strings.Contains(out, "CERT") {
		t.Fatalf("dump lacks the redacted key or the certificate: %s", out)
	}
	if !proto.Equal(orig, l) {
		t.Fatalf("redaction modified the live config")
	}
}
