package store

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Sentinel errors callers branch on.
var (
	// ErrClosed is returned by every operation on a closed Store.
	ErrClosed = errors.New("store: closed")
	// ErrNotFound is returned by Get for a missing key.
	ErrNotFound = errors.New("store: not found")
	// ErrFailed is wrapped by every Commit after a Pebble write failed: the
	// outcome of that write is unknown, so the store accepts nothing more
	// until it is reopened.
	ErrFailed = errors.New("store: failed")
	// ErrReservedKey is returned by Commit for a batch that writes an empty
	// key or a key of the meta kind, which only the store writes.
	ErrReservedKey = errors.New("store: reserved key")
	// ErrNewerFormat is wrapped by Open, ReadMeta and Reincarnate for a
	// store whose format is newer than this build's: it may hold records
	// this build cannot read.
	ErrNewerFormat = errors.New("store: newer store format")
)

// formatVersion is the store format written in the meta "format" record.
// It says which record versions the store may hold (package doc): a build
// reads every format up to its own, raises an older store's format to its
// own when it opens it for writing (Open, before anything is written), and
// refuses a newer one. A new record version therefore bumps it, so that an
// older build never opens a store holding records it cannot decode.
//
//	1  version 1 records only
//	2  adds ClientState and Reference version 2
//	3  adds Reference version 3 (the QoS of a delivery in flight)
//	4  adds ClientState version 3 (the session's owner)
const formatVersion = 4

// Options configure Open. The zero value is usable.
type Options struct {
	// BeforeSync, if set, runs on the commit goroutine before each group is
	// written and synced; an error fails every batch of that group without
	// consuming LSNs. The server wires the storeBeforeSync failpoint to it.
	BeforeSync func() error
	// Logger receives the store's and Pebble's log lines; nil discards them.
	Logger *slog.Logger
	// MemTableSize is Pebble's memtable size in bytes; 0 means 16 MiB.
	// Pebble preallocates every WAL file to 1.1 times it, and a store
	// holds several WAL files after a restart, so it sets the store's
	// smallest footprint on disk as much as its write batching.
	MemTableSize uint64
	// MaxGroupBytes bounds the bytes of logical batches gathered into one
	// group commit (a single larger batch still commits alone); 0 means 16 MiB.
	MaxGroupBytes int
	// TombstoneDenseCompactionThreshold is the fraction of tombstone-dense
	// data blocks that makes an sstable eligible for a tombstone-density
	// compaction (queue churn); 0 means 0.05, negative disables.
	TombstoneDenseCompactionThreshold float64
	// FS is the filesystem the store lives on; nil means the operating
	// system's. Tests pass vfs.NewCrashableMem() to simulate power loss.
	FS vfs.FS
	// MinFreeBytes is the free space the store keeps in reserve on its
	// filesystem: below it SpaceLow reports true (writers add no new
	// message), a group that would leave less than half of it is refused
	// (ErrDiskFull), and Open refuses to open below half of it. 0 means
	// twice what one WAL file, one memtable flush and one commit group
	// need (99 MiB with the default sizes); negative turns the check off.
	MinFreeBytes int64
	// FreeSpace reports the bytes free for the store on its filesystem
	// (ok false: cannot tell). nil means AvailableSpace of the store's
	// directory when FS is the operating system's, and no check on
	// another FS.
	FreeSpace func() (n uint64, ok bool)
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = 16 << 20
	}
	if o.MaxGroupBytes == 0 {
		o.MaxGroupBytes = 16 << 20
	}
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.MinFreeBytes == 0 {
		o.MinFreeBytes = int64(defaultMinFree(o.MemTableSize, o.MaxGroupBytes))
	}
	if o.TombstoneDenseCompactionThreshold == 0 {
		o.TombstoneDenseCompactionThreshold = 0.05
	}
	return o
}

// pebbleOptions returns the Pebble options for the store, tuned for
// queue-like churn: point deletes of queue keys leave tombstones that slow
// reads at the head of a queue, so tombstone-dense sstables get compacted
// early.
func (o Options) pebbleOptions(readOnly bool) *pebble.Options {
	po := &pebble.Options{
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             pebbleLogger{o.Logger},
		MemTableSize:       o.MemTableSize,
		ReadOnly:           readOnly,
		FS:                 o.FS,
	}
	po.EventListener = o.eventListener()
	po.Experimental.NumDeletionsThreshold = 64
	po.Experimental.DeletionSizeRatioThreshold = 0.3
	po.Experimental.TombstoneDenseCompactionThreshold = o.TombstoneDenseCompactionThreshold
	po.EnsureDefaults()
	return po
}

