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
			if err := writeItems(bw, l.items, writeChunk, false, func(js json.RawMessage) (json.RawMessage, error) { return js, nil }); err != nil {
				return err
			}
		}
		if i < len(lists)-1 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
	}
	bw.WriteString("}\n")
	return bw.Flush()
}

// WriteResult writes the document of r, byte for byte what
// NewDocument(r).WriteIndent(w) writes, without holding the encoded
// document: the resources are encoded and indented on every CPU a chunk
// at a time, and each is dropped from r once encoded (the lists keep their
// lengths, their items become nil), so a large result is freed while it is
// written. r's resources are gone afterwards. Unlike NewDocument, an
// encoding error comes after part of the document was written.
func WriteResult(w io.Writer, r *Result) error { return writeResult(w, r, writeChunk) }

// writeResult is WriteResult, chunk resources at a time.
func writeResult(w io.Writer, r *Result, chunk int) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	bw.WriteString("{\n")
	lists := []struct {
		name  string
		write func() error
	}{
		{"listeners", func() error { return writeItems(bw, r.Listeners, chunk, true, encodeFn[*listenerv3.Listener]) }},
		{"routes", func() error { return writeItems(bw, r.Routes, chunk, true, encodeFn[*routev3.RouteConfiguration]) }},
		{"clusters", func() error { return writeItems(bw, r.Clusters, chunk, true, encodeFn[*clusterv3.Cluster]) }},
		{"endpoints", func() error {
			return writeItems(bw, r.Endpoints, chunk, true, encodeFn[*endpointv3.ClusterLoadAssignment])
		}},
		{"secrets", func() error {
			return writeItems(bw, r.Secrets, chunk, true, func(m *tlsv3.Secret) (json.RawMessage, error) { return encodeFn(identity.RedactSecret(m)) })
		}},
	}
	for i, l := range lists {
		bw.WriteString(`  "` + l.name + `": `)
		if err := l.write(); err != nil {
			return err
		}
		if i < len(lists)-1 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
	}
	bw.WriteString("}\n")
	return bw.Flush()
}

// encodeFn is protojson of a resource, its whitespace left as protojson
// varies it: writeItems's json.Indent drops it (as ResourceJSON's Compact).
func encodeFn[T proto.Message](m T) (json.RawMessage, error) { return protojson.Marshal(m) }

// writeChunk is how many resources are encoded before they are written:
// enough to keep every CPU busy, few enough to hold little.
const writeChunk = 256

// writeItems writes a list of the document: items encoded by encode,
// HTML-escaped and indented as json.MarshalIndent(d, "", "  ") would
// indent them, chunk items at a time on every CPU. With drop, each item is
// zeroed once encoded (its memory may go before the list is written).
func writeItems[T any](bw *bufio.Writer, items []T, chunk int, drop bool, encode func(T) (json.RawMessage, error)) error {
	if len(items) == 0 {
		bw.WriteString("[]")
		return nil
	}
	bw.WriteString("[\n")
	n := min(len(items), chunk)
	indented, errs := make([]bytes.Buffer, n), make([]error, n) // reused by every chunk
	for start := 0; start < len(items); start += n {
		part := items[start:min(start+n, len(items))]
		parallel(len(part), func(j int) {
			js, err := encode(part[j])
			if drop {
				var zero T
				part[j] = zero
			}
			if err != nil {
				errs[j] = err
				return
			}
			indented[j].Reset()
			appendIndentHTML(&indented[j], js, "    ", "  ") // js is protojson's: valid JSON
		})
		if err := errors.Join(errs[:len(part)]...); err != nil {
			return err
		}
		for j := range part {
			bw.WriteString("    ")
			bw.Write(indented[j].Bytes())
			if start+j < len(items)-1 {
				bw.WriteByte(',')
			}
			bw.WriteByte('\n')
		}
	}
	bw.WriteString("  ]")
	return nil
}
