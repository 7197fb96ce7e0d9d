package sftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"

	pkgsftp "github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/mqsight/mqsight/internal/destination"
)

// Destination is a directory on an SFTP server reached over one SSH
// connection. It is safe for concurrent use (pkg/sftp multiplexes
// requests); its fields are set by Dial and never change. The caller owns
// it and must Close it.
type Destination struct {
	host     string
	dir      string
	ssh      *ssh.Client
	client   *pkgsftp.Client
	hasFsync bool
	hasLink  bool
}

var _ destination.Destination = (*Destination)(nil)

// Close closes the SFTP session and the SSH connection. Uploads still open
// fail.
func (d *Destination) Close() error {
	cerr := d.client.Close()
	serr := d.ssh.Close()
	if serr != nil && !errors.Is(serr, net.ErrClosed) {
		return fmt.Errorf("sftp %s: close: %w", d.host, serr)
	}
	if cerr != nil && !errors.Is(cerr, net.ErrClosed) && !errors.Is(cerr, io.EOF) {
		return fmt.Errorf("sftp %s: close: %w", d.host, cerr)
	}
	return nil
}

// SupportsFsync reports whether the server offers fsync@openssh.com, so
// that commits report Synced.
func (d *Destination) SupportsFsync() bool { return d.hasFsync }

func (d *Destination) path(name string) string { return path.Join(d.dir, name) }

// Create implements destination.Destination.
func (d *Destination) Create(ctx context.Context, name string) (destination.Upload, error) {
	if err := destination.CheckName(name); err != nil {
		return nil, err
	}
	final := d.path(name)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sftp %s: create %s: %w", d.host, final, err)
	}
	if _, err := d.client.Lstat(final); err == nil {
		return nil, fmt.Errorf("sftp %s: create %s: %w", d.host, final, destination.ErrExists)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("sftp %s: create %s: %w", d.host, final, mapErr(err))
	}
	tmp := d.path(destination.TempName(name))
	f, err := d.client.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return nil, fmt.Errorf("sftp %s: create %s: %w", d.host, tmp, mapErr(err))
	}
	// Best effort: the backup is encrypted, but nobody else needs to read
	// even its temporary form. Some servers refuse setstat.
	_ = f.Chmod(0o600)
	return startUpload(ctx, d, final, tmp, f), nil
}

// Open implements destination.Destination.
func (d *Destination) Open(ctx context.Context, name string) (destination.Object, error) {
	if err := destination.CheckName(name); err != nil {
		return nil, err
	}
	p := d.path(name)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sftp %s: open %s: %w", d.host, p, err)
	}
	f, err := d.client.Open(p)
	if err != nil {
		return nil, fmt.Errorf("sftp %s: open %s: %w", d.host, p, mapErr(err))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("sftp %s: open %s: %w", d.host, p, mapErr(err))
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("sftp %s: open %s: %w: not a regular file", d.host, p, destination.ErrNotFound)
	}
	return &object{f: f, size: fi.Size()}, nil
}

// Stat implements destination.Destination.
func (d *Destination) Stat(ctx context.Context, name string) (destination.Info, error) {
	if err := destination.CheckName(name); err != nil {
		return destination.Info{}, err
	}
	p := d.path(name)
	if err := ctx.Err(); err != nil {
		return destination.Info{}, fmt.Errorf("sftp %s: stat %s: %w", d.host, p, err)
	}
	fi, err := d.client.Stat(p)
	if err != nil {
		return destination.Info{}, fmt.Errorf("sftp %s: stat %s: %w", d.host, p, mapErr(err))
	}
	if !fi.Mode().IsRegular() {
		return destination.Info{}, fmt.Errorf("sftp %s: stat %s: %w: not a regular file", d.host, p, destination.ErrNotFound)
	}
	return destination.Info{Name: name, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Remove implements destination.Destination. Only regular files are
// removed.
func (d *Destination) Remove(ctx context.Context, name string) error {
	if err := destination.CheckName(name); err != nil {
		return err
	}
	p := d.path(name)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sftp %s: remove %s: %w", d.host, p, err)
	}
	fi, err := d.client.Lstat(p)
	if err != nil {
		return fmt.Errorf("sftp %s: remove %s: %w", d.host, p, mapErr(err))
	}
	if fi.IsDir() {
		return fmt.Errorf("sftp %s: remove %s: %w: a directory", d.host, p, destination.ErrNotFound)
	}
	if err := d.client.Remove(p); err != nil {
		return fmt.Errorf("sftp %s: remove %s: %w", d.host, p, mapErr(err))
	}
	return nil
}

// object is an open remote file; WriteTo lets io.Copy use pkg/sftp's
// pipelined reads.
type object struct {
	f    *pkgsftp.File
	size int64
}

func (o *object) Read(p []byte) (int, error) {
	n, err := o.f.Read(p)
	if err != nil && err != io.EOF {
		err = mapErr(err)
	}
	return n, err
}

func (o *object) WriteTo(w io.Writer) (int64, error) {
	n, err := o.f.WriteTo(w)
	if err != nil {
		err = mapErr(err)
	}
	return n, err
}

func (o *object) Close() error { return o.f.Close() }
func (o *object) Size() int64  { return o.size }

// mapErr adds the destination sentinel matching an SFTP or connection
// error, keeping the original in the chain.
func mapErr(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %w", destination.ErrNotFound, err)
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%w: %w", destination.ErrExists, err)
	case errors.Is(err, pkgsftp.ErrSSHFxConnectionLost), errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return fmt.Errorf("%w: connection lost: %w", destination.ErrUnreachable, err)
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return fmt.Errorf("%w: %w", destination.ErrUnreachable, err)
	}
	return err
}
