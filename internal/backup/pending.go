package backup

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mqsight/mqsight/internal/destination"
)

// pendingName is the marker, in the data directory, of store backups that
// are committed (or being committed) at their destination while their
// configuration backup is not linked yet. A store backup is useless without
// its configuration backup, which holds its key; the two cannot be
// committed in one step, since they are on different machines. A process
// killed between the two leaves the entry, and the next start
// (RecoverPending) removes the orphan when it can (file://) or names it.
// An entry also stays when a failed backup could not remove its store
// backup again. The file holds a JSON list, replaced atomically.
const pendingName = ".backup-pending"

// pending is one entry of the marker. StoreURL carries no credentials
// (destination URLs never do).
type pending struct {
	ConfigBackup string // the configuration backup's name in the user files directory
	StoreURL     string
}

// readPending returns the marker's entries; none if there is no marker.
func readPending(dataDir string) ([]pending, error) {
	data, err := os.ReadFile(filepath.Join(dataDir, pendingName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read pending store backups: %w", err)
	}
	var list []pending
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("read pending store backups: %s: %w", pendingName, err)
	}
	return list, nil
}

// writePending replaces the marker with list durably (temporary file,
// fsync, rename, directory fsync), or removes it when list is empty.
func writePending(dataDir string, list []pending) error {
	path := filepath.Join(dataDir, pendingName)
	if len(list) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return syncDir(dataDir)
	}
	data, err := json.Marshal(list)
	if err != nil {
		return err
	}
	return replaceFileSync(dataDir, pendingName, data)
}

// markPending adds p to the marker, durably, before its store backup is
// committed.
func markPending(dataDir string, p pending) error {
	list, err := readPending(dataDir)
	if err != nil {
		return fmt.Errorf("mark store backup pending: %w", err)
	}
	if err := writePending(dataDir, append(list, p)); err != nil {
		return fmt.Errorf("mark store backup pending: %w", err)
	}
	return nil
}

// clearPending takes the entry of configBackup out of the marker: its pair
// is complete, or its store backup was never committed or is removed again.
// Best effort: an entry left behind finds its configuration backup at the
// next start, or names a store backup that may not exist.
func clearPending(dataDir, configBackup string) {
	list, err := readPending(dataDir)
	if err != nil {
		return
	}
	kept := list[:0]
	for _, p := range list {
		if p.ConfigBackup != configBackup {
			kept = append(kept, p)
		}
	}
	writePending(dataDir, kept)
}

// PendingOutcome is what RecoverPending did about one orphan.
type PendingOutcome struct {
	// Orphan is the URL of a store backup that a killed or failed backup
	// may have left committed without its configuration backup.
	Orphan string
	// Removed tells that the orphan was removed (file://); otherwise it
	// is at a remote destination, which the server cannot reach without
	// the backup's credentials, and the operator removes it.
	Removed bool
}

// RecoverPending settles the store backups that killed or failed backups
// left without their configuration backup (see pendingName): an entry whose
// configuration backup was linked in userFilesDir after all needs nothing;
// otherwise a file:// store backup is removed, and a remote one reported.
// The marker is then removed. Call it at server start, before any backup
// can run.
func RecoverPending(dataDir, userFilesDir string) ([]PendingOutcome, error) {
	// An unreadable marker (written by rename, so not torn by a crash)
	// names no orphan that can be found: start anyway.
	list, _ := readPending(dataDir)
	var out []PendingOutcome
	for _, p := range list {
		linked, err := exists(filepath.Join(userFilesDir, p.ConfigBackup))
		if err != nil {
			return out, fmt.Errorf("recover pending store backup: %w", err)
		}
		if linked {
			continue
		}
		o := PendingOutcome{Orphan: p.StoreURL}
		if loc, err := destination.Parse(p.StoreURL); err == nil && loc.Scheme == destination.SchemeFile {
			err := os.Remove(filepath.Join(loc.Dir, loc.Name))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return out, fmt.Errorf("recover pending store backup: %w", err)
			}
			if err := syncDir(loc.Dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return out, fmt.Errorf("recover pending store backup: %w", err)
			}
			o.Removed = true
		}
		out = append(out, o)
	}
	// The marker goes, and the temporary of a replacement a kill cut
	// short (replaceFileSync).
	if err := os.Remove(filepath.Join(dataDir, pendingName+".tmp")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return out, fmt.Errorf("recover pending store backup: %w", err)
	}
	if err := writePending(dataDir, nil); err != nil {
		return out, fmt.Errorf("recover pending store backup: %w", err)
	}
	return out, nil
}
