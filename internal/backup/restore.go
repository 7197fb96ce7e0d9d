package backup

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/mqsight/mqsight/internal/archive"
	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/failpoint"
)

// RestoreRequest is one restore as the admin API or CLI asks for it.
type RestoreRequest struct {
	// ConfigBackup is the path of the configuration backup file (a file in
	// <datadir>/userfiles).
	ConfigBackup string
	// Password decrypts both the configuration and the store backup.
	Password string
	// IncludeServerConfig selects the restore mode (see Plan).
	IncludeServerConfig bool
	// Store, when not zero, names the store backup to restore; zero means
	// the restored server starts with a clean store.
	Store StoreParams
	// DryRun: decrypt, authenticate, check and plan everything, then remove
	// what was staged. Nothing in the data directory changes.
	DryRun bool
	// Progress receives byte progress of reading the store backup.
	Progress ProgressFunc
}

// RestorerOptions configure a Restorer.
type RestorerOptions struct {
	// Open connects to store sources.
	Open Opener
	// Failpoints may be nil. Apply evaluates RestoreBeforeSwap and
	// RestoreAfterSwap.
	Failpoints *failpoint.Set
	// ServerCertificates: see PlanInput.ServerCertificates.
	ServerCertificates []string
	// FreeSpace reports the bytes available on the filesystem of a
	// directory (ok false: it cannot tell); nil is the filesystem's own
	// answer (statfs). Tests replace it.
	FreeSpace func(dir string) (n uint64, ok bool)
}

// Restorer restores backups into one data directory. At most one restore
// (staged, dry run or applying) runs at a time: Stage returns ErrBusy
// otherwise. The guard is an atomic flag for this process plus the
// exclusive creation of <datadir>/.restore-staging for any process.
//
// The data directory layout it relies on: <datadir>/config (server.json and
// certificates/, owned by config.Manager) and <datadir>/store (owned by
// store.Store). It adds <datadir>/.restore-staging/{config,store},
// <datadir>/.restore-old and <datadir>/.restore-journal while it works.
type Restorer struct {
	dataDir string
	opts    RestorerOptions
	// step, when set (tests), is called at every numbered point of
	// Stage and Apply; a crash test kills the process there.
	step func(point string)
	busy atomic.Bool
}

// NewRestorer returns a Restorer for dataDir.
func NewRestorer(dataDir string, opts RestorerOptions) *Restorer {
	return &Restorer{dataDir: dataDir, opts: opts}
}

func (r *Restorer) at(point string) {
	if r.step != nil {
		r.step(point)
	}
}

// Result is the outcome of Restore.
type Result struct {
	// Plan is what the restore did (or, for a dry run, would do).
	Plan *Plan
	// ConfigManifest is the configuration backup's manifest; StoreManifest
	// the store backup's (nil when the store is cleaned).
	ConfigManifest *archive.Manifest
	StoreManifest  *archive.Manifest
	// FlaggedMessages is the number of restored messages, all marked as
	// from a backup (store.MarkRestored). A dry run counts them in the
	// staged store; an applied restore leaves it to the caller, whose
	// engine counts them as it loads them (0 here).
	FlaggedMessages int
	// Applied is false for a dry run.
	Applied bool
	// EndpointsNotStarted, filled by the caller that started the
	// components, says which restored endpoints could not listen (one
	// text per endpoint); the restore stands all the same.
	EndpointsNotStarted []string
}

// Restore stages req against the current configuration and, unless it is
// a dry run, applies it with comps stopped (see Stage and Staged.Apply).
// current is the configuration in force (config.Manager.Current).
func (r *Restorer) Restore(ctx context.Context, req RestoreRequest, current *config.Config, comps Components) (*Result, error) {
	s, err := r.Stage(ctx, req, current)
	if err != nil {
		return nil, err
	}
	res := s.Result()
	if req.DryRun {
		return res, nil
	}
	if err := s.Apply(ctx, comps); err != nil {
		return nil, err
	}
	res.Applied = true
	return res, nil
}

var errReleased = errors.New("restore: staged restore already applied or discarded")

// release ends the restore's hold on the Restorer.
func (r *Restorer) release() { r.busy.Store(false) }
