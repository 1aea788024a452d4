package file

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/meshgate/meshgate/discovery/model"
)

// seedWant is what one extracted seed example must load into.
type seedWant struct {
	counts  string   // objects in the model, "svc gw vs dr se"
	errs    []string // "Kind ns/name field" of every object error
	ignored []string // "Kind name" of every ignored document
}

// seedWants covers every file of testdata/seeds (TestSeedsCovered checks).
var seedWants = map[string]seedWant{
	"000-http-multi-host-one-server.yaml":  {counts: "0 1 2 0 0"},
	"000-http-multi-host-two-servers.yaml": {counts: "0 1 2 0 0"},
	"000-http-single-host.yaml":            {counts: "0 1 1 0 0"},
	"000-mtls-single-host.yaml":            {counts: "0 1 1 0 0"},
	"000-tls-multi-host.yaml":              {counts: "0 1 2 0 0"},
	"000-tls-single-host.yaml":             {counts: "0 1 1 0 0"},
	"001-egress-http-gateway.yaml":         {counts: "0 1 1 1 1"},
	"001-egress-tls-origination.yaml":      {counts: "0 1 1 2 1"},
	"001-gateway-multi-port.yaml":          {counts: "0 1 0 0 0"},
	"001-gateway-namespace-hosts.yaml":     {counts: "0 1 0 0 0"},
	"001-https-mutual-file-certs.yaml":     {counts: "0 1 0 0 0"},
	"001-https-passthrough.yaml":           {counts: "0 1 0 0 0"},
	"001-https-simple-file-certs.yaml":     {counts: "0 1 0 0 0"},
	"001-istiooperator-egress.yaml":        {counts: "0 0 0 0 0", ignored: []string{"IstioOperator mesh-default-2"}},
	"001-mesh-gateway-fault-delay.yaml":    {counts: "0 1 1 1 0"},
	"001-mutual-tls-credential.yaml":       {counts: "0 1 0 0 0"},
	"001-simple-tls-credential.yaml":       {counts: "0 1 0 0 0"},
	"001-vs-gateway-and-mesh.yaml":         {counts: "0 1 1 0 0"},
	"001-vs-tcp-gateway-only.yaml":         {counts: "0 1 1 0 0"},
	"002-ingress-grpc-dummy-service.yaml": {counts: "1 0 0 0 0",
		ignored: []string{"Ingress all-istio-ingress", "RouteRule foo-service-route", "RouteRule bar-service-route"}},
	"002-ingress-http.yaml": {counts: "0 0 0 0 0",
		ignored: []string{"Ingress simple-ingress", "RouteRule deny-route", "RouteRule status-route"}},
	"002-ingress-https.yaml":   {counts: "0 0 0 0 0", ignored: []string{"Ingress secure-ingress"}},
	"003-grpc-web-deploy.yaml": {counts: "2 0 0 0 0", ignored: []string{"Deployment web-grpc", "Deployment web-grpc-client"}},
	"003-grpc-web.yaml":        {counts: "0 0 2 0 0", errs: []string{"Gateway default/bookinfo-gateway spec.servers[0].port.targetPort"}},
	"003-hosts-exact-vs-invalid-host.yaml": {counts: "0 1 0 0 0",
		errs: []string{"VirtualService default/bookinfo spec.hosts[0]"}},
	"003-hosts-exact-vs-other-host.yaml":                   {counts: "0 1 1 0 0"},
	"003-hosts-exact-vs-same-host.yaml":                    {counts: "0 1 1 0 0"},
	"003-hosts-exact-vs-star.yaml":                         {counts: "0 1 1 0 0"},
	"003-hosts-exact-vs-wildcard-host.yaml":                {counts: "0 1 1 0 0"},
	"003-hosts-mix-vs-wildcard.yaml":                       {counts: "0 1 1 0 0"},
	"003-hosts-mix.yaml":                                   {counts: "0 1 1 0 0"},
	"003-hosts-multi.yaml":                                 {counts: "0 1 1 0 0"},
	"003-hosts-star-vs-other-namespace.yaml":               {counts: "0 1 1 0 0"},
	"003-hosts-star-vs-short-destination.yaml":             {counts: "0 1 1 0 0"},
	"003-http.yaml":                                        {counts: "0 1 1 0 0"},
	"003-http2-target-port.yaml":                           {counts: "0 0 1 0 0", errs: []string{"Gateway default/bookinfo-gateway spec.servers[0].port.targetPort"}},
	"003-http3-gateway.yaml":                               {counts: "0 1 1 0 0"},
	"003-https-redirect.yaml":                              {counts: "0 1 0 0 0"},
	"003-https-simple-file-certs.yaml":                     {counts: "0 1 1 0 0"},
	"003-mongo-bookinfo-db.yaml":                           {counts: "1 0 0 0 0", ignored: []string{"Deployment mongodb-v1"}},
	"003-mongo-envoyfilter-statsd.yaml":                    {counts: "0 0 0 0 0", ignored: []string{"EnvoyFilter statictis"}},
	"003-mongo-statsd-deploy.yaml":                         {counts: "1 0 0 0 0", ignored: []string{"Deployment statsd-influxdb-grafana"}},
	"003-mongo-statsd-gateway.yaml":                        {counts: "0 1 2 0 0"},
	"003-mongo.yaml":                                       {counts: "0 1 1 0 0"},
	"003-mysql-deploy.yaml":                                {counts: "1 0 0 0 0", ignored: []string{"Deployment mysqldb-v1"}},
	"003-mysql.yaml":                                       {counts: "0 1 1 0 0"},
	"003-redis-deploy.yaml":                                {counts: "1 0 0 0 0", ignored: []string{"Deployment bcia-redis"}},
	"003-redis.yaml":                                       {counts: "0 1 1 0 0"},
	"003-server-name.yaml":                                 {counts: "0 1 0 0 0"},
	"003-tcp-subset-v1.yaml":                               {counts: "0 1 1 1 0"},
	"003-tcp-subset-v2.yaml":                               {counts: "0 1 1 1 0"},
	"003-tls-auto-passthrough-cross-network-gateway.yaml":  {counts: "0 1 0 0 0"},
	"003-tls-auto-passthrough-istiooperator-cluster1.yaml": {counts: "0 0 0 0 0", ignored: []string{"IstioOperator "}},
	"003-tls-auto-passthrough-istiooperator-cluster2.yaml": {counts: "0 0 0 0 0", ignored: []string{"IstioOperator "}},
	"003-tls-auto-passthrough.yaml":                        {counts: "0 1 0 0 0"},
	"003-tls-ca-certificates.yaml":                         {counts: "0 1 1 0 0"},
	"003-tls-cipher-suites.yaml":                           {counts: "0 1 0 0 0"},
	"003-tls-credential-name.yaml":                         {counts: "0 1 1 0 0"},
	"003-tls-istio-mutual-credential.yaml": {counts: "0 0 1 0 0",
		errs: []string{"Gateway default/bookinfo-gateway spec.servers[0].tls.credentialName"}},
	"003-tls-mutual-credential.yaml":        {counts: "0 1 1 0 0"},
	"003-tls-mutual-file-certs.yaml":        {counts: "0 1 1 0 0"},
	"003-tls-passthrough-nginx-deploy.yaml": {counts: "1 0 0 0 0", ignored: []string{"Deployment my-nginx"}},
	"003-tls-passthrough-tcp-route.yaml":    {counts: "0 1 1 0 0"},
	"003-tls-passthrough.yaml":              {counts: "0 1 1 0 0"},
	"003-tls-simple-tcp-route.yaml":         {counts: "0 1 1 0 0"},
	"003-tls-simple.yaml":                   {counts: "0 1 1 0 0"},
	"003-tls-subject-alt-names.yaml":        {counts: "0 1 0 0 0"},
	"003-tls-version-1-0-to-1-3.yaml":       {counts: "0 1 0 0 0"},
	"003-tls-version-1-0.yaml":              {counts: "0 1 0 0 0"},
	"003-tls-version-auto.yaml":             {counts: "0 1 0 0 0"},
}

