package convert

import (
	"time"

	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/meshgate/meshgate/discovery/model"
)

// ServiceExport converts a Multi-Cluster Services API ServiceExport. Only
// its name and creation time matter: whether it is valid (its Service
// exists and may be exported) is decided against the whole cluster
// (model.ExportValidity), and written back as its Valid condition. Labels
// and annotations are not kept (spec.exportedLabels/Annotations are not
// used).
func ServiceExport(e *mcsv1alpha1.ServiceExport) (model.ServiceExport, []error) {
	m := meta(&e.ObjectMeta)
	m.Labels, m.Annotations = nil, nil
	out := model.ServiceExport{Meta: m}
	if !e.CreationTimestamp.IsZero() {
		out.Created = e.CreationTimestamp.UTC().Format(time.RFC3339)
	}
	return out, nil
}
