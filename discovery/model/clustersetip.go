package model

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"math/big"
	"net/netip"
	"slices"
	"strconv"
)

// ClusterSetIP allocation. The MCS API gives a ClusterSetIP ServiceImport a
// VIP (spec.ips). meshgate derives it from the clusterset alone, so that
// every cluster's daemon computes the same address for the same service
// without talking to the others: a hash of "<namespace>/<name>" picks a
// home address in the configured prefix; a service whose home is taken
// probes the next hash ("<namespace>/<name>#1", #2, ...). Services are
// placed oldest export first (then by hostname), so a new export never
// moves an older service off its address; only removing a service (or
// re-creating an older export) can move a younger one that had collided
// with it. The prefix's first address (and for IPv4 its last) is never
// given out.

// MaxClusterSetIPProbes bounds the probes of one service; a service that
// finds no free address in that many is left without one.
const MaxClusterSetIPProbes = 64

// AllocateClusterSetIPs assigns the ClusterSetIP services of set an address
// in prefix, keyed by "<namespace>/<name>". Headless services get none;
// services for which no free address was found (the prefix is full, or
// unlucky probes) are missing from the map. Pure and deterministic: the
// result depends only on set's names, types and Created, not on its order.
func AllocateClusterSetIPs(set []ClusterSetService, prefix netip.Prefix) map[string]netip.Addr {
	out := map[string]netip.Addr{}
	if !prefix.IsValid() {
		return out
	}
	prefix = prefix.Masked()
	order := make([]*ClusterSetService, 0, len(set))
	for i := range set {
		if set[i].Type == ImportClusterSetIP {
			order = append(order, &set[i])
		}
	}
	slices.SortFunc(order, func(a, b *ClusterSetService) int {
		return cmp.Or(cmp.Compare(a.Created, b.Created), cmp.Compare(a.Hostname, b.Hostname))
	})
	bits := prefix.Addr().BitLen() - prefix.Bits()
	size := new(big.Int).Lsh(big.NewInt(1), uint(bits))
	usable := new(big.Int).Sub(size, big.NewInt(1)) // not the first address
	if prefix.Addr().Is4() && bits > 1 {
		usable.Sub(usable, big.NewInt(1)) // nor IPv4's broadcast address
	}
	if usable.Sign() <= 0 {
		return out
	}
	taken := map[netip.Addr]bool{}
	base := new(big.Int).SetBytes(prefix.Addr().AsSlice())
	for _, cs := range order {
		key := cs.Namespace + "/" + cs.Name
		for probe := range MaxClusterSetIPProbes {
			h := key
			if probe > 0 {
				h += "#" + strconv.Itoa(probe)
			}
			sum := sha256.Sum256([]byte(h))
			off := new(big.Int).SetUint64(binary.BigEndian.Uint64(sum[:8]))
			if bits > 64 {
				off.SetBytes(sum[:])
			}
			off.Mod(off, usable)
			off.Add(off, big.NewInt(1))
			a := addrFrom(new(big.Int).Add(base, off), prefix.Addr().Is4())
			if !taken[a] {
				taken[a] = true
				out[key] = a
				break
			}
		}
	}
	return out
}

func addrFrom(n *big.Int, v4 bool) netip.Addr {
	if v4 {
		var b [4]byte
		n.FillBytes(b[:])
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	n.FillBytes(b[:])
	return netip.AddrFrom16(b)
}
