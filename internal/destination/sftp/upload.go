package sftp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"

	pkgsftp "github.com/pkg/sftp"

	"github.com/mqsight/mqsight/internal/destination"
)

// upload streams into a temporary remote file through a 1 MiB buffer. It is
// owned by one goroutine.
type upload struct {
	ctx   context.Context
	d     *Destination
	final string
	tmp   string
	f     *pkgsftp.File
	w     *bufio.Writer
	n     int64
	done  bool
	err   error // first write error; Commit refuses after one
}

func (u *upload) Write(p []byte) (int, error) {
	if u.done {
		return 0, fmt.Errorf("sftp %s: write %s: %w", u.d.host, u.final, destination.ErrClosed)
	}
	if u.err != nil {
		return 0, u.err
	}
	if err := u.ctx.Err(); err != nil {
		u.err = fmt.Errorf("sftp %s: write %s: %w", u.d.host, u.final, err)
		return 0, u.err
	}
	n, err := u.w.Write(p)
	u.n += int64(n)
	if err != nil {
		u.err = fmt.Errorf("sftp %s: write %s: %w", u.d.host, u.tmp, mapErr(err))
		return n, u.err
	}
	return n, nil
}

// Commit implements destination.Upload (see the package doc for the steps).
func (u *upload) Commit() (destination.CommitInfo, error) {
	if u.done {
		return destination.CommitInfo{}, fmt.Errorf("sftp %s: commit %s: %w", u.d.host, u.final, destination.ErrClosed)
	}
	u.done = true
	c := u.d.client
	fail := func(err error) (destination.CommitInfo, error) {
		u.f.Close()
		c.Remove(u.tmp)
		return destination.CommitInfo{}, fmt.Errorf("sftp %s: commit %s: %w", u.d.host, u.final, err)
	}
	if u.err != nil {
		return fail(fmt.Errorf("after failed write: %w", u.err))
	}
	if err := u.ctx.Err(); err != nil {
		return fail(err)
	}
	if err := u.w.Flush(); err != nil {
		return fail(mapErr(err))
	}
	synced := false
	if u.d.hasFsync {
		if err := u.f.Sync(); err != nil {
			return fail(fmt.Errorf("fsync: %w", mapErr(err)))
		}
		synced = true
	}
	if err := u.f.Close(); err != nil {
		return fail(fmt.Errorf("close: %w", mapErr(err)))
	}
	if err := u.ctx.Err(); err != nil {
		return fail(err)
	}
	if err := u.publish(); err != nil {
		return fail(err)
	}
	return destination.CommitInfo{Name: u.final, Size: u.n, Synced: synced}, nil
}

// publish gives the temporary file its final name without ever replacing
// an existing file: a hard link (fails if the name exists) then removal of
// the temporary name, or SSH_FXP_RENAME where hard links are unavailable.
func (u *upload) publish() error {
	c := u.d.client
	if u.d.hasLink {
		err := c.Link(u.tmp, u.final)
		if err == nil {
			// The object is complete under its final name; a leftover
			// temporary name is harmless and recognisable.
			_ = c.Remove(u.tmp)
			return nil
		}
		if u.exists() {
			return fmt.Errorf("%w (link: %v)", destination.ErrExists, err)
		}
		// Filesystems without hard links: fall back to rename.
	}
	if err := c.Rename(u.tmp, u.final); err != nil {
		if u.exists() {
			return fmt.Errorf("%w (rename: %v)", destination.ErrExists, err)
		}
		return fmt.Errorf("rename: %w", mapErr(err))
	}
	return nil
}

func (u *upload) exists() bool {
	_, err := u.d.client.Lstat(u.final)
	return err == nil
}

// Abort implements destination.Upload: close and remove the temporary file,
// best effort.
func (u *upload) Abort() error {
	if u.done {
		return nil
	}
	u.done = true
	u.f.Close()
	if err := u.d.client.Remove(u.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sftp %s: abort %s: %w", u.d.host, u.final, mapErr(err))
	}
	return nil
}