func TestSeedsCovered(t *testing.T) {
	files, err := filepath.Glob("testdata/seeds/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no seed files: %v", err)
	}
	for _, f := range files {
		if _, ok := seedWants[filepath.Base(f)]; !ok {
			t.Errorf("%s has no expectation in seedWants", f)
		}
	}
	if len(files) != len(seedWants) {
		t.Errorf("%d seed files, %d expectations", len(files), len(seedWants))
	}
}

func TestSeeds(t *testing.T) {
	for name, want := range seedWants {
		t.Run(name, func(t *testing.T) {
			res, err := Load(Config{Paths: []string{filepath.Join("testdata/seeds", name)}})
			if err != nil {
				t.Fatal(err)
			}
			c := res.Mesh.Local()
			got := fmt.Sprintf("%d %d %d %d %d", len(c.Services), len(c.Gateways), len(c.VirtualServices), len(c.DestinationRules), len(c.ServiceEntries))
			if got != want.counts {
				t.Errorf("svc gw vs dr se = %s, want %s", got, want.counts)
			}
			var errs []string
			for _, e := range res.ObjErrs {
				var fe *model.FieldError
				var oe *ObjectError
				if !errors.As(e, &fe) || !errors.As(e, &oe) || oe.File == "" || oe.Document == 0 {
					t.Errorf("error is not a located FieldError: %v", e)
					continue
				}
				errs = append(errs, fe.Object.String()+" "+fe.Field)
			}
			if !slices.Equal(errs, want.errs) {
				t.Errorf("errors = %q, want %q (%v)", errs, want.errs, res.ObjErrs)
			}
			var ignored []string
			for _, ig := range res.Ignored {
				ignored = append(ignored, ig.Kind+" "+ig.Name)
			}
			if !slices.Equal(ignored, want.ignored) {
				t.Errorf("ignored = %q, want %q", ignored, want.ignored)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("state invalid: %v", err)
			}
			for _, g := range c.Gateways {
				if g.Source != name {
					t.Errorf("gateway %s source = %q, want %q", g.Name, g.Source, name)
				}
			}
		})
	}
}

