package translate

import (
	"bytes"
	"encoding/json"

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

// NewDocument encodes r; secrets are redacted.
func NewDocument(r *Result) (*Document, error) {
	d := &Document{Listeners: []json.RawMessage{}, Routes: []json.RawMessage{}, Clusters: []json.RawMessage{},
		Endpoints: []json.RawMessage{}, Secrets: []json.RawMessage{}}
	add := func(dst *[]json.RawMessage, m proto.Message) error {
		j, err := ResourceJSON(m)
		if err != nil {
			return err
		}
		*dst = append(*dst, j)
		return nil
	}
	for _, x := range r.Listeners {
		if err := add(&d.Listeners, x); err != nil {
			return nil, err
		}
	}
	for _, x := range r.Routes {
		if err := add(&d.Routes, x); err != nil {
			return nil, err
		}
	}
	for _, x := range r.Clusters {
		if err := add(&d.Clusters, x); err != nil {
			return nil, err
		}
	}
	for _, x := range r.Endpoints {
		if err := add(&d.Endpoints, x); err != nil {
			return nil, err
		}
	}
	for _, x := range r.Secrets {
		if err := add(&d.Secrets, identity.RedactSecret(x)); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// MarshalIndent renders the document as indented JSON.
func (d *Document) MarshalIndent() ([]byte, error) {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
