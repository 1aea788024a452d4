package translate

import (
	"github.com/meshgate/meshgate/discovery/model"
)

// Translate builds the configuration of proxy from mesh. The returned error is
// a system-level failure (nothing may be published); problems with single
// objects are in Result.Errors.
func Translate(mesh *model.MeshState, proxy Proxy, opts Options) (*Result, error) {
	if opts.DomainSuffix == "" {
		opts.DomainSuffix = "cluster.local"
	}
	return &Result{}, nil
}