// Store is the Pebble store. All methods are safe for concurrent use.
//
// Writes reach Pebble only through the commit goroutine (commitLoop). The
// database handle is replaced only by Clean (on the commit goroutine) and
// Close (after the commit goroutine ended), both holding mu for writing;
// every other user holds mu for reading while it uses the handle, except the
// commit goroutine itself, which may read it without the lock because no
// other goroutine writes it.
type Store struct {
	dir  string
	opts Options

	mu struct {
		sync.RWMutex
		db *pebble.DB // nil once closed (or after a failed Clean)
	}

	// uid is the store UID (string); replaced by Clean.
	uid atomic.Value
	// lastLSN is the LSN of the last durable batch. Written only by the
	// commit goroutine (and Open).
	lastLSN atomic.Uint64

	hook atomic.Pointer[CommitHook]

	// queue is the commit queue drained by commitLoop.
	queue commitQueue

	loopDone  chan struct{} // closed when commitLoop returns
	closeOnce sync.Once
	closeErr  error

	stats statsCounters

	space spaceGuard // free space: read by commits and a watch goroutine
}

// Open opens the store in dir, creating it (with a new UID and LSN 0) if it
// does not exist, and finishing a Clean that a crash interrupted.
func Open(dir string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	s := &Store{dir: dir, opts: opts, loopDone: make(chan struct{})}
	s.queue.init()
	s.space.init(dir, opts)
	if s.space.check(0) == spaceCritical {
		// Pebble would flush the WAL it replays into a disk without room,
		// and wait for that flush without end.
		return nil, fmt.Errorf("open store %s: %w; free space on its filesystem and start again", dir, s.space.diskFullError())
	}
	if err := s.finishInterruptedClean(); err != nil {
		return nil, err
	}
	db, uid, lsn, err := openDB(dir, opts, 0)
	if err != nil {
		return nil, err
	}
	s.mu.db = db
	s.uid.Store(uid)
	s.lastLSN.Store(lsn)
	opts.Logger.Info("store opened", "dir", dir, "uid", uid, "lsn", lsn)
	go s.commitLoop()
	if s.space.free != nil {
		go s.space.watch(s.loopDone)
	}
	return s, nil
}

// openDB opens (or creates) the Pebble database in dir and reads its meta
// records. A new database gets a fresh UID and LSN firstLSN.
func openDB(dir string, opts Options, firstLSN uint64) (*pebble.DB, string, uint64, error) {
	// The store holds every buffered payload: only the server's user may
	// enter its directory (Pebble would create it 0755, its files 0644).
	if err := opts.FS.MkdirAll(dir, 0o700); err != nil {
		return nil, "", 0, fmt.Errorf("open store %s: %w", dir, err)
	}
	if opts.FS == vfs.Default {
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, "", 0, fmt.Errorf("open store %s: %w", dir, err)
		}
	}
	db, err := pebble.Open(dir, opts.pebbleOptions(false))
	if err != nil {
		return nil, "", 0, fmt.Errorf("open store %s: %w", dir, err)
	}
	uid, lsn, err := readMeta(db)
	if errors.Is(err, ErrNotFound) {
		uid, lsn, err = initMeta(db, firstLSN)
	} else if err == nil {
		err = upgradeFormat(db)
	}
	if err != nil {
		_ = db.Close()
		return nil, "", 0, fmt.Errorf("open store %s: %w", dir, err)
	}
	return db, uid, lsn, nil
}

// pebbleReader is what readMeta needs of a Pebble DB or snapshot.
type pebbleReader interface {
	Get(key []byte) ([]byte, io.Closer, error)
}

// readMeta returns the UID and LSN recorded in r, or ErrNotFound for a
// database the store never initialised.
func readMeta(r pebbleReader) (uid string, lsn uint64, err error) {
	if _, err := readFormat(r); err != nil {
		return "", 0, err
	}
	u, err := getCopy(r, []byte(metaUIDKey))
	if err != nil {
		return "", 0, fmt.Errorf("read store uid: %w", err)
	}
	l, err := getCopy(r, []byte(metaLSNKey))
	if err != nil {
		return "", 0, fmt.Errorf("read store lsn: %w", err)
	}
	if len(l) != 8 {
		return "", 0, fmt.Errorf("%w: lsn record has %d bytes", ErrCorrupt, len(l))
	}
	return string(u), binary.BigEndian.Uint64(l), nil
}

// readFormat returns the store format recorded in r: 1..formatVersion, or
// an error wrapping ErrNewerFormat, ErrCorrupt or ErrNotFound.
func readFormat(r pebbleReader) (byte, error) {
	format, err := getCopy(r, []byte(metaFormatKey))
	if err != nil {
		return 0, err
	}
	switch {
	case len(format) != 1 || format[0] == 0:
		return 0, fmt.Errorf("%w: unsupported store format %x", ErrCorrupt, format)
	case format[0] > formatVersion:
		return 0, fmt.Errorf("%w: the store has format %d; this build reads formats 1 to %d", ErrNewerFormat, format[0], formatVersion)
	}
	return format[0], nil
}

// upgradeFormat raises the format of a store written by an older build to
// formatVersion, durably, so that no older build opens it once it may hold
// records of this build's versions.
func upgradeFormat(db *pebble.DB) error {
	format, err := readFormat(db)
	if err != nil || format == formatVersion {
		return err
	}
	if err := db.Set([]byte(metaFormatKey), []byte{formatVersion}, pebble.Sync); err != nil {
		return fmt.Errorf("raise store format %d to %d: %w", format, formatVersion, err)
	}
	return nil
}

