package caclient

import (
	"strings"
	"testing"
)

func TestConfigErrors(t *testing.T) {
	_, err := New(Config{TTL: -1})
	for _, want := range []string{"Address: required", "Roots: required", "TTL -1ns: must not be negative"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v: want %q", err, want)
		}
	}
}

func TestServerNameDefault(t *testing.T) {
	for addr, want := range map[string]string{"meshgate.istio-system.svc:15012": "meshgate.istio-system.svc", "[::1]:15012": "::1",
		"meshgate-0.meshgate.istio-system.svc:15012,meshgate-1.meshgate.istio-system.svc:15012": "meshgate-0.meshgate.istio-system.svc"} {
		c := Config{Address: addr}
		_ = c.complete()
		if c.ServerName != want {
			t.Errorf("%s: server name %q, want %q", addr, c.ServerName, want)
		}
	}
}
