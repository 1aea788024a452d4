package authn

import "github.com/meshgate/meshgate/test/logtest"

// SyncBuffer is the log sink of the package's tests, for the kube tests
// (package authn_test) too.
type SyncBuffer = logtest.Buffer
