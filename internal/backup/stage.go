package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/mqsight/mqsight/internal/archive"
	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/destination"
	"github.com/mqsight/mqsight/internal/failpoint"
	"github.com/mqsight/mqsight/internal/store"
)

// Staged is a restore decrypted, authenticated, checked and written beside
// the live data (<datadir>/.restore-staging/{config,store}), not yet
// applied. It holds the Restorer until Apply or Discard. It is used by one
// goroutine.
type Staged struct {
	r        *Restorer
	res      Result
	progress ProgressFunc
	released bool
}

// Plan is what Apply will do.
func (s *Staged) Plan() *Plan { return s.res.Plan }

// Result describes the staged restore (Applied false).
func (s *Staged) Result() *Result {
	res := s.res
	return &res
}

// Discard removes the staging directory and releases the Restorer.
func (s *Staged) Discard() error {
	if s.released {
		return nil
	}
	s.released = true
	defer s.r.release()
	if err := os.RemoveAll(s.r.stagingDir()); err != nil {
		return fmt.Errorf("discard staged restore: %w", err)
	}
	return nil
}

func (r *Restorer) stagingDir() string { return filepath.Join(r.dataDir, stagingDirName) }

// Stage prepares a restore without touching the live state:
//
//  1. take the Restorer (ErrBusy if another restore holds it, or if a
//     staging directory or journal exists in the data directory);
//  2. read the whole configuration backup and authenticate it to its end
//     (ReadConfigBackup);
//  3. plan (PlanRestore) against current, so that a restore that would
//     not be valid here is refused before any store data is read;
//  4. with a store source: check the binding from the manifests before
//     reading any data (ErrStoreMismatch; ErrStoreMissing when the object
//     is absent), stream the store backup into staging/store, reach its
//     authenticated end, check its size and SHA-256 against the
//     configuration manifest, check the staged store's UID and LSN, and
//     mark its messages as restored (store.MarkRestored); without one, create
//     an empty store there;
//  5. write the planned server.json and certificates into staging/config
//     and fsync the staging tree.
//
// For a dry run the staging directory is then removed and the Restorer
// released: the returned Staged only describes the plan (Apply refuses).
// On error everything staged is removed.
func (r *Restorer) Stage(ctx context.Context, req RestoreRequest, current *config.Config) (*Staged, error) {
	if !r.busy.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("restore: %w", ErrBusy)
	}
	if current == nil {
		r.release()
		return nil, errors.New("restore: no current configuration")
	}
	if j, err := exists(filepath.Join(r.dataDir, journalName)); err != nil || j {
		r.release()
		return nil, fmt.Errorf("restore: a previous restore is unfinished (restart the server): %w", ErrBusy)
	}
	if err := os.Mkdir(r.stagingDir(), 0o700); err != nil {
		r.release()
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("restore: %w", ErrBusy)
		}
		return nil, fmt.Errorf("restore: %w", err)
	}
	s := &Staged{r: r, progress: req.Progress}
	ok := false
	defer func() {
		if !ok || req.DryRun {
			s.Discard()
		}
	}()
	r.at("stage:begin")
	if err := r.stage(ctx, req, current, s); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	r.at("stage:done")
	if err := r.opts.Failpoints.Eval(failpoint.RestoreAfterStage); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	ok = true
	return s, nil
}

