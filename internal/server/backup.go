package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/mqsight/mqsight/internal/admin"
	"github.com/mqsight/mqsight/internal/archive"
	"github.com/mqsight/mqsight/internal/backup"
)

// WorkFactorEnv names the environment variable that lowers the scrypt work
// factor of new backups (archive.MinWorkFactor to archive.MaxWorkFactor).
// It exists for tests and benchmarks, which take many backups; production
// leaves it unset and gets archive.DefaultWorkFactor.
const WorkFactorEnv = "MQSIGHT_BACKUP_WORK_FACTOR"

var _ admin.BackupService = adminService{}

// Backup takes a backup with the running components (admin.BackupService).
// It holds them (Acquire) for the whole backup, so no restart or restore
// closes the store under a checkpoint; the job registry keeps backup,
// restore and restart apart anyway.
func (a adminService) Backup(ctx context.Context, req backup.BackupRequest) (*backup.BackupResult, error) {
	s := a.s
	c, release, err := a.Acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	if req.Dir == "" { // the admin API passes the user files directory, or a directory in it (export)
		req.Dir = s.dir.userFilesDir()
	}
	if err := os.MkdirAll(req.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("backup: create user files directory: %w", err)
	}
	req.ServerVersion = s.opts.Version
	if req.WorkFactor, err = backupWorkFactor(); err != nil {
		return nil, err
	}
	res, err := backup.Backup(ctx, req, backup.BackupDeps{
		Config:     c.Config,
		Store:      c.Store,
		ScratchDir: s.dir.path,
		Open:       destinationOpener(destinationOptions{}),
		Failpoints: s.opts.Failpoints,
	})
	if err != nil {
		return nil, err
	}
	attrs := []any{"name", res.Name, "backupID", res.Manifest.BackupID}
	if res.Store != nil {
		attrs = append(attrs, "storeURL", res.Store.URL, "lsn", res.Store.LSN, "size", res.Store.Size, "synced", res.Store.Synced)
	}
	s.log.Info("backup written", attrs...)
	return res, nil
}

// Restore stages req against the configuration in force and, unless it is
// a dry run, applies it: the components are stopped, the data directory
// switched, and the components opened again on the restored state
// (admin.BackupService). It runs as a job of the "server" exclusion group,
// so no restart or backup runs at the same time.
func (a adminService) Restore(ctx context.Context, req backup.RestoreRequest) (*backup.Result, error) {
	s := a.s
	r := backup.NewRestorer(s.dir.path, backup.RestorerOptions{
		Open:       destinationOpener(destinationOptions{}),
		Failpoints: s.opts.Failpoints,
		// The admin endpoint's self-signed certificate is this server's
		// identity, not messaging configuration.
		ServerCertificates: []string{admin.SelfSignedCert, admin.SelfSignedKey},
	})
	rc := &restoreComponents{s: s}
	m := s.cfg.Load()
	if !req.DryRun {
		// Changes made while the restore stages would be undone by the
		// switch: they are refused (409) until it ends. The manager that
		// Start opens on the restored directory is not frozen.
		thaw := m.Freeze()
		defer thaw()
	}
	res, err := r.Restore(ctx, req, m.Current(), rc)
	rc.release(err)
	if err != nil {
		return nil, err
	}
	if res.Applied {
		if e := s.MQTT(); e != nil {
			res.FlaggedMessages = e.RestoredMessages() // counted as the engine loaded them
		}
		// The restore stands, but messaging may not be all back: say so
		// where the operator reads the outcome, not only in the log.
		res.EndpointsNotStarted = errorList(rc.endpoints)
		s.log.Warn("restore applied", "backupID", res.ConfigManifest.BackupID,
			"includeServerConfig", req.IncludeServerConfig, "storeCleaned", res.Plan.Store.Clean,
			"storeLSN", res.Plan.Store.LSN, "flaggedMessages", res.FlaggedMessages)
	}
	return res, nil
}

// errorList is the texts of err's joined errors (one per endpoint); nil
// for nil.
func errorList(err error) []string {
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Error()
	}
	return out
}

// restoreComponents are the server's components as backup.Staged.Apply
// stops and starts them. Stop takes the server's mu for writing (waiting
// for admin requests that hold the components) and keeps it until Start
// has opened the components again, so no request sees a half-switched
// data directory. It is used by the one goroutine running the restore.
type restoreComponents struct {
	s      *Server
	locked bool // mu is held: between Stop and Start
	// endpoints is the error of the endpoints that did not start on the
	// restored (or rolled back) configuration.
	endpoints error
}

