package sni

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestEncode(t *testing.T) {
	tests := []struct {
		name    Name
		sni     string
		cluster string
	}{
		{Name{Port: 8080, Host: "echo.ns1.svc.cluster.local"},
			"outbound_.8080_._.echo.ns1.svc.cluster.local",
			"outbound|8080||echo.ns1.svc.cluster.local"},
		{Name{Port: 9080, Subset: "v2", Host: "reviews.default.svc.cluster.local"},
			"outbound_.9080_.v2_.reviews.default.svc.cluster.local",
			"outbound|9080|v2|reviews.default.svc.cluster.local"},
		{Name{Port: 9080, Host: "reviews.default.svc.cluster.local"},
			"outbound_.9080_._.reviews.default.svc.cluster.local",
			"outbound|9080||reviews.default.svc.cluster.local"},
		{Name{Port: 1, Subset: "a", Host: "b"}, "outbound_.1_.a_.b", "outbound|1|a|b"},
		{Name{Port: 65535, Subset: "V1-Canary", Host: "Foo.Example.com"},
			"outbound_.65535_.V1-Canary_.Foo.Example.com", "outbound|65535|V1-Canary|Foo.Example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.sni, func(t *testing.T) {
			if got := tt.name.SNI(); got != tt.sni {
				t.Errorf("SNI() = %q, want %q", got, tt.sni)
			}
			if got := tt.name.String(); got != tt.sni {
				t.Errorf("String() = %q, want %q", got, tt.sni)
			}
			if got := tt.name.ClusterName(); got != tt.cluster {
				t.Errorf("ClusterName() = %q, want %q", got, tt.cluster)
			}
			if got := string(tt.name.AppendSNI([]byte("x"))); got != "x"+tt.sni {
				t.Errorf("AppendSNI = %q", got)
			}
			if got := string(tt.name.AppendClusterName(nil)); got != tt.cluster {
				t.Errorf("AppendClusterName = %q", got)
			}
			if n, err := Parse(tt.sni); err != nil || n != tt.name {
				t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.sni, n, err, tt.name)
			}
			if n, err := ParseClusterName(tt.cluster); err != nil || n != tt.name {
				t.Errorf("ParseClusterName(%q) = %+v, %v; want %+v", tt.cluster, n, err, tt.name)
			}
			if n, f, err := ParseAny(tt.sni); err != nil || n != tt.name || f != FormSNI {
				t.Errorf("ParseAny(%q) = %+v, %v, %v", tt.sni, n, f, err)
			}
			if n, f, err := ParseAny(tt.cluster); err != nil || n != tt.name || f != FormCluster {
				t.Errorf("ParseAny(%q) = %+v, %v, %v", tt.cluster, n, f, err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	label64 := strings.Repeat("a", 64)
	// 4 labels of 63 + 3 dots = 255 > 253.
	host255 := strings.Join([]string{label63, label63, label63, label63}, ".")
	// A 253-byte host that is valid on its own but makes the SNI too long.
	host253 := strings.Join([]string{label63, label63, label63, strings.Repeat("b", 61)}, ".")
	tests := []struct {
		in    string
		field string // FieldError.Field expected
		want  string // substring of the message
	}{
		{"", "format", `must start with "outbound_."`},
		{"outbound", "format", "must start with"},
		{"inbound_.8080_._.echo.ns1.svc.cluster.local", "direction", "only outbound"},
		{"outbound|8080||echo.ns1", "", ""}, // cluster form given to Parse: rejected below by prefix
		{"Outbound_.8080_._.echo", "format", "must start with"},
		{"outbound_.8080", "format", `missing "_." after the port`},
		{"outbound_.8080_.v1", "format", `missing "_." after the subset`},
		{"outbound_._._.echo", "port", "must not be empty"},
		{"outbound_.0_._.echo", "port", "must be 1-65535"},
		{"outbound_.080_._.echo", "port", "without leading zeros"},
		{"outbound_.65536_._.echo", "port", "1-65535"},
		{"outbound_.999999_._.echo", "port", "1-65535"},
		{"outbound_.+80_._.echo", "port", "decimal"},
		{"outbound_.8a_._.echo", "port", "decimal"},
		{"outbound_.-1_._.echo", "port", "decimal"},
		{"outbound_.80_._.", "host", "must not be empty"},
		{"outbound_.80_.v1_.", "host", "must not be empty"},
		{"outbound_.80_._.echo..local", "host", "empty label"},
		{"outbound_.80_._.echo.local.", "host", "empty label"},
		{"outbound_.80_._..echo", "host", "empty label"},
		{"outbound_.80_._.ec_ho.local", "host", "invalid character"},
		{"outbound_.80_._.echo_.local", "host", "start and end"},
		{"outbound_.80_._.-echo.local", "host", "start and end"},
		{"outbound_.80_._.echo-.local", "host", "start and end"},
		{"outbound_.80_._.ech o.local", "host", "invalid character"},
		{"outbound_.80_._.échо.local", "host", "start and end"},
		{"outbound_.80_._.*.example.com", "host", "wildcard hosts are not valid in an SNI"},
		{"outbound_.80_._.*", "host", "start and end"},
		{"outbound_.80_._.foo.*.com", "host", "start and end"},
		{"outbound_.80_._." + label64 + ".local", "host", "longer than 63"},
		{"outbound_.80_._." + host255, "name", "longer than 255"},
		{"outbound_.80_._." + host253, "name", "longer than 255"},
		{"outbound_.80_.-v1_.echo", "subset", "start and end"},
		{"outbound_.80_.v.1_.echo", "subset", "invalid character"},
		{"outbound_.80_.v1_x_.echo", "subset", "invalid character"},
		{"outbound_.80_.v1|_.echo", "subset", "start and end"},
		{"outbound_.80_." + label64 + "_.echo", "subset", "longer than 63"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want error", tt.in, n)
			}
			if n != (Name{}) {
				t.Errorf("Parse(%q) returned %+v with the error, want zero Name", tt.in, n)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Form != FormSNI {
				t.Fatalf("error %v is not a *ParseError for the SNI form", err)
			}
			if tt.field == "" {
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v does not wrap a *FieldError", err)
			}
			if fe.Field != tt.field {
				t.Errorf("field = %q, want %q (error: %v)", fe.Field, tt.field, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestParseClusterNameErrors(t *testing.T) {
	tests := []struct {
		in, field, want string
	}{
		{"", "format", `must start with "outbound|"`},
		{"inbound|8080||echo.ns1.svc.cluster.local", "direction", "only outbound"},
		{"inbound|8080||", "direction", "only outbound"},
		{"outbound_.8080_._.echo", "format", "must start with"},
		{"outbound|8080", "format", `want 4 "|"-separated parts`},
		{"outbound|8080|echo", "format", `want 4 "|"-separated parts`},
		{"outbound|8080||echo|x", "format", `want 4 "|"-separated parts`},
		{"outbound|0||echo", "port", "1-65535"},
		{"outbound|70000||echo", "port", "1-65535"},
		{"outbound|||echo", "port", "must not be empty"},
		{"outbound|80||", "host", "must not be empty"},
		{"outbound|80||*", "host", "start and end"},
		{"outbound|80||*.*.example.com", "host", "start and end"},
		{"outbound|80||*foo.example.com", "host", "start and end"},
		{"outbound|80||foo.*", "host", "start and end"},
		{"outbound|80|v_1|echo", "subset", "invalid character"},
		{"outbound|80||" + strings.Repeat("a.", 130) + "a", "name", "longer than 255"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n, err := ParseClusterName(tt.in)
			if err == nil {
				t.Fatalf("ParseClusterName(%q) = %+v, want error", tt.in, n)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("error %v: want FieldError on %q", err, tt.field)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// TestWildcardClusterName pins the wildcard decision: "*." is accepted in
// cluster names (Istio's wildcard ServiceEntry clusters) and nowhere else.
func TestWildcardClusterName(t *testing.T) {
	const cluster = "outbound|443||*.example.com"
	n, err := ParseClusterName(cluster)
	if err != nil {
		t.Fatalf("ParseClusterName(%q): %v", cluster, err)
	}
	want := Name{Port: 443, Host: "*.example.com"}
	if n != want {
		t.Fatalf("got %+v, want %+v", n, want)
	}
	if got := n.ClusterName(); got != cluster {
		t.Errorf("ClusterName() = %q, want %q", got, cluster)
	}
	if err := n.ValidateCluster(); err != nil {
		t.Errorf("ValidateCluster: %v", err)
	}
	if err := n.Validate(); err == nil {
		t.Errorf("Validate accepted wildcard host %q for an SNI", n.Host)
	}
	if _, err := Parse(n.SNI()); err == nil {
		t.Errorf("Parse accepted wildcard SNI %q", n.SNI())
	}
}

func TestLimits(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	// Longest valid SNI: exactly 255 bytes.
	prefix := "outbound_.65535_._."
	host := label63 + "." + label63 + "." + label63 + "." + strings.Repeat("c", MaxNameLength-len(prefix)-3*64)
	s := prefix + host
	if len(s) != MaxNameLength {
		t.Fatalf("test setup: len = %d", len(s))
	}
	n, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse of a 255-byte SNI: %v", err)
	}
	if n.SNI() != s {
		t.Errorf("round trip changed %q", s)
	}
	if _, err := Parse(s + "c"); err == nil {
		t.Errorf("Parse accepted a 256-byte SNI")
	}
	// The cluster name of the same Name is 3 bytes shorter, so it has room for more.
	c := n.ClusterName()
	if len(c) != MaxNameLength-3 {
		t.Fatalf("cluster name length %d", len(c))
	}
	if _, err := ParseClusterName(c + "ccc"); err != nil {
		t.Errorf("ParseClusterName of a 255-byte name: %v", err)
	}
	if _, err := ParseClusterName(c + "cccc"); err == nil {
		t.Errorf("ParseClusterName accepted a 256-byte name")
	}
	// Subset of exactly 63 bytes is fine.
	if _, err := Parse("outbound_.80_." + label63 + "_.echo"); err != nil {
		t.Errorf("63-byte subset: %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		n     Name
		field string
	}{
		{Name{Port: 80, Host: "echo"}, ""},
		{Name{Port: 0, Host: "echo"}, "port"},
		{Name{Port: 65536, Host: "echo"}, "port"},
		{Name{Port: 1 << 31, Host: "echo"}, "port"},
		{Name{Port: 80}, "host"},
		{Name{Port: 80, Host: "echo", Subset: "v1.2"}, "subset"},
		{Name{Port: 80, Host: strings.Repeat("a.", 127)}, "host"},       // 254 bytes
		{Name{Port: 80, Host: strings.Repeat("a.", 126) + "a"}, "name"}, // 253-byte host, SNI too long
	}
	for _, tt := range tests {
		err := tt.n.Validate()
		var fe *FieldError
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("Validate(%+v) = %v", tt.n, err)
		case tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field):
			t.Errorf("Validate(%+v) = %v, want error on %s", tt.n, err, tt.field)
		}
	}
}

func TestALPN(t *testing.T) {
	ew := EastWestALPN()
	want := []string{"istio", "istio-peer-exchange", "istio-http/1.0", "istio-http/1.1", "istio-h2"}
	if !slices.Equal(ew, want) {
		t.Errorf("EastWestALPN() = %q, want %q", ew, want)
	}
	ew[0] = "changed"
	if EastWestALPN()[0] != "istio" {
		t.Errorf("EastWestALPN shares its slice between calls")
	}
	if got, want := MeshMTLSUpstreamALPN(), []string{"istio-peer-exchange", "istio"}; !slices.Equal(got, want) {
		t.Errorf("MeshMTLSUpstreamALPN() = %q, want %q", got, want)
	}
	for _, p := range want {
		if !IsMeshALPN(p) {
			t.Errorf("IsMeshALPN(%q) = false", p)
		}
	}
	for _, p := range []string{"h2", "http/1.1", "", "istio-h3"} {
		if IsMeshALPN(p) {
			t.Errorf("IsMeshALPN(%q) = true", p)
		}
	}
}

func TestValidateLabelAndHost(t *testing.T) {
	for _, s := range []string{"a", "istio-system", "A1", "x-y-z"} {
		if err := ValidateLabel(s); err != nil {
			t.Errorf("ValidateLabel(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", "-a", "a-", "a.b", "a_b", strings.Repeat("a", 64)} {
		var fe *FieldError
		if err := ValidateLabel(s); !errors.As(err, &fe) || fe.Field != "label" {
			t.Errorf("ValidateLabel(%q) = %v, want a label FieldError", s, err)
		}
	}
	for _, s := range []string{"cluster.local", "Corp.Example", "x"} {
		if err := ValidateHost(s); err != nil {
			t.Errorf("ValidateHost(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", "cluster.local.", "a..b", "*.example.com", strings.Repeat("a.", 127) + "a"} {
		var fe *FieldError
		if err := ValidateHost(s); !errors.As(err, &fe) || fe.Field != "host" {
			t.Errorf("ValidateHost(%q) = %v, want a host FieldError", s, err)
		}
	}
}
