package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mqsight/mqsight/internal/archive"
	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/destination"
	"github.com/mqsight/mqsight/internal/failpoint"
)

// BackupRequest is one backup as the admin API or CLI asks for it.
type BackupRequest struct {
	// Password encrypts both files; at least archive.MinPassphraseLen
	// characters. It is handed to the archive writer only.
	Password string
	// Dir is where the configuration backup is written
	// (<datadir>/userfiles). It must exist.
	Dir string
	// Time names the configuration backup (ConfigBackupName) in its own
	// location; zero means time.Now() in the server's local time.
	Time time.Time
	// Store, when not zero, asks for a store backup at that destination; the
	// URL's last path element is the store backup's file name.
	Store StoreParams
	// ServerVersion is recorded in the manifests.
	ServerVersion string
	// WorkFactor is the scrypt work factor; zero is the production default.
	// Tests lower it.
	WorkFactor int
	// TrafficYield is how many times as long as it worked a store backup
	// pauses while clients are active (see pacer); zero means
	// DefaultTrafficYield, a negative value never pauses.
	TrafficYield float64
	// Progress receives byte progress of the store upload.
	Progress ProgressFunc
}

// BackupDeps are the server parts a backup reads.
type BackupDeps struct {
	Config ConfigSource
	// Store is required for a store backup.
	Store StoreSource
	// ScratchDir holds the temporary store checkpoint; it must be on the
	// store's filesystem so the checkpoint is hard links (the server passes
	// the data directory). Recover removes checkpoints a crash left there.
	// ScratchDir also holds the marker of a store backup committed before
	// its configuration backup (RecoverPending).
	ScratchDir string
	// Open connects to store destinations.
	Open Opener
	// Failpoints may be nil.
	Failpoints *failpoint.Set

	// step, when set (tests), is called at the numbered points of a
	// backup; a crash test kills the process there.
	step func(point string)
}

func (d BackupDeps) at(point string) {
	if d.step != nil {
		d.step(point)
	}
}

// BackupResult describes a completed backup.
type BackupResult struct {
	// Name and Path of the configuration backup.
	Name string
	Path string
	// Manifest is the configuration backup's manifest (Manifest.StoreBackup
	// describes the store backup, if any).
	Manifest *archive.Manifest
	// Store is set when a store backup was written.
	Store *StoreResult
}

// StoreResult describes a committed store backup.
type StoreResult struct {
	Name string
	// URL is the destination without credentials, safe to show.
	URL    string
	LSN    uint64
	Size   int64
	SHA256 string
	// Synced reports whether the destination flushed the file to stable
	// storage (see destination.CommitInfo).
	Synced bool
}

// checkpointPrefix names the temporary checkpoint directories in ScratchDir.
const checkpointPrefix = ".backup-checkpoint-"

// maxCheckpointTries bounds how often a checkpoint is retaken when the
// configuration or the store UID changed while it was taken.
const maxCheckpointTries = 5

