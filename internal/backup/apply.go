package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mqsight/mqsight/internal/failpoint"
	"github.com/mqsight/mqsight/internal/store"
)

// Apply switches the server to the staged state in one step and releases
// the Restorer:
//
//	stop components (comps.Stop)
//	journal "swapping"                     ─┐ a crash from here on is
//	mkdir .restore-old                      │ rolled back by Recover:
//	config, store[, store.deleting] → .restore-old/
//	staging/config, staging/store → config, store
//	fsync the data directory               ─┘
//	journal "done"                          ← commit point
//	remove .restore-old, staging, journal  (Recover finishes this)
//	start components (comps.Start)
//
// Every rename stays inside the data directory (one filesystem), so each
// is atomic. An error before the commit point rolls back (as Recover
// would), starts the components again on the old state and returns the
// error; after it, the restore stands and a failure to start is returned
// wrapped. Failpoints RestoreBeforeSwap and RestoreAfterSwap sit before the
// journal is written and before the commit point.
//
// Apply does not watch ctx once the switch has begun (it is passed to
// comps.Stop only): a half-done switch is never abandoned. Apply on a
// Staged that was already applied, discarded or made by a dry run fails
// without doing anything.
func (s *Staged) Apply(ctx context.Context, comps Components) error {
	if s.released {
		return errReleased
	}
	s.released = true
	r := s.r
	defer r.release()
	r.at("apply:begin")
	s.progress.report(PhaseApply, 0, 2)
	if err := comps.Stop(ctx); err != nil {
		os.RemoveAll(r.stagingDir())
		if serr := comps.Start(context.WithoutCancel(ctx)); serr != nil {
			err = errors.Join(err, serr)
		}
		return fmt.Errorf("restore: stop components: %w", err)
	}
	r.at("apply:stopped")
	s.progress.report(PhaseApply, 1, 2)
	err := r.reincarnate()
	if err == nil {
		err = r.swap(s.res.ConfigManifest.BackupID)
	}
	if err != nil {
		err = fmt.Errorf("restore: %w", err)
		committed, rerr := r.undo()
		if rerr == nil && committed {
			// The commit record reached the disk although a later step
			// reported an error: the restore stands.
			if serr := comps.Start(context.WithoutCancel(ctx)); serr != nil {
				return fmt.Errorf("restore: applied, but starting the components failed: %w", serr)
			}
			return nil
		}
		if rerr != nil {
			// The journal stays; Recover at the next start rolls back.
			return errors.Join(err, fmt.Errorf("restore: roll back: %w", rerr))
		}
		if serr := comps.Start(context.WithoutCancel(ctx)); serr != nil {
			err = errors.Join(err, fmt.Errorf("restore: start components on the old state: %w", serr))
		}
		return err
	}
	if err := cleanup(r.dataDir); err != nil {
		// The new state stands; Recover finishes the cleanup at next start.
		err = fmt.Errorf("restore: applied, but cleaning up failed: %w", err)
		if serr := comps.Start(context.WithoutCancel(ctx)); serr != nil {
			err = errors.Join(err, serr)
		}
		return err
	}
	r.at("apply:cleaned")
	if err := comps.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("restore: applied, but starting the components failed: %w", err)
	}
	s.progress.report(PhaseApply, 2, 2)
	return nil
}

// swap performs the journaled switch up to and including the commit point.
func (r *Restorer) swap(backupID string) error {
	if err := r.opts.Failpoints.Eval(failpoint.RestoreBeforeSwap); err != nil {
		return err
	}
	j := journal{Version: journalVersion, State: stateSwapping, BackupID: backupID, Time: time.Now().UTC()}
	if err := writeJournal(r.dataDir, j); err != nil {
		return err
	}
	r.at("apply:journal")
	old := filepath.Join(r.dataDir, oldDirName)
	if err := os.Mkdir(old, 0o700); err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	for _, name := range swapped() {
		live := filepath.Join(r.dataDir, name)
		have, err := exists(live)
		if err != nil {
			return fmt.Errorf("switch: %w", err)
		}
		if !have {
			continue
		}
		if err := os.Rename(live, filepath.Join(old, name)); err != nil {
			return fmt.Errorf("switch: %w", err)
		}
		r.at("apply:aside:" + name)
	}
	for _, name := range []string{configDirName, storeDirName} {
		if err := os.Rename(filepath.Join(r.stagingDir(), name), filepath.Join(r.dataDir, name)); err != nil {
			return fmt.Errorf("switch: %w", err)
		}
		r.at("apply:in:" + name)
	}
	if err := syncDir(old); err != nil {
		return err
	}
	if err := syncDir(r.dataDir); err != nil {
		return err
	}
	r.at("apply:swapped")
	if err := r.opts.Failpoints.Eval(failpoint.RestoreAfterSwap); err != nil {
		return err
	}
	j.State = stateDone
	if err := writeJournal(r.dataDir, j); err != nil {
		return err
	}
	r.at("apply:committed")
	return nil
}

// undo rolls back a failed swap in this process, exactly as Recover would
// after a crash. committed reports that the journal had reached "done"
// (then the new state is kept, as Recover would).
func (r *Restorer) undo() (committed bool, err error) {
	j, ok, err := readJournal(r.dataDir)
	if err != nil {
		return false, err
	}
	if ok && j.State == stateSwapping {
		if err := rollback(r.dataDir); err != nil {
			return false, err
		}
	}
	return ok && j.State == stateDone, cleanup(r.dataDir)
}

// reincarnate gives the staged store a new UID and an LSN at least the
// (now closed) live store's, so that LSNs never repeat on this server and
// the restored data does not claim the identity of the store it was backed
// up from: a (UID, LSN) pair names one state. A crash here leaves the
// staging to be discarded by Recover; the live state is untouched.
func (r *Restorer) reincarnate() error {
	var floor uint64
	if _, lsn, err := store.ReadMeta(filepath.Join(r.dataDir, storeDirName)); err == nil {
		floor = lsn
	}
	if _, _, err := store.Reincarnate(filepath.Join(r.stagingDir(), storeDirName), floor); err != nil {
		return fmt.Errorf("give the restored store a new identity: %w", err)
	}
	return nil
}
