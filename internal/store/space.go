package store

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Free space. Pebble cannot survive a full disk: a WAL write that fails
// ends the process (what of the write reached the disk is unknown), and a
// flush or compaction that fails is retried without end while commits wait
// behind it. So the store keeps a reserve on its filesystem and refuses
// work before Pebble would meet a full disk:
//
//   - below Options.MinFreeBytes it refuses batches that add a message
//     (a message or retained record): new data stops, while acknowledgements,
//     deletions and session state, which let consumers drain the store,
//     still commit;
//   - below half of it, it refuses every batch.
//
// Half the reserve leaves room for one WAL rotation (Pebble preallocates
// 1.1 × MemTableSize), one memtable flush and one commit group, which the
// default reserve is made of twice over. A refused batch fails with
// ErrDiskFull, consumes no LSN and leaves the store usable: the next batch
// is checked again. Free space is read with statfs at most every
// spaceCheckInterval, and sooner after a quarter of the floor's bytes were
// committed.

// ErrDiskFull is wrapped by Commit for a batch refused because the store's
// filesystem has less free space than the store keeps in reserve. Nothing
// of the batch was written; the store accepts batches again once space is
// freed.
var ErrDiskFull = errors.New("store: not enough free disk space")

const spaceCheckInterval = 100 * time.Millisecond

// spaceLevel is what the free space allows.
type spaceLevel int32

const (
	spaceOK       spaceLevel = iota
	spaceLow                 // below the reserve: no new messages
	spaceCritical            // below half the reserve: no writes
)

// defaultMinFree is the default reserve for a store with these options:
// twice what one WAL rotation, one flush and one commit group need.
func defaultMinFree(memTable uint64, maxGroup int) uint64 {
	return 2 * (memTable + memTable/10 + memTable + uint64(maxGroup))
}

// spaceGuard tracks the free space of the store's filesystem. Only the
// commit goroutine calls check; Level may be called from anywhere.
type spaceGuard struct {
	reserve uint64
	free    func() (uint64, bool) // nil: no guard
	log     *slog.Logger

	checked time.Time // last statfs
	written int       // bytes committed since
	level   atomic.Int32
	avail   atomic.Uint64
}

// init sets the guard up for a store in dir with opts (defaults applied).
func (g *spaceGuard) init(dir string, opts Options) {
	g.log = opts.Logger
	if opts.MinFreeBytes < 0 {
		return
	}
	g.reserve, g.free = uint64(opts.MinFreeBytes), opts.FreeSpace
	if g.free == nil && opts.FS == vfs.Default {
		g.free = func() (uint64, bool) { return AvailableSpace(dir) }
	}
}

// check reads the free space when it is due, after written more bytes
// were committed, and returns the level.
func (g *spaceGuard) check(written int) spaceLevel {
	if g.free == nil {
		return spaceOK
	}
	g.written += written
	if time.Since(g.checked) < spaceCheckInterval && uint64(g.written) < g.reserve/8 {
		return spaceLevel(g.level.Load())
	}
	g.checked, g.written = time.Now(), 0
	avail, ok := g.free()
	if !ok {
		// Not knowing is no reason to stop: Pebble reports real errors.
		return spaceLevel(g.level.Load())
	}
	g.avail.Store(avail)
	level := spaceOK
	switch {
	case avail < g.reserve/2:
		level = spaceCritical
	case avail < g.reserve:
		level = spaceLow
	}
	if old := spaceLevel(g.level.Swap(int32(level))); old != level {
		switch level {
		case spaceOK:
			g.log.Info("store: free disk space is back above the reserve; accepting new messages",
				"free", avail, "reserve", g.reserve)
		case spaceLow:
			g.log.Warn("store: free disk space below the reserve; refusing new messages until space is freed",
				"free", avail, "reserve", g.reserve)
		case spaceCritical:
			g.log.Error("store: free disk space below half the reserve; refusing every write until space is freed",
				"free", avail, "reserve", g.reserve)
		}
	}
	return level
}

// refuses reports whether a batch is refused at level.
func (l spaceLevel) refuses(b *Batch) bool {
	return l == spaceCritical || l == spaceLow && b.addsMessage
}

// diskFullError is the error of a batch refused for lack of space.
func (g *spaceGuard) diskFullError() error {
	return fmt.Errorf("%w: %d MiB free, the store keeps %d MiB in reserve", ErrDiskFull,
		g.avail.Load()>>20, g.reserve>>20)
}

// SpaceLow reports whether the store's filesystem was below the free-space
// reserve at the last check, so that batches adding messages are refused
// with ErrDiskFull.
func (s *Store) SpaceLow() bool {
	return spaceLevel(s.space.level.Load()) != spaceOK
}