// Backup writes a configuration backup into req.Dir and, when req.Store is
// given, first a store backup to that destination, both bound by one
// BackupID.
//
// Store backup: the store is checkpointed online into ScratchDir (hard
// links; no traffic stops), the checkpoint files are streamed through an
// encrypting archive.Writer into a destination upload, and the upload is
// committed; then the configuration backup records the store file's size,
// SHA-256 and LSN. The configuration snapshot is the one whose generation
// was in force both before and after the checkpoint was taken (otherwise
// the checkpoint is retaken).
//
// Configuration backup: written to a temporary file in req.Dir, fsynced,
// linked to imaBackup.hhmmss-MMDDYYYY without replacing anything
// (ErrNameTaken), directory fsynced. With a store backup, the temporary file
// and its archive key (one scrypt derivation) are made on another goroutine
// while the store is checkpointed and streamed.
//
// On any error or cancellation nothing that looks complete is left: the
// upload is aborted, the temporary file removed, and a store backup whose
// configuration backup could not be written is removed again (best effort).
// The checkpoint directory is always removed.
func Backup(ctx context.Context, req BackupRequest, deps BackupDeps) (*BackupResult, error) {
	if len(req.Password) < archive.MinPassphraseLen {
		return nil, fmt.Errorf("backup: %w", archive.ErrShortPassword)
	}
	if deps.Config == nil {
		return nil, errors.New("backup: no configuration source")
	}
	t := req.Time
	if t.IsZero() {
		t = time.Now()
	}
	name := ConfigBackupName(t)
	finalPath := filepath.Join(req.Dir, name)
	loc, cred, err := req.Store.parse()
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if loc != nil && loc.Name == name {
		return nil, fmt.Errorf("backup: %w", ErrSameName)
	}
	if loc != nil && loc.Scheme == destination.SchemeFile && deps.ScratchDir != "" && within(loc.Dir, deps.ScratchDir) {
		// Among the server's own files a store backup could take a name
		// the store, the configuration or the server reads at its next
		// start (a Pebble manifest, the maintenance marker).
		return nil, fmt.Errorf("backup: %w: %s is inside the server's data directory; write store backups elsewhere", destination.ErrBadURL, loc)
	}
	if taken, err := exists(finalPath); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	} else if taken {
		return nil, fmt.Errorf("backup: %s: %w", name, ErrNameTaken)
	}
	id, err := newBackupID()
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	res := &BackupResult{Name: name, Path: finalPath}
	var (
		snap     *snapshot
		store    *archive.StoreBackup
		storeKey *archive.Key
		dest     destination.Destination
		cfile    *configFile
	)
	if loc != nil {
		if deps.Store == nil {
			return nil, errors.New("backup: no store to back up")
		}
		d, closeDest, err := open(ctx, deps.Open, loc, cred)
		if err != nil {
			return nil, fmt.Errorf("backup: %w", asDestinationMissing(err))
		}
		defer closeDest()
		dest = d
		// The store backup is encrypted to a key of its own, which the
		// configuration backup carries (archive.Key): one scrypt
		// derivation per backup, not two.
		if storeKey, err = archive.NewKey(); err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		configFile := startConfigFile(req, finalPath)
		beforeCommit := func(size int64, sum string) error {
			return markPending(deps.ScratchDir, pending{ConfigBackup: name, StoreURL: loc.String(), Size: size, SHA256: sum})
		}
		sr, sn, sb, err := backupStore(ctx, req, deps, dest, loc, id, storeKey, beforeCommit)
		c, cerr := configFile()
		if err != nil {
			// Not committed, or not known to be: a commit that lost its
			// connection in its last step keeps its entry, for the next
			// start to settle (file://) or report.
			if errors.Is(err, destination.ErrUncertain) {
				err = fmt.Errorf("%w; the store backup may have been left at %s: it cannot be restored, delete it", err, loc)
			} else {
				clearPending(deps.ScratchDir, name)
			}
			if cerr == nil {
				c.discard()
			}
			return nil, fmt.Errorf("backup: %w", err)
		}
		res.Store, snap, store = sr, sn, sb
		deps.at("backup:store-committed")
		if cerr != nil {
			removeStore(ctx, deps, dest, loc, name)
			return nil, fmt.Errorf("backup: %w", cerr)
		}
		cfile = c
	} else {
		if snap, err = takeSnapshot(deps.Config); err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		if cfile, err = createConfigFile(req, finalPath, false); err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
	}
	m := &archive.Manifest{
		ServerVersion:    req.ServerVersion,
		ServerName:       snap.cfg.ServerName,
		ServerUID:        snap.cfg.ServerUID,
		BackupID:         id,
		Created:          snapTime(),
		ConfigGeneration: snap.cfg.Generation,
		ObjectCounts:     ObjectCounts(snap.cfg),
		StoreBackup:      store,
	}
	if err := writeConfigBackup(ctx, deps, cfile, snap, m, finalPath, storeKey); err != nil {
		if dest != nil {
			removeStore(ctx, deps, dest, loc, name)
		}
		return nil, fmt.Errorf("backup: %w", err)
	}
	if dest != nil {
		clearPending(deps.ScratchDir, name)
	}
	res.Manifest = m
	return res, nil
}

// removeStore removes a committed store backup whose configuration backup
// (name) could not be written: it is useless without it and must not be
// mistaken for a finished pair. If that fails too, its pending entry stays,
// for the next start to report (RecoverPending).
func removeStore(ctx context.Context, deps BackupDeps, dest destination.Destination, loc *destination.Location, name string) {
	if dest.Remove(context.WithoutCancel(ctx), loc.Name) == nil {
		clearPending(deps.ScratchDir, name)
	}
}

// RemoveTemporaries removes the temporary files that backups killed
// mid-way left in dir (the userfiles directory): dot-files named
// .imaBackup.*.tmp-*. They never look like finished backups, but take
// space. Call it at server start, before any backup can run.
func RemoveTemporaries(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove backup temporaries: %w", err)
	}
	for _, e := range ents {
		if n := e.Name(); e.Type().IsRegular() && strings.HasPrefix(n, "."+namePrefix) && strings.Contains(n, ".tmp-") {
			if err := os.Remove(filepath.Join(dir, n)); err != nil {
				return fmt.Errorf("remove backup temporaries: %w", err)
			}
		}
	}
	return nil
}

