package node

import (
	"errors"
	"strings"
	"testing"
)

func TestIDString(t *testing.T) {
	cases := []struct {
		id   ID
		want string
	}{
		{ID{TypeRouter, "10.0.0.7", "eastwest-0", "istio-system", "cluster.local"},
			"router~10.0.0.7~eastwest-0.istio-system~istio-system.svc.cluster.local"},
		{ID{TypeSidecar, "127.0.0.1", "client-1", "default", "cluster.local"},
			"sidecar~127.0.0.1~client-1.default~default.svc.cluster.local"},
		{ID{TypeRouter, "fd00::7", "gw.v1", "ns", "corp.example"},
			"router~fd00::7~gw.v1.ns~ns.svc.corp.example"},
	}
	for _, tc := range cases {
		if got := tc.id.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.id, got, tc.want)
		}
		got, err := ParseID(tc.want)
		if err != nil || got != tc.id {
			t.Errorf("ParseID(%q) = %+v, %v; want %+v", tc.want, got, err, tc.id)
		}
	}
}

func TestParseIDErrors(t *testing.T) {
	cases := []struct {
		in, field string
	}{
		{"router~10.0.0.1~x.ns", "format"},
		{"router~10.0.0.1~x.ns~ns.svc.cluster.local~extra", "format"},
		{"router~10.0.0.1~x.ns~ns", "domain"},                      // Istio tolerates a bare namespace; we do not
		{"waypoint~10.0.0.1~p.ns~ns.svc.cluster.local", "type"},    // not a type meshgate serves
		{"~10.0.0.1~p.ns~ns.svc.cluster.local", "type"},            // empty type
		{"router~~p.ns~ns.svc.cluster.local", "ip"},                // empty ip
		{"router~ip~p.ns~ns.svc.cluster.local", "ip"},              // not an address
		{"router~fe80::1%eth0~p.ns~ns.svc.cluster.local", "ip"},    // zone
		{"router~10.0.0.1~p.other~ns.svc.cluster.local", "pod"},    // namespaces differ
		{"router~10.0.0.1~p~ns.svc.cluster.local", "pod"},          // no namespace in the third part
		{"router~10.0.0.1~.ns~ns.svc.cluster.local", "pod"},        // empty pod
		{"router~10.0.0.1~p/q.ns~ns.svc.cluster.local", "pod"},     // bad character
		{"router~10.0.0.1~p.NS~NS.svc.cluster.local", "namespace"}, // upper case
		{"router~10.0.0.1~p..svc.cluster.local~.svc.cluster.local", "namespace"},
		{"router~10.0.0.1~p.ns~ns.svc.", "domain suffix"},               // empty suffix
		{"router~10.0.0.1~p.ns~ns.svc.cluster..local", "domain suffix"}, // empty label
		{"router~10.0.0.1~p.ns~ns.svc.cluster.local.", "domain suffix"}, // trailing dot
		{"router~10.0.0.1~" + strings.Repeat("p", 1100) + ".ns~ns.svc.cluster.local", "id"},
	}
	for _, tc := range cases {
		id, err := ParseID(tc.in)
		var pe *ParseError
		var fe *FieldError
		if !errors.As(err, &pe) || pe.What != WhatID || !errors.As(err, &fe) {
			t.Errorf("ParseID(%q) = %+v, %v; want a *ParseError with a *FieldError", tc.in, id, err)
			continue
		}
		if fe.Field != tc.field {
			t.Errorf("ParseID(%q): field %q (%v), want %q", tc.in, fe.Field, err, tc.field)
		}
		if id != (ID{}) {
			t.Errorf("ParseID(%q) returned %+v with an error", tc.in, id)
		}
	}
}

// The error names the input and the field, and stays short for long input.
func TestParseIDErrorText(t *testing.T) {
	_, err := ParseID("router~10.0.0.1~x.ns~ns")
	want := `invalid node id "router~10.0.0.1~x.ns~ns": domain "ns": want <namespace>.svc.<domain suffix>`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant  %s", err, want)
	}
	_, err = ParseID(strings.Repeat("x", 5000))
	if err == nil || len(err.Error()) > 300 {
		t.Errorf("error on long input: %d bytes", len(err.Error()))
	}
}
