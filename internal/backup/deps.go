package backup

import (
	"context"
	"fmt"
	"io"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/destination"
)

// ConfigSource is what a backup needs of the configuration: the current
// document (an immutable snapshot) and the directory of certificate files.
// *config.Manager implements it.
type ConfigSource interface {
	Current() *config.Config
	CertificateDir() string
}

// StoreSource is what a backup needs of the store: an online checkpoint,
// the store's UID (which a checkpoint carries) and its last committed LSN
// (which tells the backup whether clients are active, see pacer).
// *store.Store implements it.
type StoreSource interface {
	Checkpoint(dir string) (lsn uint64, err error)
	UID() string
	LastLSN() uint64
}

// Components is the running server as a restore sees it: Apply stops every
// component that uses the configuration or the store before it switches
// them, and starts them again afterwards (on the new state, or on the old
// one when the switch did not happen). internal/server implements it; Stop
// must leave no file of <datadir>/config or <datadir>/store open.
type Components interface {
	Stop(ctx context.Context) error
	Start(ctx context.Context) error
}

// Opener connects to the destination a parsed store URL names. The
// composition root writes the scheme table (file, sftp/scp, s3); tests pass
// their own. If the returned Destination is also an io.Closer, this package
// closes it when done.
type Opener func(ctx context.Context, loc *destination.Location, cred destination.Credentials) (destination.Destination, error)

// StoreParams are the store destination (backup) or source (restore) as an
// admin request gives them. For sftp, scp and s3 URL, UserID and Password go
// together (all or none); file:// needs no credentials. HostKey optionally
// pins an SSH host key fingerprint. Password is a secret: it is handed to
// the destination only, never written or logged, and String redacts it.
type StoreParams struct {
	URL      string
	UserID   string
	Password string
	HostKey  string
}

// IsZero reports whether no store parameter was given.
func (p StoreParams) IsZero() bool { return p == StoreParams{} }

// String describes p without the password.
func (p StoreParams) String() string {
	return fmt.Sprintf("{URL:%q UserID:%q Password:<redacted> HostKey:%q}", p.URL, p.UserID, p.HostKey)
}

// GoString is String, so %#v does not print the password either.
func (p StoreParams) GoString() string { return p.String() }

// parse applies the all-or-none rule and parses the URL; (nil, ...) when
// nothing was given. Errors wrap destination.ErrBadURL or ErrCredentials
// (a *destination.MissingError names the missing parameters).
func (p StoreParams) parse() (*destination.Location, destination.Credentials, error) {
	cred := destination.Credentials{UserID: p.UserID, Password: p.Password, HostKey: p.HostKey}
	loc, err := destination.ParseParams(p.URL, cred)
	if err != nil {
		return nil, cred, fmt.Errorf("store parameters: %w", err)
	}
	return loc, cred, nil
}

// open connects to the store location with opener. The returned close
// function is never nil.
func open(ctx context.Context, opener Opener, loc *destination.Location, cred destination.Credentials) (destination.Destination, func(), error) {
	if opener == nil {
		return nil, func() {}, fmt.Errorf("store %s: no destination opener configured: %w", loc, destination.ErrBadURL)
	}
	d, err := opener(ctx, loc, cred)
	if err != nil {
		return nil, func() {}, fmt.Errorf("store %s: %w", loc, err)
	}
	closeFn := func() {}
	if c, ok := d.(io.Closer); ok {
		closeFn = func() { c.Close() }
	}
	return d, closeFn, nil
}

// Phase names a step of a backup or restore, for progress reports.
type Phase string

// Phases reported through ProgressFunc.
const (
	PhaseCheckpoint Phase = "checkpoint" // taking the store checkpoint
	PhaseUpload     Phase = "upload"     // streaming the store backup
	PhaseConfig     Phase = "config"     // writing or reading the configuration backup
	PhaseDownload   Phase = "download"   // reading and staging the store backup
	PhaseStage      Phase = "stage"      // preparing the staged store
	PhaseApply      Phase = "apply"      // switching to the restored state
)

// Progress is one progress report: Done of Total bytes in Phase (Total 0
// when unknown).
type Progress struct {
	Phase Phase
	Done  int64
	Total int64
}

// ProgressFunc receives progress reports on the goroutine doing the work;
// it must be quick and must not block. Nil means no reports.
type ProgressFunc func(Progress)

func (f ProgressFunc) report(p Phase, done, total int64) {
	if f != nil {
		f(Progress{Phase: p, Done: done, Total: total})
	}
}
