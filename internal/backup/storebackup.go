package backup

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mqsight/mqsight/internal/archive"
	"github.com/mqsight/mqsight/internal/destination"
	"github.com/mqsight/mqsight/internal/failpoint"
	"github.com/mqsight/mqsight/internal/store"
)

// copyBufferSize is the chunk in which checkpoint files are streamed (and
// progress reported and cancellation checked).
const copyBufferSize = 1 << 20

// backupStore takes the checkpoint and streams it to dest. It returns the
// configuration snapshot that was in force at the checkpoint.
// beforeCommit gets the finished file's size and SHA-256 (hex) before it is
// committed.
func backupStore(ctx context.Context, req BackupRequest, deps BackupDeps, dest destination.Destination, loc *destination.Location, id string, key *archive.Key, beforeCommit func(size int64, sha256 string) error) (*StoreResult, *snapshot, *archive.StoreBackup, error) {
	if _, err := dest.Stat(ctx, loc.Name); err == nil {
		return nil, nil, nil, fmt.Errorf("store backup %s: %w", loc.Name, ErrNameTaken)
	} else if !errors.Is(err, destination.ErrNotFound) {
		return nil, nil, nil, fmt.Errorf("store backup %s: %w", loc, err)
	}
	scratch, err := os.MkdirTemp(deps.ScratchDir, checkpointPrefix)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("store checkpoint: %w", err)
	}
	defer os.RemoveAll(scratch)
	req.Progress.report(PhaseCheckpoint, 0, 0)
	cpDir, snap, lsn, uid, err := checkpoint(deps, scratch)
	if err != nil {
		return nil, nil, nil, err
	}
	deps.at("backup:checkpoint")
	if err := deps.Failpoints.Eval(failpoint.BackupAfterCheckpoint); err != nil {
		return nil, nil, nil, err
	}
	files, total, err := listTree(cpDir)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("store checkpoint: %w", err)
	}
	m := &archive.Manifest{
		ServerVersion:    req.ServerVersion,
		ServerName:       snap.cfg.ServerName,
		ServerUID:        snap.cfg.ServerUID,
		BackupID:         id,
		Created:          snapTime(),
		ConfigGeneration: snap.cfg.Generation,
		LSN:              lsn,
		StoreUID:         uid,
		StoreFormat:      store.FormatVersion,
	}
	up, err := dest.Create(ctx, loc.Name)
	if err != nil {
		if errors.Is(err, destination.ErrExists) {
			return nil, nil, nil, fmt.Errorf("store backup %s: %w", loc.Name, ErrNameTaken)
		}
		return nil, nil, nil, fmt.Errorf("store backup %s: %w", loc, asDestinationMissing(err))
	}
	defer up.Abort() // no-op after Commit
	var aw *archive.Writer
	defer func() {
		if aw != nil {
			aw.Abort() // no-op after Close
		}
	}()
	// Reading, hashing, encryption and writing run in the background so
	// that publishing keeps its CPU and disk.
	err = inBackground(func() error {
		var err error
		aw, err = archive.NewWriter(ctxWriter{ctx, up}, "", archive.KindStore, archive.WriterOptions{Key: key, Go: goBackground})
		if err != nil {
			return err
		}
		if err := aw.WriteManifest(m); err != nil {
			return err
		}
		buf := make([]byte, copyBufferSize)
		var done int64
		req.Progress.report(PhaseUpload, 0, total)
		pace := newPacer(ctx, deps.Store.LastLSN, req.TrafficYield)
		for i, f := range files {
			deps.at("backup:entry")
			if i+1 < len(files) {
				prefetch(cpDir, files[i+1])
			}
			if err := copyEntry(ctx, aw, cpDir, f, buf, func(n int) {
				done += int64(n)
				req.Progress.report(PhaseUpload, done, total)
				pace.step()
			}); err != nil {
				return err
			}
		}
		return aw.Close()
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("store backup: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("store backup: %w", err)
	}
	deps.at("backup:store-written")
	if err := deps.Failpoints.Eval(failpoint.BackupBeforeCommit); err != nil {
		return nil, nil, nil, fmt.Errorf("store backup: %w", err)
	}
	sum := hex.EncodeToString(aw.SHA256())
	if err := beforeCommit(aw.Size(), sum); err != nil {
		return nil, nil, nil, fmt.Errorf("store backup: %w", err)
	}
	info, err := up.Commit()
	if err != nil {
		if errors.Is(err, destination.ErrExists) {
			return nil, nil, nil, fmt.Errorf("store backup %s: %w", loc.Name, ErrNameTaken)
		}
		return nil, nil, nil, fmt.Errorf("store backup %s: commit: %w", loc, err)
	}
	sb := &archive.StoreBackup{Name: loc.Name, Size: aw.Size(), SHA256: sum, LSN: lsn, StoreUID: uid, StoreFormat: store.FormatVersion}
	return &StoreResult{Name: loc.Name, URL: loc.String(), LSN: lsn, Size: aw.Size(), SHA256: sum, Synced: info.Synced}, snap, sb, nil
}

// asDestinationMissing turns a destination's ErrNotFound, when a store
// backup is to be written, into ErrDestinationMissing: what is missing is
// its directory or bucket, not a store backup.
func asDestinationMissing(err error) error {
	if errors.Is(err, destination.ErrNotFound) {
		return fmt.Errorf("%w: %v", ErrDestinationMissing, err)
	}
	return err
}

// checkpoint takes the store checkpoint under scratch and returns its
// directory, the configuration in force at that moment, its LSN and the
// store UID. The generation and the UID are read before the checkpoint and
// again right after it (with the configuration snapshot); if either
// changed (a configuration change, a store Clean), the checkpoint is
// dropped and retaken, at most maxCheckpointTries times. Reading the UID
// this way avoids opening the checkpoint, which would replay its WAL.
func checkpoint(deps BackupDeps, scratch string) (string, *snapshot, uint64, string, error) {
	for try := range maxCheckpointTries {
		dir := filepath.Join(scratch, fmt.Sprintf("store-%d", try))
		gen, uid := deps.Config.Current().Generation, deps.Store.UID()
		lsn, err := deps.Store.Checkpoint(dir)
		if err != nil {
			return "", nil, 0, "", fmt.Errorf("store checkpoint: %w", err)
		}
		after, err := takeSnapshot(deps.Config)
		if err != nil {
			return "", nil, 0, "", err
		}
		if gen == after.cfg.Generation && uid == deps.Store.UID() {
			return dir, after, lsn, uid, nil
		}
		if err := os.RemoveAll(dir); err != nil {
			return "", nil, 0, "", fmt.Errorf("store checkpoint: %w", err)
		}
	}
	return "", nil, 0, "", fmt.Errorf("store checkpoint: the configuration or the store changed during each of %d attempts", maxCheckpointTries)
}

// treeFile is one regular file of a checkpoint.
type treeFile struct {
	rel  string // slash-separated path relative to the root
	mode fs.FileMode
	size int64
}

// listTree lists the regular files under root (sorted, as WalkDir visits
// them) and their total size. Anything else than directories and regular
// files is refused.
func listTree(root string) ([]treeFile, int64, error) {
	var files []treeFile
	var total int64
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", path)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		files = append(files, treeFile{rel: filepath.ToSlash(rel), mode: info.Mode().Perm(), size: info.Size()})
		total += info.Size()
		return nil
	})
	return files, total, err
}

