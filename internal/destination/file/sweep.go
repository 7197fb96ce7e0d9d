package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/mqsight/mqsight/internal/destination"
)

var _ destination.Sweeper = (*Destination)(nil)

// Sweep implements destination.Sweeper: it removes regular files with
// temporary names modified before cutoff, then fsyncs the directory.
func (d *Destination) Sweep(ctx context.Context, cutoff time.Time) ([]string, error) {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return nil, fmt.Errorf("sweep %s: %w", d.dir, mapErr(err))
	}
	var removed []string
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return removed, fmt.Errorf("sweep %s: %w", d.dir, err)
		}
		if _, ok := destination.IsTempName(e.Name()); !ok || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // committed or aborted meanwhile
		}
		if err != nil {
			return removed, fmt.Errorf("sweep %s: %w", d.dir, err)
		}
		if !fi.ModTime().Before(cutoff) {
			continue
		}
		if err := os.Remove(filepath.Join(d.dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("sweep %s: %w", d.dir, err)
		}
		removed = append(removed, e.Name())
	}
	if len(removed) > 0 {
		if err := d.syncDir(); err != nil {
			return removed, fmt.Errorf("sweep %s: %w", d.dir, err)
		}
	}
	return removed, nil
}