var _ backup.Components = (*restoreComponents)(nil)

// Stop closes the engine and the store; the configuration manager holds
// no file open.
func (rc *restoreComponents) Stop(context.Context) error {
	s := rc.s
	s.setState(runState{Status: "Stopping", State: 2, Description: "Stopping for restore"})
	s.mu.Lock()
	rc.locked = true
	if s.comps == nil {
		return nil
	}
	err := s.comps.close()
	s.comps = nil
	return err
}

// Start opens the configuration, the store and the engine from the data
// directory (restored, or old after a roll back) and starts the listeners.
// A failure leaves the server in maintenance state with no components,
// as a failed restart does.
func (rc *restoreComponents) Start(context.Context) error {
	s := rc.s
	if !rc.locked {
		return errors.New("restore: start without stop")
	}
	defer func() {
		rc.locked = false
		s.mu.Unlock()
	}()
	s.setState(runState{Status: "Starting", State: 0, Description: "Starting after restore"})
	m, _, _, err := s.openConfig()
	if err != nil {
		return rc.failLocked(err)
	}
	s.cfg.Store(m)
	comps := &components{config: m}
	if comps.store, err = s.openStore(); err != nil {
		return rc.failLocked(err)
	}
	if comps.mqtt, err = s.openEngine(comps.store, m); err != nil {
		comps.close()
		return rc.failLocked(err)
	}
	rc.endpoints = comps.start(s, s.maintenance)
	s.comps = comps
	s.setRunning(s.maintenance)
	return nil
}

// failLocked records a failed start in the server status.
func (rc *restoreComponents) failLocked(err error) error {
	rc.s.setState(runState{Status: "Running", State: 9, Description: "Running (maintenance)", ErrorCode: 1, ErrorMsg: err.Error()})
	rc.s.log.Error("starting after restore failed; the server is in maintenance", "err", err)
	return err
}

// release runs after Restore returned. Apply does not start the
// components again when even its roll back failed (the journal then stays
// for Recover at the next process start); the server is left without
// components, in maintenance state, and mu is released.
func (rc *restoreComponents) release(err error) {
	if !rc.locked {
		return
	}
	if err == nil {
		err = errors.New("restore returned without starting the components")
	}
	rc.failLocked(fmt.Errorf("%w; restart the process to recover", err))
	rc.locked = false
	rc.s.mu.Unlock()
}

// recoverRestore finishes or rolls back a restore that a crash
// interrupted, and settles a store backup that a crash left without its
// configuration backup, before the configuration and the store are
// opened.
func (s *Server) recoverRestore() error {
	out, err := backup.Recover(s.dir.path)
	if err != nil {
		return fmt.Errorf("recover interrupted restore: %w", err)
	}
	if out != backup.RecoverNothing {
		s.log.Warn("interrupted restore recovered", "outcome", string(out))
	}
	orphans, err := backup.RecoverPending(s.dir.path, s.dir.userFilesDir())
	for _, o := range orphans {
		if o.Err != nil {
			s.log.Warn("could not check the store backup an interrupted backup may have left; it is left as it is: "+
				"if it is that backup's, it cannot be restored, delete it", "storeURL", o.Orphan, "size", o.Size, "sha256", o.SHA256, "err", o.Err)
			continue
		}
		if o.Removed {
			s.log.Warn("removed the store backup of an interrupted backup: its configuration backup was never written",
				"storeURL", o.Orphan)
		} else {
			s.log.Warn("an interrupted backup may have left a store backup without its configuration backup; "+
				"it cannot be restored, delete it", "storeURL", o.Orphan, "size", o.Size, "sha256", o.SHA256)
		}
	}
	return err
}

// backupWorkFactor is the scrypt work factor for new backups: zero (the
// archive default) unless WorkFactorEnv sets one.
func backupWorkFactor() (int, error) {
	v := os.Getenv(WorkFactorEnv)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < archive.MinWorkFactor || n > archive.MaxWorkFactor {
		return 0, fmt.Errorf("%s=%q: want a number from %d to %d", WorkFactorEnv, v, archive.MinWorkFactor, archive.MaxWorkFactor)
	}
	return n, nil
}
