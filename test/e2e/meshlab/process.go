package meshlab

import "github.com/meshgate/meshgate/test/proc"

// Proc is a meshgate process (daemon or gateway) that can be killed and
// started again with the same command line.
type Proc = proc.Proc