func (r *Restorer) stage(ctx context.Context, req RestoreRequest, current *config.Config, s *Staged) error {
	loc, cred, err := req.Store.parse()
	if err != nil {
		return err
	}
	req.Progress.report(PhaseConfig, 0, 0)
	// A user file is a regular file: a symbolic link put in its place
	// after the admin API checked the name is not followed.
	cb, err := readConfigFile(req.ConfigBackup, req.Password, true)
	if err != nil {
		return err
	}
	s.res.ConfigManifest = cb.Manifest
	if loc != nil && cb.Manifest.StoreBackup == nil {
		return fmt.Errorf("%w: the configuration backup was made without a store backup", ErrStoreMismatch)
	}
	if err := checkStoreFormat(cb.Manifest.StoreBackup, loc != nil); err != nil {
		return err
	}
	// Plan before the store is read: a restore that cannot be valid here
	// is refused before a long download. The store facts come from the
	// authenticated configuration manifest; the store backup must match them.
	var info *StoreInfo
	if sb := cb.Manifest.StoreBackup; loc != nil {
		info = &StoreInfo{Name: sb.Name, LSN: sb.LSN, StoreUID: sb.StoreUID, Size: sb.Size}
	}
	liveCerts, err := readCertificateDir(filepath.Join(r.dataDir, configDirName, certificatesDir))
	if err != nil {
		return err
	}
	plan, err := PlanRestore(PlanInput{
		Current:             current,
		CurrentCertificates: certNames(liveCerts),
		Backup:              cb.Config,
		BackupCertificates:  cb.CertificateNames(),
		IncludeServerConfig: req.IncludeServerConfig,
		ServerCertificates:  r.opts.ServerCertificates,
		Store:               info,
	})
	if err != nil {
		return err
	}
	s.res.Plan = plan
	stagedStore := filepath.Join(r.stagingDir(), storeDirName)
	if loc != nil {
		if err := r.checkSpace(cb.Manifest.StoreBackup.Size); err != nil {
			return err
		}
		sm, err := r.stageStore(ctx, req, loc, cred, cb, stagedStore)
		if err != nil {
			return err
		}
		s.res.StoreManifest = sm
		r.at("stage:store")
		req.Progress.report(PhaseStage, 0, 0)
		if s.res.FlaggedMessages, err = markFromBackup(stagedStore, sm.StoreUID, sm.LSN, req.DryRun); err != nil {
			return err
		}
	} else {
		st, err := store.Open(stagedStore, store.Options{})
		if err != nil {
			return fmt.Errorf("create empty store: %w", err)
		}
		if err := st.Close(); err != nil {
			return fmt.Errorf("create empty store: %w", err)
		}
	}
	r.at("stage:flagged")
	if err := writeStagedConfig(filepath.Join(r.stagingDir(), configDirName), plan, cb.Certificates, liveCerts); err != nil {
		return err
	}
	r.at("stage:config")
	if err := syncTree(r.stagingDir()); err != nil {
		return err
	}
	return syncDir(r.dataDir)
}

// checkStoreFormat refuses, before anything is downloaded, a store backup
// whose store format (recorded since format 2) is newer than this build's:
// the engine could not read its records after the switch. markFromBackup
// checks the staged files themselves too, for backups that do not record it.
func checkStoreFormat(sb *archive.StoreBackup, withStore bool) error {
	if !withStore || sb.StoreFormat <= store.FormatVersion {
		return nil
	}
	return fmt.Errorf("%w: the store backup has store format %d; this server reads store formats 1 to %d", archive.ErrNewerFormat, sb.StoreFormat, store.FormatVersion)
}

// restoreSpaceReserve is the space a restore leaves free beside the staged
// store, so that the live store, which keeps running while a restore
// stages, can go on committing.
const restoreSpaceReserve = 256 << 20

// checkSpace refuses to stage a store backup of size bytes (its files take
// a little less) in the data directory unless restoreSpaceReserve stays
// free beside it. A dry run stages too, so that it rehearses the restore in
// full; it is refused the same way.
func (r *Restorer) checkSpace(size int64) error {
	free := r.opts.FreeSpace
	if free == nil {
		free = store.AvailableSpace
	}
	avail, ok := free(r.dataDir)
	if !ok {
		return nil
	}
	if need := uint64(max(size, 0)) + restoreSpaceReserve; avail < need {
		return fmt.Errorf("%w: staging the store backup needs %d bytes (its %d bytes and %d to spare for the live store), %d are available",
			ErrNoSpace, need, size, restoreSpaceReserve, avail)
	}
	return nil
}

// readConfigFile reads and authenticates the configuration backup at path;
// with noFollow a symbolic link there is refused, not followed.
func readConfigFile(path, password string, noFollow bool) (*ConfigBackup, error) {
	flags := os.O_RDONLY
	if noFollow {
		flags |= syscall.O_NOFOLLOW
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		return nil, fmt.Errorf("open configuration backup: %w", err)
	}
	defer f.Close()
	return ReadConfigBackup(f, password)
}

// stageStore streams the store backup at loc into dir and checks it.
func (r *Restorer) stageStore(ctx context.Context, req RestoreRequest, loc *destination.Location, cred destination.Credentials, cb *ConfigBackup, dir string) (*archive.Manifest, error) {
	dest, closeDest, err := open(ctx, r.opts.Open, loc, cred)
	if err != nil {
		return nil, err
	}
	defer closeDest()
	obj, err := dest.Open(ctx, loc.Name)
	if err != nil {
		if errors.Is(err, destination.ErrNotFound) {
			return nil, fmt.Errorf("store backup %s: %w", loc, ErrStoreMissing)
		}
		return nil, fmt.Errorf("store backup %s: %w", loc, err)
	}
	defer obj.Close()
	m, err := extractStore(ctx, obj, obj.Size(), req.Password, cb, dir, req.Progress)
	if err != nil {
		return nil, fmt.Errorf("store backup %s: %w", loc, err)
	}
	return m, nil
}

