package translate

import (
	"slices"
	"strconv"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

func fieldIndex(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func sortStrings(s []string) { slices.Sort(s) }

func u32s(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

func routeName(r *routev3.RouteConfiguration) string     { return r.GetName() }
func clusterNameOf(c *clusterv3.Cluster) string          { return c.GetName() }
func claName(c *endpointv3.ClusterLoadAssignment) string { return c.GetClusterName() }
func secretName(s *tlsv3.Secret) string                  { return s.GetName() }
