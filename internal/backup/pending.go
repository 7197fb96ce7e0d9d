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

// pendingName is the marker, in the data directory, of a store backup that
// is committed (or being committed) at its destination while its
// configuration backup is not linked yet. A store backup is useless without
// its configuration backup, which holds its key; the two cannot be
// committed in one step, since they are on different machines. A process
// killed between the two leaves the marker, and the next start
// (RecoverPending) removes the orphan when it can (file://) or names it.
const pendingName = ".backup-pending"

// pending is the marker's content. StoreURL carries no credentials
// (destination URLs never do).
type pending struct {
	ConfigBackup string // the configuration backup's name in the user files directory
	StoreURL     string
}

// markPending writes the marker durably (replacing one that a failed
// removal left).
func markPending(dataDir string, p pending) error {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	path := filepath.Join(dataDir, pendingName)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("mark store backup pending: %w", err)
	}
	if err := writeFileSync(path, data, 0o600); err != nil {
		return fmt.Errorf("mark store backup pending: %w", err)
	}
	return syncDir(dataDir)
}

// clearPending removes the marker. Not syncing the directory is safe: a
// marker that comes back after a crash finds its configuration backup and
// is removed again.
func clearPending(dataDir string) {
	os.Remove(filepath.Join(dataDir, pendingName))
}

// PendingOutcome is what RecoverPending found.
type PendingOutcome struct {
	// Orphan is the URL of a store backup that a killed backup may have
	// committed without its configuration backup; empty if there is none.
	Orphan string
	// Removed tells that the orphan was removed (file://); otherwise it
	// is at a remote destination, which the server cannot reach without
	// the backup's credentials, and the operator removes it.
	Removed bool
}

// RecoverPending settles a store backup that a killed backup left without
// its configuration backup (see pendingName): if the configuration backup
// was linked in userFilesDir after all, there is nothing to do; otherwise
// a file:// store backup is removed, and a remote one reported. Call it at
// server start, before any backup can run.
func RecoverPending(dataDir, userFilesDir string) (PendingOutcome, error) {
	path := filepath.Join(dataDir, pendingName)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return PendingOutcome{}, nil
	}
	if err != nil {
		return PendingOutcome{}, fmt.Errorf("recover pending store backup: %w", err)
	}
	var p pending
	if err := json.Unmarshal(data, &p); err != nil || p.ConfigBackup == "" || p.StoreURL == "" {
		// A marker torn by the crash that wrote it: it was written before
		// the commit, so the store backup was not committed.
		return PendingOutcome{}, removeMarker(dataDir, path)
	}
	var out PendingOutcome
	linked, err := exists(filepath.Join(userFilesDir, p.ConfigBackup))
	if err != nil {
		return out, fmt.Errorf("recover pending store backup: %w", err)
	}
	if !linked {
		out.Orphan = p.StoreURL
		if loc, err := destination.Parse(p.StoreURL); err == nil && loc.Scheme == destination.SchemeFile {
			err := os.Remove(filepath.Join(loc.Dir, loc.Name))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return out, fmt.Errorf("recover pending store backup: %w", err)
			}
			if err := syncDir(loc.Dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return out, fmt.Errorf("recover pending store backup: %w", err)
			}
			out.Removed = true
		}
	}
	return out, removeMarker(dataDir, path)
}

// removeMarker removes the marker at path durably.
func removeMarker(dataDir, path string) error {
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("recover pending store backup: %w", err)
	}
	return syncDir(dataDir)
}
