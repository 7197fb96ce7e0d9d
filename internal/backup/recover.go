package backup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// RecoverOutcome says what Recover found and did.
type RecoverOutcome string

// Recover outcomes.
const (
	// RecoverNothing: no restore was interrupted (leftover staging or
	// backup checkpoints may have been removed).
	RecoverNothing RecoverOutcome = "nothing"
	// RecoverRolledBack: an Apply was interrupted before its commit point;
	// the old configuration and store are back in place.
	RecoverRolledBack RecoverOutcome = "rolled back"
	// RecoverFinished: an Apply was interrupted after its commit point; the
	// restored state stays and the old one was removed.
	RecoverFinished RecoverOutcome = "finished"
)

// Recover finishes or rolls back a restore that a crash interrupted in
// dataDir, so that the configuration and the store are entirely the old
// ones or entirely the restored ones, never a mix. The server calls it at
// start, holding the data directory lock, BEFORE it opens the
// configuration or the store. It is idempotent: a crash during Recover is
// recovered by the next one.
//
//	no journal                 remove .restore-staging (a restore that was
//	                           staged or dry-run but never switched) and
//	                           leftover backup checkpoints
//	journal "swapping"         roll back: for config, store, store.deleting,
//	                           if .restore-old/<x> exists, <x> is the staged
//	                           copy (or absent): remove it, move the old back
//	journal "done"             keep the new state, remove .restore-old
//	unreadable journal         ErrJournal: nothing is touched
//
// A .restore-old directory without a journal cannot be produced by Apply
// and is refused with ErrJournal rather than guessed about.
func Recover(dataDir string) (RecoverOutcome, error) {
	j, ok, err := readJournal(dataDir)
	if err != nil {
		return RecoverNothing, err
	}
	outcome := RecoverNothing
	switch {
	case !ok:
		if old, err := exists(filepath.Join(dataDir, oldDirName)); err != nil {
			return outcome, fmt.Errorf("recover restore: %w", err)
		} else if old {
			return outcome, fmt.Errorf("recover restore: %s exists without a journal: %w", oldDirName, ErrJournal)
		}
	case j.State == stateSwapping:
		if err := rollback(dataDir); err != nil {
			return outcome, fmt.Errorf("recover restore: roll back: %w", err)
		}
		outcome = RecoverRolledBack
	case j.State == stateDone:
		outcome = RecoverFinished
	}
	if err := cleanup(dataDir); err != nil {
		return outcome, fmt.Errorf("recover restore: %w", err)
	}
	if err := removeCheckpoints(dataDir); err != nil {
		return outcome, fmt.Errorf("recover restore: %w", err)
	}
	return outcome, nil
}

// rollback moves the old state back in place (see Recover).
func rollback(dataDir string) error {
	old := filepath.Join(dataDir, oldDirName)
	for _, name := range swapped() {
		saved := filepath.Join(old, name)
		have, err := exists(saved)
		if err != nil {
			return err
		}
		if !have {
			continue // never moved aside: the live one is the old one
		}
		live := filepath.Join(dataDir, name)
		if err := os.RemoveAll(live); err != nil {
			return err
		}
		if err := os.Rename(saved, live); err != nil {
			return err
		}
	}
	return syncDir(dataDir)
}

// cleanup removes what a finished or rolled-back restore leaves: the old
// state, the staging directory, then the journal (last, so a crash in
// between repeats the cleanup).
func cleanup(dataDir string) error {
	for _, name := range []string{oldDirName, stagingDirName, journalTemp} {
		if err := os.RemoveAll(filepath.Join(dataDir, name)); err != nil {
			return err
		}
	}
	if err := syncDir(dataDir); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dataDir, journalName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(dataDir)
}

// removeCheckpoints removes store checkpoints that a backup killed
// mid-way left in dataDir (its ScratchDir).
func removeCheckpoints(dataDir string) error {
	ents, err := os.ReadDir(dataDir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), checkpointPrefix) {
			if err := os.RemoveAll(filepath.Join(dataDir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}
