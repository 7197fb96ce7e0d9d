package store

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Free space. Pebble cannot survive a full disk: a WAL write that fails
// ends the process (what of the write reached the disk is unknown), and a
// flush or compaction that fails is retried without end while commits wait
// behind it. So the store keeps a reserve on its filesystem
// (Options.MinFreeBytes) and stops before Pebble would meet a full disk:
//
//   - below the reserve, SpaceLow reports true. The engine then accepts no
//     new message (it answers a publish as for a full buffer, before it
//     changes any state), while acknowledgements, deletions and session
//     state, which let consumers drain the store, still commit;
//   - a commit group that would leave less than half the reserve free is
//     refused whole, in queue order, with ErrDiskFull: no LSN consumed, not
//     sticky, the next group is checked again.
//
// Half the reserve leaves room for one WAL rotation (Pebble preallocates
// 1.1 × MemTableSize), one memtable flush and one commit group, which the
// default reserve is made of twice over. Free space is read with statfs
// every spaceCheckInterval (a goroutine of the store's), and by the commit
// goroutine after an eighth of the reserve was committed; between two
// reads the bytes committed are subtracted. Where it cannot be read
// (another OS, a filesystem without block counts), nothing is refused.

// ErrDiskFull is wrapped by Commit for a batch refused because committing
// its group would leave the store's filesystem with less than half the
// free space the store keeps in reserve. Nothing of the batch was written;
// the store accepts batches again once space is freed.
var ErrDiskFull = errors.New("store: not enough free disk space")

const spaceCheckInterval = 100 * time.Millisecond

// spaceLevel is what the free space allows.
type spaceLevel int32

const (
	spaceOK       spaceLevel = iota
	spaceLow                 // below the reserve: no new messages (the engine's rule)
	spaceCritical            // below half the reserve: no writes
)

// defaultMinFree is the default reserve for a store with these options:
// twice what one WAL rotation, one flush and one commit group need.
func defaultMinFree(memTable uint64, maxGroup int) uint64 {
	return 2 * (memTable + memTable/10 + memTable + uint64(maxGroup))
}

// spaceGuard tracks the free space of the store's filesystem. check runs
// on the commit goroutine and the watch goroutine: mu serialises it.
type spaceGuard struct {
	reserve uint64
	free    func() (uint64, bool) // nil: no guard
	log     *slog.Logger

	mu      sync.Mutex
	checked time.Time // last statfs that answered
	written uint64    // bytes committed since
	level   atomic.Int32
	avail   atomic.Uint64 // at the last statfs, less what was committed since
	known   atomic.Bool   // a statfs has answered: avail means something
}

// init sets the guard up for a store in dir with opts (defaults applied).
func (g *spaceGuard) init(dir string, opts Options) {
	g.log = opts.Logger
	if opts.MinFreeBytes < 0 {
		return
	}
	g.reserve, g.free = uint64(opts.MinFreeBytes), opts.FreeSpace
	if g.free == nil && opts.FS == vfs.Default {
		g.free = func() (uint64, bool) { return AvailableSpace(existing(dir)) }
	}
}

// check accounts written more committed bytes, reads the free space when
// it is due, and returns the level.
func (g *spaceGuard) check(written int) spaceLevel {
	if g.free == nil {
		return spaceOK
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.written += uint64(written)
	avail := g.avail.Load() - min(g.avail.Load(), uint64(written))
	if time.Since(g.checked) >= spaceCheckInterval || g.written >= g.reserve/8 {
		if n, ok := g.free(); ok { // not knowing is no reason to stop: Pebble reports real errors
			g.checked, g.written, avail = time.Now(), 0, n
			g.known.Store(true)
		}
	}
	if !g.known.Load() {
		return spaceOK
	}
	g.avail.Store(avail)
	level := g.levelOf(avail)
	if old := spaceLevel(g.level.Swap(int32(level))); old != level {
		switch level {
		case spaceOK:
			g.log.Info("store: free disk space is back above the reserve; the server accepts publishes again",
				"free", avail, "reserve", g.reserve)
		case spaceLow:
			g.log.Warn("store: free disk space below the reserve; the server refuses publishes until space is freed",
				"free", avail, "reserve", g.reserve)
		case spaceCritical:
			g.log.Error("store: free disk space below half the reserve; refusing every write until space is freed",
				"free", avail, "reserve", g.reserve)
		}
	}
	return level
}

// existing returns dir or, before the store has created it, its nearest
// existing parent: the filesystem it will be on.
func existing(dir string) string {
	for {
		if _, err := os.Stat(dir); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return dir
		}
		dir = parent
	}
}

func (g *spaceGuard) levelOf(avail uint64) spaceLevel {
	switch {
	case avail < g.reserve/2:
		return spaceCritical
	case avail < g.reserve:
		return spaceLow
	}
	return spaceOK
}

// admits reports whether a group of size bytes may be written: it must
// leave at least half the reserve free, by the last reading (the watch
// goroutine's, or check's after a commit).
func (g *spaceGuard) admits(size int) bool {
	return !g.known.Load() || g.avail.Load() >= g.reserve/2+uint64(size)
}

// watch reads the free space every spaceCheckInterval until done is
// closed, so that SpaceLow and Stats answer from memory: a publish asks
// under the engine's lock, and a filesystem slow to answer statfs must not
// hold it.
func (g *spaceGuard) watch(done <-chan struct{}) {
	t := time.NewTicker(spaceCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			g.check(0)
		}
	}
}

// diskFullError is the error of a batch refused for lack of space.
func (g *spaceGuard) diskFullError() error {
	return fmt.Errorf("%w: %d MiB free, the store keeps %d MiB in reserve", ErrDiskFull,
		g.avail.Load()>>20, g.reserve>>20)
}

// SpaceLow reports whether the store's filesystem has less free space than
// the store keeps in reserve (Options.MinFreeBytes): a writer should then
// add no new message. The free space is read every spaceCheckInterval and
// after commits, not by this call.
func (s *Store) SpaceLow() bool {
	return spaceLevel(s.space.level.Load()) != spaceOK
}
