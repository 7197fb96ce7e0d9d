package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
// (destination URLs never do). Size and SHA256 describe the finished store
// backup file, so that only that file is ever removed as an orphan, never
// another that took its name.
type pending struct {
	ConfigBackup string // the configuration backup's name in the user files directory
	StoreURL     string
	Size         int64  `json:",omitempty"`
	SHA256       string `json:",omitempty"` // lowercase hex
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
	// Size and SHA256 (hex) identify the orphan's file.
	Size   int64
	SHA256 string
	// Removed tells that the orphan was removed (file://); otherwise it
	// is at a remote destination, which the server cannot reach without
	// the backup's credentials, and the operator removes it.
	Removed bool
	// Err, when not nil, is why a file:// orphan could not be checked or
	// removed (it is left; the server starts anyway).
	Err error
}

// RecoverPending settles the store backups that killed or failed backups
// left without their configuration backup (see pendingName): an entry whose
// configuration backup was linked in userFilesDir after all needs nothing;
// otherwise a file:// store backup is removed if it is there and is the
// file the entry describes, and a remote one reported. The marker is then
// removed. Call it at server start, before any backup can run.
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
		// A file that cannot be checked (permissions, I/O) is left and
		// reported: it must not keep the server from starting.
		if o, report, err := p.settle(); err != nil || report {
			o.Err = err
			out = append(out, o)
		}
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

// settle removes the entry's file:// store backup if it is there and is
// the file the entry describes (size and SHA-256). report tells whether
// there is something to tell: a removed orphan, or one at a remote
// destination (or described by an entry without a digest) that may exist.
// A file:// store backup that is absent, or another file under its name,
// is nothing to report, and nothing is touched.
func (p pending) settle() (o PendingOutcome, report bool, err error) {
	o = PendingOutcome{Orphan: p.StoreURL, Size: p.Size, SHA256: p.SHA256}
	loc, err := destination.Parse(p.StoreURL)
	if err != nil || loc.Scheme != destination.SchemeFile || p.SHA256 == "" {
		return o, true, nil
	}
	path := filepath.Join(loc.Dir, loc.Name)
	same, err := fileIs(path, p.Size, p.SHA256)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !same) {
		return o, false, nil
	}
	if err != nil {
		return o, false, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return o, false, err
	}
	if err := syncDir(loc.Dir); err != nil {
		return o, false, err
	}
	o.Removed = true
	return o, true, nil
}

// fileIs reports whether the file at path has size bytes and the SHA-256
// sum (hex).
func fileIs(path string, size int64, sum string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() != size {
		return false, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false, err
	}
	return hex.EncodeToString(h.Sum(nil)) == sum, nil
}
