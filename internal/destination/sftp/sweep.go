package sftp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"time"

	"github.com/mqsight/mqsight/internal/destination"
)

var _ destination.Sweeper = (*Destination)(nil)

// Sweep implements destination.Sweeper: it removes regular files with
// temporary names whose server-side modification time is before cutoff
// (mind clock skew between client and server when choosing cutoff).
func (d *Destination) Sweep(ctx context.Context, cutoff time.Time) ([]string, error) {
	entries, err := d.client.ReadDirContext(ctx, d.dir)
	if err != nil {
		return nil, fmt.Errorf("sftp %s: sweep %s: %w", d.host, d.dir, mapErr(err))
	}
	var removed []string
	for _, fi := range entries {
		if err := ctx.Err(); err != nil {
			return removed, fmt.Errorf("sftp %s: sweep %s: %w", d.host, d.dir, err)
		}
		if _, ok := destination.IsTempName(fi.Name()); !ok || !fi.Mode().IsRegular() || !fi.ModTime().Before(cutoff) {
			continue
		}
		if err := d.client.Remove(path.Join(d.dir, fi.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("sftp %s: sweep %s: %w", d.host, d.dir, mapErr(err))
		}
		removed = append(removed, fi.Name())
	}
	return removed, nil
}
