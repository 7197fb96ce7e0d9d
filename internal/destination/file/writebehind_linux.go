//go:build linux

package file

import (
	"os"

	"golang.org/x/sys/unix"
)

// writeBehind bounds the dirty pages of an upload so that a large backup
// does not build up gigabytes of unwritten data that the kernel then writes
// back in one burst: every writeBehindChunk bytes it starts the writeback of
// the chunk just written and waits for the one before it to reach the disk
// (sync_file_range). Other writers' fsyncs on the same disk — the store's,
// every commit — then queue behind at most two chunks instead of the whole
// file. It is an optimisation only: errors are ignored (Commit's fsync is
// what makes the file durable and reports failures).
type writeBehind struct {
	started int64 // writeback started up to here
}

// writeBehindChunk is the writeback unit: large enough for sequential disk
// writes, small enough to keep the dirty set bounded.
const writeBehindChunk = 8 << 20

// wrote records that f has been written up to offset end.
func (w *writeBehind) wrote(f *os.File, end int64) {
	for end-w.started >= writeBehindChunk {
		fd := int(f.Fd())
		_ = unix.SyncFileRange(fd, w.started, writeBehindChunk, unix.SYNC_FILE_RANGE_WRITE)
		if prev := w.started - writeBehindChunk; prev >= 0 {
			_ = unix.SyncFileRange(fd, prev, writeBehindChunk,
				unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
		}
		w.started += writeBehindChunk
	}
}

// startAt starts the writeback at offset off: the bytes before it are not
// this writeBehind's (they were written directly, see direct_linux.go).
func (w *writeBehind) startAt(off int64) { w.started = off }
