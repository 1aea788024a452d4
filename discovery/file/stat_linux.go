package file

import (
	"io/fs"
	"syscall"
	"time"
)

// sysStat is what Linux adds to a file's stat: a file replaced by another
// (a rename, a ConfigMap volume's swap) has another inode, and any write or
// rename moves the change time, which no one can set back.
type sysStat struct {
	dev, ino uint64
	ctimeNs  int64
}

func sysStatOf(fi fs.FileInfo) sysStat {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return sysStat{}
	}
	return sysStat{dev: uint64(st.Dev), ino: st.Ino, ctimeNs: st.Ctim.Nano()}
}

func (s sysStat) ctime() time.Time { return time.Unix(0, s.ctimeNs) }
