package dataplane

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// checkFields returns an error naming every populated field of m that is not
// in allowed. Fields in allowed may still be checked further by the caller.
func checkFields(m proto.Message, allowed ...string) error {
	if m == nil {
		return nil
	}
	var bad []string
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if !slices.Contains(allowed, string(fd.Name())) {
			bad = append(bad, string(fd.Name()))
		}
		return true
	})
	if len(bad) == 0 {
		return nil
	}
	slices.Sort(bad)
	return fmt.Errorf("unsupported field %s (the built-in gateway does not implement it)", strings.Join(bad, ", "))
}

// at prefixes err with a field path; nil stays nil.
func at(path string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", path, err)
}

// unpack decodes a typed_config into want, checking its type.
func unpack(a *anypb.Any, want proto.Message) error {
	if a == nil {
		return fmt.Errorf("typed_config is missing")
	}
	if a.MessageName() != want.ProtoReflect().Descriptor().FullName() {
		return fmt.Errorf("typed_config is %s, want %s", a.MessageName(), want.ProtoReflect().Descriptor().FullName())
	}
	if err := a.UnmarshalTo(want); err != nil {
		return fmt.Errorf("typed_config: %v", err)
	}
	return nil
}

// validatable is implemented by every generated Envoy message (protoc-gen-validate).
type validatable interface{ ValidateAll() error }

// pgv runs the protoc-gen-validate rules of m, which Envoy also enforces.
func pgv(m proto.Message) error {
	if v, ok := m.(validatable); ok {
		return v.ValidateAll()
	}
	return nil
}

// duration converts an optional Duration, returning def when it is unset.
func duration(d *durationpb.Duration, def time.Duration) (time.Duration, error) {
	if d == nil {
		return def, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, err
	}
	if d.AsDuration() < 0 {
		return 0, fmt.Errorf("negative duration %v", d.AsDuration())
	}
	return d.AsDuration(), nil
}

// dataSource returns the bytes of a DataSource: inline, a file or an
// environment variable. Files are read once, when the resource is accepted.
func dataSource(ds *corev3.DataSource) ([]byte, error) {
	switch s := ds.GetSpecifier().(type) {
	case *corev3.DataSource_InlineBytes:
		return s.InlineBytes, nil
	case *corev3.DataSource_InlineString:
		return []byte(s.InlineString), nil
	case *corev3.DataSource_Filename:
		b, err := os.ReadFile(s.Filename)
		if err != nil {
			return nil, fmt.Errorf("filename: %v", err)
		}
		return b, nil
	case *corev3.DataSource_EnvironmentVariable:
		v, ok := os.LookupEnv(s.EnvironmentVariable)
		if !ok {
			return nil, fmt.Errorf("environment_variable %q is not set", s.EnvironmentVariable)
		}
		return []byte(v), nil
	default:
		return nil, fmt.Errorf("data source is empty")
	}
}

// socketAddress validates a TCP socket address. With needIP the address must
// be an IP literal (listeners, STATIC and EDS endpoints); otherwise a host
// name is allowed too (DNS clusters). It returns host:port.
func socketAddress(a *corev3.Address, needIP bool) (string, error) {
	sa := a.GetSocketAddress()
	if sa == nil {
		return "", fmt.Errorf("address: only socket_address is supported (pipe and internal addresses are not)")
	}
	if err := checkFields(sa, "address", "port_value", "protocol", "ipv4_compat"); err != nil {
		return "", at("address.socket_address", err)
	}
	if sa.GetProtocol() != corev3.SocketAddress_TCP {
		return "", fmt.Errorf("address.socket_address.protocol: %s is not supported, only TCP", sa.GetProtocol())
	}
	host := sa.GetAddress()
	if needIP {
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return "", fmt.Errorf("address.socket_address.address: %q is not an IP address", host)
		}
		host = ip.String()
	} else if host == "" {
		return "", fmt.Errorf("address.socket_address.address is empty")
	}
	return net.JoinHostPort(host, strconv.FormatUint(uint64(sa.GetPortValue()), 10)), nil
}

// contentKey is a stable digest of a message, used to tell whether a
// listener or filter chain changed.
func contentKey(m proto.Message) string {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return "unmarshalable:" + err.Error()
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// cidrs converts CidrRanges to prefixes.
func cidrs(rs []*corev3.CidrRange) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, r := range rs {
		ip, err := netip.ParseAddr(r.GetAddressPrefix())
		if err != nil {
			return nil, fmt.Errorf("[%d].address_prefix: %q is not an IP address", i, r.GetAddressPrefix())
		}
		bits := ip.BitLen()
		if r.GetPrefixLen() != nil {
			bits = int(r.GetPrefixLen().GetValue())
		}
		p, err := ip.Prefix(bits)
		if err != nil {
			return nil, fmt.Errorf("[%d].prefix_len: %v", i, err)
		}
		out = append(out, p)
	}
	return out, nil
}
