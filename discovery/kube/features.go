package kube

import (
	"os"

	clientfeatures "k8s.io/client-go/features"
)

// client-go's streaming lists (feature WatchListClient, on by default
// since 1.35) back off between failed attempts with a wait that ignores the
// informer's stop channel (reflector.watchList): after an API-server outage
// an informer could take up to a minute to stop, holding back a daemon's
// shutdown, a remote cluster's removal and the replacement of watches after
// the outage (see reconnect.go). The classic list-then-watch path stops at
// once, so the sources use it. KUBE_FEATURE_WatchListClient, when set,
// still decides.
func init() {
	if _, set := os.LookupEnv("KUBE_FEATURE_" + string(clientfeatures.WatchListClient)); set {
		return
	}
	clientfeatures.ReplaceFeatureGates(withoutWatchList{clientfeatures.FeatureGates()})
}

type withoutWatchList struct{ clientfeatures.Gates }

func (g withoutWatchList) Enabled(f clientfeatures.Feature) bool {
	return f != clientfeatures.WatchListClient && g.Gates.Enabled(f)
}