// TestSeedDetails checks the converted values of a few seed examples field
// by field.
func TestSeedDetails(t *testing.T) {
	load := func(name string) *model.ClusterState {
		t.Helper()
		res, err := Load(Config{Paths: []string{filepath.Join("testdata/seeds", name)}})
		if err != nil || len(res.ObjErrs) > 0 {
			t.Fatalf("%s: %v %v", name, err, res.ObjErrs)
		}
		return res.Mesh.Local()
	}
	t.Run("grpc-web cors maxAge 1m (Go duration syntax)", func(t *testing.T) {
		res, err := Load(Config{Paths: []string{"testdata/seeds/003-grpc-web.yaml"}})
		if err != nil {
			t.Fatal(err)
		}
		var cors *model.CorsPolicy
		for _, v := range res.Mesh.Local().VirtualServices {
			if v.Name == "web-grpc" {
				cors = v.HTTP[0].CorsPolicy
			}
		}
		if cors == nil || cors.MaxAge == nil || cors.MaxAge.Minutes() != 1 || cors.AllowOrigins[0].Kind != "regex" || len(cors.AllowHeaders) != 11 {
			t.Errorf("cors = %+v", cors)
		}
	})
	t.Run("fault delay percentage and fixedDelay", func(t *testing.T) {
		c := load("001-mesh-gateway-fault-delay.yaml")
		f := c.VirtualServices[0].HTTP[0].Fault
		if f == nil || f.Delay.FixedDelay.Seconds() != 5 || *f.Delay.Percentage != 10 {
			t.Errorf("fault = %+v", f)
		}
		if g := c.VirtualServices[0].Gateways; !slices.Equal(g, []string{"my-service-gw", "mesh"}) {
			t.Errorf("gateways = %v", g)
		}
	})
	t.Run("cross-network gateway from kubectl output", func(t *testing.T) {
		c := load("003-tls-auto-passthrough-cross-network-gateway.yaml")
		g := c.Gateways[0]
		if g.Namespace != "istio-system" || g.Servers[0].TLS.Mode != model.TLSAutoPassthrough || g.Annotations != nil {
			t.Errorf("gateway = %+v (the last-applied annotation must be dropped)", g)
		}
	})
	t.Run("egress TLS origination port-level settings", func(t *testing.T) {
		c := load("001-egress-tls-origination.yaml")
		var found bool
		for _, d := range c.DestinationRules {
			if d.Name == "egressgateway-for-cnn" {
				p := d.Subsets[0].TrafficPolicy.PortLevelSettings[0]
				found = p.Port == 80 && p.TLS.Mode == model.ClientTLSIstioMutual && p.TLS.SNI == "edition.cnn.com"
			}
		}
		if !found {
			t.Errorf("destination rules = %+v", c.DestinationRules)
		}
	})
}