// snapshot is the configuration document and the certificate files,
// read together.
type snapshot struct {
	cfg   *config.Config
	certs []Certificate
}

// takeSnapshot reads the current document and the certificates directory.
func takeSnapshot(src ConfigSource) (*snapshot, error) {
	c := src.Current()
	certs, err := readCertificateDir(src.CertificateDir())
	if err != nil {
		return nil, err
	}
	return &snapshot{cfg: c, certs: certs}, nil
}

// configOnlyVersion is the archive format of a configuration backup
// without a store backup: nothing in it needs a later one.
const configOnlyVersion = 1

// configFile is a configuration backup being written: its temporary file
// in req.Dir and the archive writer on it, whose key is derived.
type configFile struct {
	f  *os.File
	aw *archive.Writer
}

// createConfigFile creates the temporary file beside finalPath and starts
// the archive on it (the scrypt key derivation, about a second at the
// production work factor).
//
// withStore tells whether a store backup goes with it: the configuration
// backup then carries the store backup's key, which needs archive format
// 2. A configuration-only backup is written in format 1, which every
// mqsight reads.
func createConfigFile(req BackupRequest, finalPath string, withStore bool) (*configFile, error) {
	f, err := os.CreateTemp(req.Dir, "."+filepath.Base(finalPath)+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("write configuration backup: %w", err)
	}
	c := &configFile{f: f}
	if err := f.Chmod(0o600); err != nil {
		c.discard()
		return nil, fmt.Errorf("write configuration backup: %w", err)
	}
	opts := archive.WriterOptions{WorkFactor: req.WorkFactor}
	if !withStore {
		opts.Version = configOnlyVersion
	}
	if c.aw, err = archive.NewWriter(f, req.Password, archive.KindConfig, opts); err != nil {
		c.discard()
		return nil, fmt.Errorf("write configuration backup: %w", err)
	}
	return c, nil
}

// discard removes the temporary file.
func (c *configFile) discard() {
	if c.aw != nil {
		c.aw.Abort()
	}
	c.f.Close()
	os.Remove(c.f.Name())
}

// startConfigFile runs createConfigFile in the background (goBackground),
// so that the configuration archive's key derivation overlaps with the
// store backup. The returned function waits for it; it must be called exactly
// once, and the configFile it returns used or discarded.
func startConfigFile(req BackupRequest, finalPath string) func() (*configFile, error) {
	type result struct {
		c   *configFile
		err error
	}
	ch := make(chan result, 1)
	goBackground(func() {
		c, err := createConfigFile(req, finalPath, true)
		ch <- result{c, err}
	})
	return func() (*configFile, error) {
		r := <-ch
		return r.c, r.err
	}
}

// writeConfigBackup writes snap (and the store backup's key, if any)
// through c (see createConfigFile) and links it to finalPath; c is used up
// either way.
func writeConfigBackup(ctx context.Context, deps BackupDeps, c *configFile, snap *snapshot, m *archive.Manifest, finalPath string, storeKey *archive.Key) error {
	committed := false
	defer func() {
		if !committed {
			c.discard()
		}
	}()
	doc, err := config.Marshal(snap.cfg)
	if err != nil {
		return err
	}
	if err := fillConfigArchive(c.aw, m, doc, snap.certs, storeKey); err != nil {
		return fmt.Errorf("write configuration backup: %w", err)
	}
	if err := c.f.Sync(); err != nil {
		return fmt.Errorf("write configuration backup: %w", err)
	}
	if err := c.f.Close(); err != nil {
		return fmt.Errorf("write configuration backup: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write configuration backup: %w", err)
	}
	if err := deps.Failpoints.Eval(failpoint.BackupBeforeCommit); err != nil {
		return fmt.Errorf("write configuration backup: %w", err)
	}
	deps.at("backup:config-synced")
	if err := linkNoReplace(c.f.Name(), finalPath); err != nil {
		return err
	}
	committed = true
	deps.at("backup:config-linked")
	return nil
}

// newBackupID returns 16 random bytes in lowercase hex.
func newBackupID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("backup id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// ctxWriter fails writes once ctx is done, so a cancelled backup stops at
// the next chunk.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// snapTime is the creation time recorded in manifests.
func snapTime() time.Time { return time.Now().UTC() }

// within reports whether dir is root or inside it, symbolic links
// resolved where they exist.
func within(dir, root string) bool {
	resolve := func(p string) string {
		abs, err := filepath.Abs(p)
		if err != nil {
			return filepath.Clean(p)
		}
		if r, err := filepath.EvalSymlinks(abs); err == nil {
			return r
		}
		return abs
	}
	rel, err := filepath.Rel(resolve(root), resolve(dir))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
