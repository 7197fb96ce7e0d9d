package store

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/cockroachdb/pebble/v2"
)

// Checkpoint writes a consistent copy of the store into dir, which must not
// exist, while commits continue, and returns the LSN the copy contains: the
// copy holds exactly the batches with LSN <= lsn. Files are hard-linked where
// the filesystem allows. The copy is a complete store (same UID) that Open or
// ReadMeta accept; it shares no state with the source.
func (s *Store) Checkpoint(dir string) (lsn uint64, err error) {
	if _, err := s.opts.FS.Stat(dir); err == nil {
		return 0, fmt.Errorf("store checkpoint %s: %w", dir, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("store checkpoint: %w", err)
	}
	// Pebble copies the live WAL files while commits keep appending to
	// them, so a copy can end in a torn write that replay refuses ("zeroed
	// chunk"). Opening the copy is the check: a copy that does not open is
	// removed and taken again.
	for attempt := 1; ; attempt++ {
		if err := s.checkpoint(dir); err != nil {
			return 0, err
		}
		_, lsn, err = readDirMeta(dir, s.opts)
		if err == nil {
			s.stats.checkpoints.Add(1)
			return lsn, nil
		}
		if attempt == checkpointAttempts {
			return 0, fmt.Errorf("store checkpoint %s: read lsn: %w", dir, err)
		}
		s.opts.Logger.Warn("store checkpoint did not open; taking it again", "dir", dir, "attempt", attempt, "err", err)
		if rerr := s.opts.FS.RemoveAll(dir); rerr != nil {
			return 0, fmt.Errorf("store checkpoint %s: remove a copy that did not open: %w (it failed with: %v)", dir, rerr, err)
		}
	}
}

// checkpointAttempts bounds how often Checkpoint takes a copy that does
// not open before it gives up.
const checkpointAttempts = 5

func (s *Store) checkpoint(dir string) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.mu.db == nil {
		return ErrClosed
	}
	if err := s.mu.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("store checkpoint %s: %w", dir, err)
	}
	return nil
}

// ReadMeta opens the store (or checkpoint) in dir read-only and returns its
// UID and LSN without modifying it. Do not use it on a directory that a
// Store has open.
func ReadMeta(dir string) (uid string, lsn uint64, err error) {
	return readDirMeta(dir, Options{}.withDefaults())
}

func readDirMeta(dir string, opts Options) (string, uint64, error) {
	po := opts.pebbleOptions(true)
	po.ErrorIfNotExists = true
	db, err := pebble.Open(dir, po)
	if err != nil {
		return "", 0, fmt.Errorf("open %s read-only: %w", dir, err)
	}
	uid, lsn, err := readMeta(db)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return "", 0, fmt.Errorf("read meta of %s: %w", dir, err)
	}
	return uid, lsn, nil
}
