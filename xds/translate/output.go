package translate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/meshgate/meshgate/identity"
)

// ResourceJSON is protojson of one resource with stable whitespace (protojson
// deliberately varies it), typed configs as Any with "@type".
func ResourceJSON(m proto.Message) (json.RawMessage, error) {
	b, err := protojson.Marshal(m)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Document is the output of `meshgate translate`: one object with a list of
// Envoy v3 resources per kind. Secrets are always redacted.
type Document struct {
	Listeners []json.RawMessage `json:"listeners"`
	Routes    []json.RawMessage `json:"routes"`
	Clusters  []json.RawMessage `json:"clusters"`
	Endpoints []json.RawMessage `json:"endpoints"`
	Secrets   []json.RawMessage `json:"secrets"`
}

// NewDocument encodes r; secrets are redacted. The resources are encoded
// on every CPU (protojson is most of the time of a large output).
func NewDocument(r *Result) (*Document, error) {
	d := &Document{}
	var errs [5]error
	d.Listeners, errs[0] = encodeAll(r.Listeners, func(m *listenerv3.Listener) proto.Message { return m })
	d.Routes, errs[1] = encodeAll(r.Routes, func(m *routev3.RouteConfiguration) proto.Message { return m })
	d.Clusters, errs[2] = encodeAll(r.Clusters, func(m *clusterv3.Cluster) proto.Message { return m })
	d.Endpoints, errs[3] = encodeAll(r.Endpoints, func(m *endpointv3.ClusterLoadAssignment) proto.Message { return m })
	d.Secrets, errs[4] = encodeAll(r.Secrets, func(m *tlsv3.Secret) proto.Message { return identity.RedactSecret(m) })
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	return d, nil
}

// encodeAll is ResourceJSON of every item (never nil: an empty list is []).
func encodeAll[T any](items []T, msg func(T) proto.Message) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, len(items))
	errs := make([]error, len(items))
	parallel(len(items), func(i int) { out[i], errs[i] = ResourceJSON(msg(items[i])) })
	return out, errors.Join(errs...)
}

// parallel calls f(0..n-1) on every CPU.
func parallel(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		}()
	}
	wg.Wait()
}

// MarshalIndent renders the document as indented JSON: the bytes
// json.MarshalIndent(d, "", "  ") gives (see WriteIndent).
func (d *Document) MarshalIndent() ([]byte, error) {
	var buf bytes.Buffer
	if err := d.WriteIndent(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteIndent writes the document as indented JSON, byte for byte what
// json.MarshalIndent(d, "", "  ") gives (HTML characters escaped as
// encoding/json does) and a newline. Each resource is indented on every
// CPU; the whole text is never held in memory at once.
func (d *Document) WriteIndent(w io.Writer) error {
	lists := []struct {
		name  string
		items []json.RawMessage
	}{{"listeners", d.Listeners}, {"routes", d.Routes}, {"clusters", d.Clusters}, {"endpoints", d.Endpoints}, {"secrets", d.Secrets}}
	bw := bufio.NewWriterSize(w, 1<<16)
	bw.WriteString("{\n")
	for i, l := range lists {
		bw.WriteString(`  "` + l.name + `": `)
		switch {
		case l.items == nil:
			bw.WriteString("null")
		case len(l.items) == 0:
			bw.WriteString("[]")
		default:
			indented := make([][]byte, len(l.items))
			errs := make([]error, len(l.items))
			parallel(len(l.items), func(j int) {
				var esc, buf bytes.Buffer
				json.HTMLEscape(&esc, l.items[j])
				errs[j] = json.Indent(&buf, esc.Bytes(), "    ", "  ")
				indented[j] = buf.Bytes()
			})
			if err := errors.Join(errs...); err != nil {
				return err
			}
			bw.WriteString("[\n")
			for j, b := range indented {
				bw.WriteString("    ")
				bw.Write(b)
				if j < len(indented)-1 {
					bw.WriteByte(',')
				}
				bw.WriteByte('\n')
			}
			bw.WriteString("  ]")
		}
		if i < len(lists)-1 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
	}
	bw.WriteString("}\n")
	return bw.Flush()
}
