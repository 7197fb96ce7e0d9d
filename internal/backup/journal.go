package backup

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Names inside the data directory that restore owns.
const (
	configDirName  = "config"
	storeDirName   = "store"
	storeDeleting  = "store.deleting" // an interrupted store Clean (internal/store)
	stagingDirName = ".restore-staging"
	oldDirName     = ".restore-old"
	journalName    = ".restore-journal"
	journalTemp    = journalName + ".tmp" // replaceFileSync's temporary
)

// swapped are the entries of the data directory that Apply moves aside and
// (for config and store) replaces, in this order.
func swapped() []string { return []string{configDirName, storeDirName, storeDeleting} }

// Journal states.
const (
	// stateSwapping: the live state may be partly moved aside and the
	// staged one partly moved in. Recover rolls back to the old state.
	stateSwapping = "swapping"
	// stateDone: the new state is complete in place (the commit point).
	// Recover removes the old state.
	stateDone = "done"
)

// journalVersion is the journal format version.
const journalVersion = 1

// maxJournalSize bounds the journal file read at start.
const maxJournalSize = 4096

// journal is the restore journal, <datadir>/.restore-journal: a small JSON
// object replaced atomically (temp, fsync, rename, fsync dir):
//
//	{"Version":1,"State":"swapping"|"done","BackupID":"...","Time":"RFC 3339"}
type journal struct {
	Version  int       `json:"Version"`
	State    string    `json:"State"`
	BackupID string    `json:"BackupID"`
	Time     time.Time `json:"Time"`
}

// decodeJournal parses and checks a journal. Anything but a well-formed
// version-1 journal with a known state is ErrJournal.
func decodeJournal(b []byte) (journal, error) {
	var j journal
	if len(b) > maxJournalSize {
		return j, fmt.Errorf("%w: %d bytes", ErrJournal, len(b))
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&j); err != nil {
		return journal{}, fmt.Errorf("%w: %v", ErrJournal, err)
	}
	if d.More() {
		return journal{}, fmt.Errorf("%w: data after the journal", ErrJournal)
	}
	if j.Version != journalVersion {
		return journal{}, fmt.Errorf("%w: version %d, this build reads %d", ErrJournal, j.Version, journalVersion)
	}
	if j.State != stateSwapping && j.State != stateDone {
		return journal{}, fmt.Errorf("%w: unknown state %q", ErrJournal, j.State)
	}
	return j, nil
}

// writeJournal replaces the journal durably.
func writeJournal(dataDir string, j journal) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if err := replaceFileSync(dataDir, journalName, b); err != nil {
		return fmt.Errorf("write restore journal: %w", err)
	}
	return nil
}

// readJournal returns the journal, or ok=false when there is none.
func readJournal(dataDir string) (j journal, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dataDir, journalName))
	if errors.Is(err, fs.ErrNotExist) {
		return journal{}, false, nil
	}
	if err != nil {
		return journal{}, false, fmt.Errorf("read restore journal: %w", err)
	}
	j, err = decodeJournal(b)
	if err != nil {
		return journal{}, false, fmt.Errorf("read restore journal %s: %w", filepath.Join(dataDir, journalName), err)
	}
	return j, true, nil
}
