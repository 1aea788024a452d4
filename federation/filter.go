package federation

import (
	"fmt"

	"github.com/hashicorp/memberlist"

	"github.com/meshgate/meshgate/federation/wire"
)

// filter refuses members of another mesh: as the AliveDelegate it drops their
// alive messages (so they never become members, whoever gossips them), as the
// MergeDelegate it cancels a join or push/pull merge with a node that knows
// one. It runs with memberlist's member lock held and only logs and counts.
type filter struct{ n *Node }

var (
	_ memberlist.AliveDelegate = (*filter)(nil)
	_ memberlist.MergeDelegate = (*filter)(nil)
)

func (f *filter) check(node *memberlist.Node) error {
	meta, err := wire.DecodeMeta(node.Meta)
	if err != nil {
		f.n.reject(reasonOf(err), wire.TypeMeta, err, "member", node.Name)
		return fmt.Errorf("member %s: node meta: %w", node.Name, err)
	}
	if meta.Mesh != f.n.cfg.MeshID {
		err := errForeignMesh(meta.Mesh, f.n.cfg.MeshID)
		f.n.reject(ReasonForeignMesh, wire.TypeMeta, err, "member", node.Name)
		return fmt.Errorf("member %s: %w", node.Name, err)
	}
	return nil
}

func (f *filter) NotifyAlive(node *memberlist.Node) error { return f.check(node) }

func (f *filter) NotifyMerge(nodes []*memberlist.Node) error {
	for _, node := range nodes {
		if err := f.check(node); err != nil {
			return err
		}
	}
	return nil
}