// extractStore reads a store backup from in (size bytes; negative if
// unknown), checks its binding to cb before reading data and again at its
// authenticated end, and writes its files under dir (created; "" to only
// verify). On error the caller removes dir. Files are fsynced by the
// caller (syncTree).
func extractStore(ctx context.Context, in io.Reader, size int64, password string, cb *ConfigBackup, dir string, progress ProgressFunc) (*archive.Manifest, error) {
	cfg := cb.Manifest
	// A format 2 store backup is encrypted to the key its configuration
	// backup carries; a format 1 one with the password.
	ar, err := archive.NewKeyReader(in, password, cb.StoreKey)
	if errors.Is(err, archive.ErrWrongKey) {
		// Encrypted for another configuration backup's key: another
		// backup's store.
		return nil, fmt.Errorf("%w: it was made with another configuration backup", ErrStoreMismatch)
	}
	if err != nil {
		return nil, err
	}
	if ar.Kind() != archive.KindStore {
		return nil, fmt.Errorf("it is a %s backup: %w", ar.Kind(), ErrWrongKind)
	}
	m := ar.Manifest()
	// Checked from the manifest and the size, before any data is read: a
	// foreign file costs one header.
	if err := CheckBinding(cfg, m, size, nil); err != nil {
		return nil, err
	}
	if dir != "" {
		if err := os.Mkdir(dir, 0o700); err != nil {
			return nil, err
		}
	}
	bufs := [2][]byte{make([]byte, copyBufferSize), make([]byte, copyBufferSize)}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, data, err := ar.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if dir != "" {
			if err := writeEntry(ctx, dir, h, data, bufs); err != nil {
				return nil, err
			}
		}
		progress.report(PhaseDownload, ar.BytesRead(), size)
	}
	if err := CheckBinding(cfg, m, ar.Size(), ar.SHA256()); err != nil {
		return nil, err
	}
	return m, nil
}

// writeEntry writes one archive entry under dir. Names are valid relative
// paths (fs.ValidPath, checked by the archive reader), so they stay inside
// dir.
func writeEntry(ctx context.Context, dir string, h *archive.EntryHeader, data io.Reader, bufs [2][]byte) error {
	if !fs.ValidPath(h.Name) || h.Name == "." {
		return fmt.Errorf("%w: entry name %q", archive.ErrCorrupt, h.Name)
	}
	path := filepath.Join(dir, filepath.FromSlash(h.Name))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, h.Mode.Perm()|0o600)
	if err != nil {
		return err
	}
	err = copyOverlapped(f, ctxReader{ctx, data}, bufs)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// copyOverlapped copies src to dst through the two buffers, writing one
// while reading (decrypting and hashing) into the other: a restore's
// writes into fresh page-cache pages cost about as much kernel time as
// its reading and decryption, and the two now share the machine's cores.
// At most one write is in flight, and it has ended when copyOverlapped
// returns.
func copyOverlapped(dst io.Writer, src io.Reader, bufs [2][]byte) error {
	done := make(chan error, 1)
	done <- nil // the write before the first: none
	for i := 0; ; i ^= 1 {
		n, rerr := fill(src, bufs[i])
		if err := <-done; err != nil {
			return err
		}
		if n > 0 {
			chunk := bufs[i][:n]
			go func() {
				_, err := dst.Write(chunk)
				done <- err
			}()
		} else {
			done <- nil
		}
		if rerr != nil {
			if err := <-done; err != nil {
				return err
			}
			if rerr == io.EOF {
				return nil
			}
			return rerr
		}
	}
}

// fill reads from r until buf is full, r ends (io.EOF) or fails.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// writeStagedConfig writes the planned document and certificate files into
// dir (created).
func writeStagedConfig(dir string, plan *Plan, fromBackup, fromCurrent []Certificate) error {
	certDir := filepath.Join(dir, certificatesDir)
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return err
	}
	doc, err := config.Marshal(plan.Config)
	if err != nil {
		return err
	}
	if err := writeFileSync(filepath.Join(dir, documentEntry), doc, 0o600); err != nil {
		return err
	}
	index := func(cs []Certificate) map[string]Certificate {
		m := make(map[string]Certificate, len(cs))
		for _, c := range cs {
			m[c.Name] = c
		}
		return m
	}
	src := map[CertificateSource]map[string]Certificate{FromBackup: index(fromBackup), FromCurrent: index(fromCurrent)}
	for _, cf := range plan.Certificates {
		c, ok := src[cf.From][cf.Name]
		if !ok {
			return fmt.Errorf("stage certificate %s: not found in %s", cf.Name, cf.From)
		}
		if err := writeFileSync(filepath.Join(certDir, c.Name), c.Data, c.Mode.Perm()|0o600); err != nil {
			return err
		}
	}
	return nil
}

func certNames(cs []Certificate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out
}
