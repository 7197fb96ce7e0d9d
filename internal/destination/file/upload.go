package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/mqsight/mqsight/internal/destination"
)

// upload writes into a temporary file beside the final name. It is owned by
// one goroutine; done records that Commit or Abort has run.
type upload struct {
	ctx   context.Context
	d     *Destination
	final string
	tmp   string
	f     *os.File
	n     int64
	done  bool
	err   error // first write error; Commit refuses after one
	// direct: the file is open with O_DIRECT (see direct_linux.go); once
	// a write cannot be direct, the rest is buffered, with write-behind.
	direct bool
	wb     writeBehind
}

func (u *upload) Write(p []byte) (int, error) {
	if u.done {
		return 0, fmt.Errorf("write %s: %w", u.final, destination.ErrClosed)
	}
	if u.err != nil {
		return 0, u.err
	}
	if err := u.ctx.Err(); err != nil {
		u.err = fmt.Errorf("write %s: %w", u.final, err)
		return 0, u.err
	}
	n, err := u.write(p)
	if err != nil {
		u.err = fmt.Errorf("write %s: %w", u.tmp, err)
		return n, u.err
	}
	return n, nil
}

// write writes p at the end of the file, directly while p allows it.
func (u *upload) write(p []byte) (int, error) {
	if u.direct && !directOK(p, u.n) {
		if err := u.buffered(); err != nil {
			return 0, err
		}
	}
	n, err := u.f.Write(p)
	u.n += int64(n)
	if !u.direct {
		u.wb.wrote(u.f, u.n)
		return n, err
	}
	if err != nil && errors.Is(err, syscall.EINVAL) {
		// A filesystem that accepted O_DIRECT at open but not for this
		// write: go on buffered. The write-behind starts after the bytes
		// already written.
		if berr := u.buffered(); berr != nil {
			return n, err
		}
		m, err := u.write(p[n:])
		return n + m, err
	}
	return n, err
}

// buffered switches the file from direct to buffered writes.
func (u *upload) buffered() error {
	if err := clearDirect(u.f); err != nil {
		return err
	}
	u.direct = false
	u.wb.startAt(u.n)
	return nil
}

// Commit implements destination.Upload: fsync, close, no-replace rename,
// fsync the directory. On any failure the temporary file is removed.
func (u *upload) Commit() (destination.CommitInfo, error) {
	if u.done {
		return destination.CommitInfo{}, fmt.Errorf("commit %s: %w", u.final, destination.ErrClosed)
	}
	u.done = true
	fail := func(err error) (destination.CommitInfo, error) {
		u.f.Close()
		os.Remove(u.tmp)
		return destination.CommitInfo{}, err
	}
	if u.err != nil {
		return fail(fmt.Errorf("commit %s after failed write: %w", u.final, u.err))
	}
	if err := u.ctx.Err(); err != nil {
		return fail(fmt.Errorf("commit %s: %w", u.final, err))
	}
	if err := u.d.fsync(u.f); err != nil {
		return fail(fmt.Errorf("commit %s: sync: %w", u.final, err))
	}
	if err := u.f.Close(); err != nil {
		os.Remove(u.tmp)
		return destination.CommitInfo{}, fmt.Errorf("commit %s: close: %w", u.final, err)
	}
	if err := renameNoReplace(u.tmp, u.final); err != nil {
		os.Remove(u.tmp)
		return destination.CommitInfo{}, fmt.Errorf("commit %s: %w", u.final, mapErr(err))
	}
	if err := u.d.syncDir(); err != nil {
		// The object is in place and complete; only its durability across
		// a power loss is in doubt. Report it rather than fail the commit.
		return destination.CommitInfo{Name: u.final, Size: u.n, Synced: false}, nil
	}
	return destination.CommitInfo{Name: u.final, Size: u.n, Synced: true}, nil
}

// Abort implements destination.Upload.
func (u *upload) Abort() error {
	if u.done {
		return nil
	}
	u.done = true
	cerr := u.f.Close()
	if err := os.Remove(u.tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("abort %s: %w", u.final, err)
	}
	if cerr != nil && !errors.Is(cerr, os.ErrClosed) {
		return fmt.Errorf("abort %s: %w", u.final, cerr)
	}
	return nil
}