// initMeta writes the meta records of a new store, durably.
func initMeta(db *pebble.DB, lsn uint64) (string, uint64, error) {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", 0, fmt.Errorf("generate store uid: %w", err)
	}
	uid := hex.EncodeToString(raw[:])
	b := db.NewBatch()
	defer b.Close()
	_ = b.Set([]byte(metaFormatKey), []byte{formatVersion}, nil)
	_ = b.Set([]byte(metaUIDKey), []byte(uid), nil)
	_ = b.Set([]byte(metaLSNKey), binary.BigEndian.AppendUint64(nil, lsn), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return "", 0, fmt.Errorf("initialise store meta: %w", err)
	}
	return uid, lsn, nil
}

func getCopy(r pebbleReader, key []byte) ([]byte, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	out := bytes.Clone(v)
	if out == nil {
		out = []byte{}
	}
	return out, closer.Close()
}

// Dir returns the directory the store lives in.
func (s *Store) Dir() string { return s.dir }

// UID returns the store UID: generated when the store is created, persisted
// in the store, replaced by Clean. A checkpoint carries its source's UID.
func (s *Store) UID() string { return s.uid.Load().(string) }

// LastLSN returns the LSN of the last durable batch (0 for a store that
// never committed). It survives restarts and Clean.
func (s *Store) LastLSN() uint64 { return s.lastLSN.Load() }

// Get returns a copy of the value of key, or an error wrapping ErrNotFound.
func (s *Store) Get(key []byte) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.mu.db == nil {
		return nil, ErrClosed
	}
	v, err := getCopy(s.mu.db, key)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("store get %x: %w", key, err)
	}
	return v, err
}

// Scan calls fn for every key with the given prefix, in key order, on a
// consistent view taken when Scan starts. key and value are valid only
// during the call. An error from fn stops the scan and is returned as is.
// fn must not call into the Store (Scan holds a read lock that Clean and
// Close wait for).
func (s *Store) Scan(prefix []byte, fn func(key, value []byte) error) error {
	return s.ScanRange(prefix, PrefixEnd(prefix), fn)
}

// ScanRange is Scan over the keys in [lower, upper); nil bounds are open.
func (s *Store) ScanRange(lower, upper []byte, fn func(key, value []byte) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.mu.db == nil {
		return ErrClosed
	}
	it, err := s.mu.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("store scan: %w", err)
	}
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return fmt.Errorf("store scan: %w", err)
		}
		if err := fn(it.Key(), v); err != nil {
			_ = it.Close()
			return err
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("store scan: %w", err)
	}
	return nil
}

// LastKey returns a copy of the greatest key with the given prefix, or an
// error wrapping ErrNotFound when there is none. It reads one key, not the
// range.
func (s *Store) LastKey(prefix []byte) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.mu.db == nil {
		return nil, ErrClosed
	}
	it, err := s.mu.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: PrefixEnd(prefix)})
	if err != nil {
		return nil, fmt.Errorf("store last key: %w", err)
	}
	var key []byte
	if it.Last() {
		key = bytes.Clone(it.Key())
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("store last key: %w", err)
	}
	if key == nil {
		return nil, fmt.Errorf("store last key %x: %w", prefix, ErrNotFound)
	}
	return key, nil
}

// Close stops accepting commits, waits for the queued ones to finish and
// closes Pebble. It is idempotent; later calls return the first result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.queue.close()
		<-s.loopDone
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.mu.db != nil {
			if err := s.mu.db.Close(); err != nil {
				s.closeErr = fmt.Errorf("close store: %w", err)
			}
			s.mu.db = nil
		}
		s.opts.Logger.Info("store closed", "dir", s.dir, "lsn", s.LastLSN())
	})
	return s.closeErr
}

// pebbleLogger routes Pebble's log lines to slog.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
	p.l.Error("store: fatal error; the server exits. Acknowledged messages are on disk; correct the cause (see the line before) and start the server again")
	os.Exit(1)
}

// eventListener returns the Pebble events the store logs. A background
// error (a failed flush or compaction) is retried by Pebble at once and
// again: the first is logged, the rest at most once per
// backgroundErrorEvery with a count.
func (o Options) eventListener() *pebble.EventListener {
	var mu sync.Mutex
	var last time.Time
	var suppressed int
	return &pebble.EventListener{
		BackgroundError: func(err error) {
			mu.Lock()
			defer mu.Unlock()
			if time.Since(last) < backgroundErrorEvery {
				suppressed++
				return
			}
			o.Logger.Error("store: background error", "err", err, "repeats", suppressed, "component", "pebble")
			last, suppressed = time.Now(), 0
		},
		WriteStallBegin: func(info pebble.WriteStallBeginInfo) {
			o.Logger.Warn("store: writes stalled", "reason", info.Reason, "component", "pebble")
		},
		WriteStallEnd: func() {
			o.Logger.Info("store: writes no longer stalled", "component", "pebble")
		},
	}
}

// backgroundErrorEvery is how often a repeated Pebble background error is
// logged.
const backgroundErrorEvery = 10 * time.Second
