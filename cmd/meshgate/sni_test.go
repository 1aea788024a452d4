package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestSNICommand(t *testing.T) {
	tests := []struct {
		args     []string
		want     string
		wantCode int
		wantErr  string
	}{
		{args: []string{"encode", "--host", "reviews.default.svc.cluster.local", "--port", "9080", "--subset", "v2"},
			want: "outbound_.9080_.v2_.reviews.default.svc.cluster.local\n"},
		{args: []string{"encode", "--host", "echo.ns1.svc.cluster.local", "--port", "8080"},
			want: "outbound_.8080_._.echo.ns1.svc.cluster.local\n"},
		{args: []string{"encode", "--host", "reviews.default.svc.cluster.local", "--port", "9080", "--cluster"},
			want: "outbound|9080||reviews.default.svc.cluster.local\n"},
		{args: []string{"encode", "--host", "*.example.com", "--port", "443", "--cluster"},
			want: "outbound|443||*.example.com\n"},
		{args: []string{"encode", "--host", "*.example.com", "--port", "443"},
			wantCode: 2, wantErr: "wildcard hosts are not valid in an SNI"},
		{args: []string{"encode", "--host", "echo", "--port", "70000"},
			wantCode: 2, wantErr: `port "70000": must be 1-65535`},
		{args: []string{"decode", "outbound_.9080_.v2_.reviews.default.svc.cluster.local"},
			want: "form:   SNI\nhost:   reviews.default.svc.cluster.local\nport:   9080\nsubset: v2\n"},
		{args: []string{"decode", "outbound|9080||reviews.default.svc.cluster.local"},
			want: "form:   cluster name\nhost:   reviews.default.svc.cluster.local\nport:   9080\nsubset: \n"},
		{args: []string{"decode", "inbound_.9080_._.reviews"},
			wantCode: 2, wantErr: `invalid SNI "inbound_.9080_._.reviews": direction "inbound": only outbound names are supported`},
		{args: []string{"decode", "outbound|x||reviews"},
			wantCode: 2, wantErr: `invalid cluster name "outbound|x||reviews": port "x": must be a decimal number`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := newSNICmd()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(tt.args)
			err := cmd.Execute()
			if tt.wantCode == 0 {
				if err != nil {
					t.Fatalf("error: %v", err)
				}
				if out.String() != tt.want {
					t.Errorf("output %q, want %q", out.String(), tt.want)
				}
				return
			}
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != tt.wantCode {
				t.Fatalf("error %v, want exit code %d", err, tt.wantCode)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}
