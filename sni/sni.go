package sni

import (
	"strconv"
	"strings"
)

// Istio's name prefixes and separators.
const (
	// sniPrefix starts every outbound SNI (Istio's trafficDirectionOutboundSrvPrefix + ".").
	sniPrefix = "outbound_."
	// sniSep ends the port and the subset parts of an SNI.
	sniSep = "_."
	// clusterPrefix starts every outbound cluster name.
	clusterPrefix = "outbound|"
	// clusterSep separates the parts of a cluster name.
	clusterSep = '|'
)

// Limits of the DNS text form (RFC 1035 §2.3.4), applied to hosts and names.
const (
	// MaxNameLength is the longest accepted encoded SNI or cluster name.
	MaxNameLength = 255
	// MaxHostLength is the longest accepted host (a DNS name in text form).
	MaxHostLength = 253
	// MaxLabelLength is the longest accepted DNS label (host label or subset).
	MaxLabelLength = 63
	// MaxPort is the largest port number.
	MaxPort = 65535
)

// Name identifies an outbound service port, optionally narrowed to a
// DestinationRule subset. It is a plain comparable value.
type Name struct {
	// Port is the service port (1–65535).
	Port uint32
	// Subset is the DestinationRule subset name, empty for the whole service.
	Subset string
	// Host is the fully qualified service host, e.g. reviews.default.svc.cluster.local.
	Host string
}

// String returns the SNI form of n; it is the same as SNI.
func (n Name) String() string { return n.SNI() }

// SNI returns outbound_.<port>_.<subset>_.<host>, Istio's BuildDNSSrvSubsetKey
// for the outbound direction. It does not validate n: call Validate first when
// n comes from untrusted input. It allocates once (the result).
func (n Name) SNI() string {
	var port [10]byte
	var b strings.Builder
	b.Grow(n.sniLen())
	b.WriteString(sniPrefix)
	b.Write(strconv.AppendUint(port[:0], uint64(n.Port), 10))
	b.WriteString(sniSep)
	b.WriteString(n.Subset)
	b.WriteString(sniSep)
	b.WriteString(n.Host)
	return b.String()
}

// ClusterName returns outbound|<port>|<subset>|<host>, Istio's BuildSubsetKey
// for the outbound direction. It does not validate n. It allocates once.
func (n Name) ClusterName() string {
	var port [10]byte
	var b strings.Builder
	b.Grow(n.clusterLen())
	b.WriteString(clusterPrefix)
	b.Write(strconv.AppendUint(port[:0], uint64(n.Port), 10))
	b.WriteByte(clusterSep)
	b.WriteString(n.Subset)
	b.WriteByte(clusterSep)
	b.WriteString(n.Host)
	return b.String()
}

// AppendSNI appends the SNI form of n to dst and returns the extended slice.
// It does not allocate when dst has room.
func (n Name) AppendSNI(dst []byte) []byte {
	dst = append(dst, sniPrefix...)
	dst = strconv.AppendUint(dst, uint64(n.Port), 10)
	dst = append(dst, sniSep...)
	dst = append(dst, n.Subset...)
	dst = append(dst, sniSep...)
	return append(dst, n.Host...)
}

// AppendClusterName appends the cluster-name form of n to dst and returns the
// extended slice. It does not allocate when dst has room.
func (n Name) AppendClusterName(dst []byte) []byte {
	dst = append(dst, clusterPrefix...)
	dst = strconv.AppendUint(dst, uint64(n.Port), 10)
	dst = append(dst, clusterSep)
	dst = append(dst, n.Subset...)
	dst = append(dst, clusterSep)
	return append(dst, n.Host...)
}

// sniLen and clusterLen are the encoded lengths, computed without encoding.
func (n Name) sniLen() int {
	return len(sniPrefix) + portLen(n.Port) + 2*len(sniSep) + len(n.Subset) + len(n.Host)
}

func (n Name) clusterLen() int {
	return len(clusterPrefix) + portLen(n.Port) + 2 + len(n.Subset) + len(n.Host)
}

func portLen(p uint32) int {
	l := 1
	for p >= 10 {
		p /= 10
		l++
	}
	return l
}

// Validate reports whether n can be used as an SNI: a valid port, subset and
// host (no wildcard), and an encoded SNI of at most MaxNameLength bytes. The
// error names the offending field.
func (n Name) Validate() error {
	return n.validate(false, n.sniLen())
}

// ValidateCluster reports whether n can be used as a cluster name. It differs
// from Validate in allowing a leading "*." in the host (see the package
// documentation) and in measuring the cluster-name form against MaxNameLength.
func (n Name) ValidateCluster() error {
	return n.validate(true, n.clusterLen())
}

func (n Name) validate(allowWildcard bool, encodedLen int) error {
	if n.Port == 0 || n.Port > MaxPort {
		return &FieldError{Field: "port", Value: strconv.FormatUint(uint64(n.Port), 10), Reason: "must be 1-65535"}
	}
	if n.Subset != "" {
		if reason := checkLabel(n.Subset); reason != "" {
			return &FieldError{Field: "subset", Value: n.Subset, Reason: reason}
		}
	}
	if reason := checkHost(n.Host, allowWildcard); reason != "" {
		return &FieldError{Field: "host", Value: n.Host, Reason: reason}
	}
	if encodedLen > MaxNameLength {
		return &FieldError{Field: "name", Value: "", Reason: "encoded name is " + strconv.Itoa(encodedLen) +
			" bytes, longer than " + strconv.Itoa(MaxNameLength)}
	}
	return nil
}
