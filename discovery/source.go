package discovery

import (
	"context"

	"github.com/meshgate/meshgate/discovery/model"
)

// Publish receives a source's complete states: mesh with objErrs (the
// objects that were skipped, each naming object and field), or err when
// nothing could be loaded (the consumer keeps its last good state). A
// source calls it from its Run goroutines, never concurrently with itself,
// never after Run returns; it must not block for long.
type Publish func(mesh *model.MeshState, objErrs []error, err error)

// Source delivers complete mesh states. Run blocks until ctx is done (then
// it returns nil) or the source fails (the error). Run may be called once.
type Source interface {
	Run(ctx context.Context, publish Publish) error
}