// Reading ahead. On a cold page cache the backup would wait for each read
// from disk and then encrypt, one after the other; it asks the kernel to
// read ahead instead: the next file from its start while the current one
// is copied, and within a file always the readAhead bytes after the next
// ones. At most a few readAhead windows are in flight, whatever the store's
// size.
const readAhead = 16 << 20

// prefetch starts reading the first readAhead bytes of f.
func prefetch(root string, f treeFile) {
	src, err := os.Open(filepath.Join(root, filepath.FromSlash(f.rel)))
	if err != nil {
		return // copyEntry reports it
	}
	willNeed(src, 0, min(f.size, readAhead))
	src.Close()
}

// copyEntry streams one checkpoint file into the archive. The file's size
// was taken when listing; checkpoint files are immutable (hard links to
// sstables, or copies), so a different size is an error.
func copyEntry(ctx context.Context, aw *archive.Writer, root string, f treeFile, buf []byte, progress func(int)) error {
	src, err := os.Open(filepath.Join(root, filepath.FromSlash(f.rel)))
	if err != nil {
		return err
	}
	defer src.Close()
	w, err := aw.CreateEntry(f.rel, f.mode, f.size)
	if err != nil {
		return err
	}
	var n int64
	for n < f.size {
		if err := ctx.Err(); err != nil {
			return err
		}
		if n%readAhead == 0 {
			willNeed(src, n+readAhead, readAhead)
		}
		chunk := buf[:min(int64(len(buf)), f.size-n)]
		if _, err := io.ReadFull(src, chunk); err != nil {
			return fmt.Errorf("read %s: %w", f.rel, err)
		}
		if _, err := w.Write(chunk); err != nil {
			return err
		}
		n += int64(len(chunk))
		progress(len(chunk))
	}
	return nil
}
