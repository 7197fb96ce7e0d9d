package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/mqsight/mqsight/internal/admin"
	"github.com/mqsight/mqsight/internal/backup"
)

// ErrDataDirLocked is returned when another process holds the data directory.
var ErrDataDirLocked = errors.New("data directory is in use by another mqsight process")

// dataDir is an open, exclusively locked data directory.
type dataDir struct {
	path string
	lock *os.File
}

// openDataDir creates path if needed (0700) and takes its lock.
func openDataDir(path string) (*dataDir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("data directory %q: %w", path, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(abs, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open data directory lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", abs, ErrDataDirLocked)
		}
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	return &dataDir{path: abs, lock: f}, nil
}

func (d *dataDir) configDir() string { return filepath.Join(d.path, "config") }
func (d *dataDir) storeDir() string  { return filepath.Join(d.path, "store") }

// userFilesDir holds files uploaded through the admin API.
func (d *dataDir) userFilesDir() string { return filepath.Join(d.path, "userfiles") }

// removeTemporaries removes what writers killed mid-way left behind:
// temporaries of backups and exports, of uploads to the user files and
// certificates directories, and of the maintenance marker. None of them
// is ever read, but a killed store backup's configuration temporary or an
// export directory can be large. Called at start, before anything can
// write.
func (d *dataDir) removeTemporaries(certDir string) error {
	if err := backup.RemoveTemporaries(d.userFilesDir()); err != nil {
		return err
	}
	if err := admin.RemoveTemporaries(d.userFilesDir(), certDir); err != nil {
		return err
	}
	ents, err := os.ReadDir(d.path)
	if err != nil {
		return fmt.Errorf("remove temporary files: %w", err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), maintenanceTempPrefix) && e.Type().IsRegular() {
			if err := os.Remove(filepath.Join(d.path, e.Name())); err != nil {
				return fmt.Errorf("remove temporary files: %w", err)
			}
		}
	}
	return nil
}

// close releases the lock.
func (d *dataDir) close() error { return d.lock.Close() }
