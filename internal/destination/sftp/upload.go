package sftp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	pkgsftp "github.com/pkg/sftp"

	"github.com/mqsight/mqsight/internal/destination"
)

// upload streams into a temporary remote file. It is owned by one
// goroutine.
//
// Writes go through a pipe to pkg/sftp's ReadFrom, running on a goroutine
// of its own, which keeps up to maxInFlight write requests outstanding for
// the whole file. pkg/sftp's File.Write instead waits for every request of
// each call to be answered, so the pipeline drained once per call.
type upload struct {
	ctx   context.Context
	d     *Destination
	final string
	tmp   string
	f     *pkgsftp.File
	pw    *io.PipeWriter
	sent  chan error // the ReadFrom goroutine's outcome, once
	n     int64
	done  bool
	err   error // first write error; Commit refuses after one
}

// maxInFlight bounds the outstanding SFTP write requests of one upload
// (32 KiB each: 2 MiB, OpenSSH's channel window).
const maxInFlight = 64

// startUpload starts the ReadFrom goroutine for f.
func startUpload(ctx context.Context, d *Destination, final, tmp string, f *pkgsftp.File) *upload {
	pr, pw := io.Pipe()
	u := &upload{ctx: ctx, d: d, final: final, tmp: tmp, f: f, pw: pw, sent: make(chan error, 1)}
	go func() {
		_, err := f.ReadFromWithConcurrency(pr, maxInFlight)
		// A failed request ends the writer's next Write with the error.
		pr.CloseWithError(cmp.Or(err, io.ErrClosedPipe))
		u.sent <- err
	}()
	return u
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
	n, err := u.pw.Write(p)
	u.n += int64(n)
	if err != nil {
		u.err = fmt.Errorf("sftp %s: write %s: %w", u.d.host, u.tmp, mapErr(err))
		return n, u.err
	}
	return n, nil
}

// finish ends the stream and waits for the ReadFrom goroutine: the error
// of the first failed write request, if any.
func (u *upload) finish(cause error) error {
	u.pw.CloseWithError(cause) // a nil cause: EOF
	return <-u.sent
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
		_ = u.finish(u.err)
		return fail(fmt.Errorf("after failed write: %w", u.err))
	}
	if err := u.ctx.Err(); err != nil {
		_ = u.finish(err)
		return fail(err)
	}
	if err := u.finish(nil); err != nil {
		return fail(mapErr(err))
	}
	// Every request was answered with success; the size the server reports
	// confirms that nothing was lost on its side.
	if fi, err := u.f.Stat(); err != nil {
		return fail(fmt.Errorf("stat: %w", mapErr(err)))
	} else if fi.Size() != u.n {
		return fail(fmt.Errorf("the server holds %d bytes of %d written", fi.Size(), u.n))
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
		if lost := uncertain("link", err); lost != nil {
			return lost
		}
		if u.exists() {
			return fmt.Errorf("%w (link: %v)", destination.ErrExists, err)
		}
		// Filesystems without hard links: fall back to rename.
	}
	if err := c.Rename(u.tmp, u.final); err != nil {
		if lost := uncertain("rename", err); lost != nil {
			return lost
		}
		if u.exists() {
			return fmt.Errorf("%w (rename: %v)", destination.ErrExists, err)
		}
		return fmt.Errorf("rename: %w", mapErr(err))
	}
	return nil
}

// uncertain returns err of the publishing step op as ErrUncertain when it
// is a lost connection (the server may have carried the step out before
// the answer was lost), else nil.
func uncertain(op string, err error) error {
	if m := mapErr(err); errors.Is(m, destination.ErrUnreachable) {
		return fmt.Errorf("%s: %w: %w", op, destination.ErrUncertain, m)
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
	_ = u.finish(destination.ErrClosed)
	u.f.Close()
	if err := u.d.client.Remove(u.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sftp %s: abort %s: %w", u.d.host, u.final, mapErr(err))
	}
	return nil
}
