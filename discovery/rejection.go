package discovery

import (
	"fmt"
	"time"

	"github.com/meshgate/meshgate/discovery/model"
)

// Reasons of a Rejection (the metrics' reason label).
const (
	// ReasonSyntax: the document is not YAML, or not a Kubernetes object
	// (no kind, a plain value); which objects it held is unknown.
	ReasonSyntax = "syntax"
	// ReasonSchema: the object does not decode into its type: an unknown or
	// duplicate field, a value of the wrong type, an unserved version, no name.
	ReasonSchema = "schema"
	// ReasonInvalid: the object decodes but fails validation (a bad value).
	ReasonInvalid = "invalid"
	// ReasonUnknownKind: no such kind in that API version ("no matches for
	// kind"): a misspelled kind or group, or a kind meshgate does not know.
	ReasonUnknownKind = "unknown-kind"
	// ReasonDuplicate: a second definition of an object; the first is served.
	ReasonDuplicate = "duplicate"
)

// Rejection is input a source could not use, handed to Publish among
// objErrs. Object is the object it concerns (zero Kind: a document whose
// objects are unknown, such as YAML that does not parse). When Kept, the
// object's last good version is still served (it is stale until the input
// is fixed); otherwise the object is not served at all (it was broken from
// the start). Err names the object and field (it wraps a *model.FieldError
// when there is one).
type Rejection struct {
	Object model.Ref
	// Cluster is the id of the cluster the input belongs to.
	Cluster string
	// Origin is where the input was read: a file path as shown to the user
	// (Document its 1-based document), or "kube:<cluster>".
	Origin   string
	Document int
	Field    string
	Reason   string
	Kept     bool
	// Since is when the source first saw this object (or document)
	// rejected; it stays while the input stays broken, however the error
	// changes.
	Since time.Time
	Err   error
}

func (r *Rejection) Error() string {
	if r.Kept {
		return fmt.Sprintf("%v (serving the last good version of %s)", r.Err, r.Object)
	}
	return r.Err.Error()
}

func (r *Rejection) Unwrap() error { return r.Err }

// Key identifies what was rejected across loads: the object, or (for a
// document whose objects are unknown, or a second definition) its origin
// and document too.
func (r *Rejection) Key() string {
	k := fmt.Sprintf("%s|%s|%s/%s", r.Cluster, r.Object.Kind, r.Object.Namespace, r.Object.Name)
	if r.Object.Kind == "" || r.Reason == ReasonDuplicate {
		k += fmt.Sprintf("|%s#%d", r.Origin, r.Document)
	}
	return k
}
