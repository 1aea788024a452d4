package file

import (
	"crypto/sha256"
	"io/fs"
	"time"
)

// racyWindow: a file whose modification or change time is this close to
// (or after) the start of the load that read it may still change without
// its stat changing (timestamps are coarse: a few milliseconds on Linux,
// seconds on some file systems), so the next load reads it again and
// compares its content (as git does with "racily clean" entries).
const racyWindow = 2 * time.Second

// fileCache remembers, across the loads of one watcher, what every input
// file decoded to (the ops its documents recorded, see docDecoder), so a
// reload after an edit reads and decodes only the files that changed. A
// file is unchanged when its stat (size, modification time, mode, and on
// Linux inode and change time) is the one recorded and was not racy, or
// else when its content has the recorded hash. The ops are replayed in file
// order into each load's decoder, so the first definition of an object
// still wins across files, and a broken file's problems are reported again
// (the last-good keeper sees the same input as after a full read). Deleted
// files are simply not listed; new files are decoded.
//
// It is generational: prev is what the last complete load read (read by
// the reader goroutine), next what this load has read (written by the
// goroutine that applies decoded documents); rotate ends a load.
type fileCache struct {
	prev, next map[inputFile]*fileEntry
}

// fileEntry is one file as the last load read it.
type fileEntry struct {
	st      fileStat
	trusted bool // st was not racy: an equal stat means unchanged content
	sum     [sha256.Size]byte
	ops     []func(*decoder)
	docs    int
}

// fileStat is what the file system says of a file: when any of it moves,
// the file is read again.
type fileStat struct {
	size  int64
	mtime time.Time
	mode  fs.FileMode
	sys   sysStat // inode, device and change time where the OS has them
}

func newFileCache() *fileCache {
	return &fileCache{prev: map[inputFile]*fileEntry{}, next: map[inputFile]*fileEntry{}}
}

func statOf(fi fs.FileInfo) fileStat {
	return fileStat{size: fi.Size(), mtime: fi.ModTime(), mode: fi.Mode(), sys: sysStatOf(fi)}
}

// racy reports whether st may not yet show a change made after start.
func (st fileStat) racy(start time.Time) bool {
	limit := start.Add(-racyWindow)
	return !st.mtime.Before(limit) || !st.sys.ctime().Before(limit)
}

// lookup returns the last load's entry of f (reader goroutine), if any.
func (c *fileCache) lookup(f inputFile) *fileEntry {
	if c == nil {
		return nil
	}
	return c.prev[f]
}

// store records what f decoded to in this load.
func (c *fileCache) store(f inputFile, e *fileEntry) {
	if c != nil {
		c.next[f] = e
	}
}

// rotate ends a load: files it did not list are forgotten. After a load
// that failed (ok false) the previous entries stay and this load's are
// dropped.
func (c *fileCache) rotate(ok bool) {
	if c == nil {
		return
	}
	if ok {
		c.prev = c.next
	}
	c.next = map[inputFile]*fileEntry{}
}
