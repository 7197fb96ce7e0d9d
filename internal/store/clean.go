package store

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// deletingSuffix names the sibling directory a store is renamed to while
// Clean deletes it: <dir>.deleting.
const deletingSuffix = ".deleting"

// Clean deletes every record of the store and starts it again empty, with a
// new UID. LSNs continue after the last one (an LSN is never reused by this
// store directory, so (UID, LSN) names one state). Clean runs on the commit
// goroutine between groups: a Commit queued before it completes on the old
// store (and its data is then deleted), one queued after it commits on the
// new store; none is lost or half-applied. Reads and checkpoints in progress
// finish first. Only the store directory is touched. The commit hook sees
// the Clean (CommitEvent.Clean) before Clean returns.
//
// Crash safety: the directory is first renamed to <dir>.deleting; the new
// store is created and synced; then the old one is removed. Open finishes a
// Clean interrupted at any point.
func (s *Store) Clean() error {
	req := &commitRequest{done: make(chan struct{})}
	if err := s.queue.push(req); err != nil {
		return err
	}
	<-req.done
	return req.err
}

// clean does the work of Clean; it runs on the commit goroutine.
func (s *Store) clean() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.db != nil {
		if err := s.mu.db.Close(); err != nil {
			s.mu.db = nil
			return fmt.Errorf("clean store: close: %w", err)
		}
		s.mu.db = nil
	}
	old := s.dir + deletingSuffix
	fsys := s.opts.FS
	if err := fsys.RemoveAll(old); err != nil {
		return fmt.Errorf("clean store: %w", err)
	}
	if err := fsys.Rename(s.dir, old); err != nil {
		return fmt.Errorf("clean store: %w", err)
	}
	if err := syncDir(fsys, filepath.Dir(s.dir)); err != nil {
		return fmt.Errorf("clean store: %w", err)
	}
	db, uid, lsn, err := openDB(s.dir, s.opts, s.lastLSN.Load())
	if err != nil {
		return fmt.Errorf("clean store: %w", err)
	}
	s.mu.db = db
	s.uid.Store(uid)
	if err := fsys.RemoveAll(old); err != nil {
		s.opts.Logger.Warn("clean store: removing old store", "dir", old, "err", err)
	}
	s.stats.cleans.Add(1)
	s.opts.Logger.Info("store cleaned", "dir", s.dir, "uid", uid, "lsn", lsn)
	return nil
}

// finishInterruptedClean completes a Clean that a crash interrupted: if
// <dir>.deleting exists and dir holds a complete new store, the old one is
// removed; otherwise the new store is recreated with the LSN of the old one
// (which is intact, since it is removed only after the new one is complete).
func (s *Store) finishInterruptedClean() error {
	fsys := s.opts.FS
	old := s.dir + deletingSuffix
	if _, err := fsys.Stat(old); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	_, _, err := readDirMeta(s.dir, s.opts)
	if errors.Is(err, ErrNewerFormat) {
		// A complete store of a newer build: not this build's to repair.
		return fmt.Errorf("open store: %w", err)
	}
	if err != nil {
		_, lsn, err := readDirMeta(old, s.opts)
		if err != nil {
			return fmt.Errorf("open store: finish interrupted clean: %w", err)
		}
		if err := fsys.RemoveAll(s.dir); err != nil {
			return fmt.Errorf("open store: finish interrupted clean: %w", err)
		}
		db, _, _, err := openDB(s.dir, s.opts, lsn)
		if err != nil {
			return fmt.Errorf("open store: finish interrupted clean: %w", err)
		}
		if err := db.Close(); err != nil {
			return fmt.Errorf("open store: finish interrupted clean: %w", err)
		}
	}
	if err := fsys.RemoveAll(old); err != nil {
		return fmt.Errorf("open store: finish interrupted clean: %w", err)
	}
	s.opts.Logger.Info("store: finished interrupted clean", "dir", s.dir)
	return nil
}

// syncDir makes the entries of dir durable (a rename inside it, say).
func syncDir(fsys vfs.FS, dir string) error {
	d, err := fsys.OpenDir(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
