package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mqsight/mqsight/internal/destination"
)

// Destination is a directory on a local or mounted filesystem. It holds no
// open resources and is safe for concurrent use; its fields are set by New.
type Destination struct {
	dir string
	// fsync flushes a file or directory to stable storage: (*os.File).Sync,
	// replaced by tests to observe the order of durability steps.
	fsync func(*os.File) error
}

var _ destination.Destination = (*Destination)(nil)

// New returns a Destination over dir, which must be an absolute path to an
// existing directory (destination.ErrNotFound otherwise).
func New(dir string) (*Destination, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("file destination %q: %w: directory must be absolute", dir, destination.ErrBadURL)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("file destination: %w", mapErr(err))
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("file destination %q: %w: not a directory", dir, destination.ErrNotFound)
	}
	return &Destination{dir: filepath.Clean(dir), fsync: (*os.File).Sync}, nil
}

// FromLocation returns a Destination for a parsed file:// location.
func FromLocation(loc *destination.Location) (*Destination, error) {
	if loc.Scheme != destination.SchemeFile {
		return nil, fmt.Errorf("file destination: %w: scheme %q", destination.ErrBadURL, loc.Scheme)
	}
	return New(loc.Dir)
}

// Dir returns the directory the destination writes into.
func (d *Destination) Dir() string { return d.dir }

// Create implements destination.Destination.
func (d *Destination) Create(ctx context.Context, name string) (destination.Upload, error) {
	if err := destination.CheckName(name); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	final := filepath.Join(d.dir, name)
	if _, err := os.Lstat(final); err == nil {
		return nil, fmt.Errorf("create %s: %w", final, destination.ErrExists)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("create %s: %w", final, mapErr(err))
	}
	tmp := filepath.Join(d.dir, destination.TempName(name))
	f, direct, err := createTemp(tmp)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", final, mapErr(err))
	}
	return &upload{ctx: ctx, d: d, final: final, tmp: tmp, f: f, direct: direct}, nil
}

// Open implements destination.Destination.
func (d *Destination) Open(ctx context.Context, name string) (destination.Object, error) {
	if err := destination.CheckName(name); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	p := filepath.Join(d.dir, name)
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, mapErr(err))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open %s: %w", p, mapErr(err))
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("open %s: %w: not a regular file", p, destination.ErrNotFound)
	}
	return &object{File: f, size: fi.Size()}, nil
}

// Stat implements destination.Destination.
func (d *Destination) Stat(ctx context.Context, name string) (destination.Info, error) {
	if err := destination.CheckName(name); err != nil {
		return destination.Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return destination.Info{}, fmt.Errorf("stat %s: %w", name, err)
	}
	p := filepath.Join(d.dir, name)
	fi, err := os.Stat(p)
	if err != nil {
		return destination.Info{}, fmt.Errorf("stat %s: %w", p, mapErr(err))
	}
	if !fi.Mode().IsRegular() {
		return destination.Info{}, fmt.Errorf("stat %s: %w: not a regular file", p, destination.ErrNotFound)
	}
	return destination.Info{Name: name, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Remove implements destination.Destination. The directory is fsynced so
// the removal is durable.
func (d *Destination) Remove(ctx context.Context, name string) error {
	if err := destination.CheckName(name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	p := filepath.Join(d.dir, name)
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("remove %s: %w", p, mapErr(err))
	}
	if err := d.syncDir(); err != nil {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return nil
}

// object is an open committed file.
type object struct {
	*os.File
	size int64
}

func (o *object) Size() int64 { return o.size }

// mapErr adds the destination sentinel matching a filesystem error, keeping
// the original in the chain.
func mapErr(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %w", destination.ErrNotFound, err)
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %w", destination.ErrExists, err)
	}
	return err
}

// syncDir fsyncs the directory so that entries created, renamed or removed
// in it are durable.
func (d *Destination) syncDir() error {
	f, err := os.Open(d.dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer f.Close()
	if err := d.fsync(f); err != nil {
		return fmt.Errorf("sync directory %s: %w", d.dir, err)
	}
	return nil
}
