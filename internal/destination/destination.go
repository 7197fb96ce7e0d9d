package destination

import (
	"context"
	"errors"
	"io"
	"time"
)

// Destination is a flat directory of named, immutable objects.
//
// Implementations are safe for concurrent use by several goroutines; each
// Upload and Object is owned by the goroutine that obtained it. Names are
// checked with CheckName; a name that fails it is refused with ErrBadURL.
type Destination interface {
	// Create starts an upload that becomes visible as name only when
	// committed. It refuses with ErrExists when name already exists. ctx
	// bounds the whole upload: once it is done, writes and Commit fail
	// and nothing becomes visible.
	Create(ctx context.Context, name string) (Upload, error)
	// Open opens a committed object for reading; ErrNotFound if absent.
	Open(ctx context.Context, name string) (Object, error)
	// Stat describes a committed object; ErrNotFound if absent. Uploads in
	// progress are never visible.
	Stat(ctx context.Context, name string) (Info, error)
	// Remove deletes a committed object; ErrNotFound if absent.
	Remove(ctx context.Context, name string) error
}

// Upload is an object being written. Bytes written are not visible under the
// final name until Commit returns nil. Exactly one of Commit or Abort takes
// effect; Abort after a successful Commit is a no-op returning nil, so
// `defer up.Abort()` is the idiomatic cleanup. An Upload is not safe for
// concurrent use.
type Upload interface {
	io.Writer
	// Commit makes everything written so far visible under the final
	// name, or fails and leaves nothing under it. ErrExists when another
	// object took the name since Create: that object is never replaced.
	// ErrUncertain (with ErrUnreachable) when the connection was lost
	// during the final step, or the upload's context was cancelled while
	// that step's request was out: the object may then be there after all.
	Commit() (CommitInfo, error)
	// Abort discards the upload and its temporary data, best effort.
	Abort() error
}

// Object is a committed object opened for reading. The caller owns it and
// must Close it.
type Object interface {
	io.ReadCloser
	// Size is the object's length in bytes as stored.
	Size() int64
}

// Info describes a committed object.
type Info struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// CommitInfo reports what Commit achieved.
type CommitInfo struct {
	Name string
	Size int64
	// Synced is true when the data (and where applicable the directory)
	// was flushed to stable storage before the rename. SFTP servers without
	// the fsync@openssh.com extension cannot do it; S3 is durable on
	// completion by contract and reports true.
	Synced bool
}

// Sweeper is an optional capability: removing the temporary objects that
// uploads left behind when their process died before Commit or Abort. Only
// temporary names (IsTempName) last modified before the given time are
// touched, so an upload still writing (whose temporary object keeps being
// modified) survives a sweep with a cutoff older than its last write. An
// upload whose temporary object was swept fails at Commit.
//
// file and sftp implement it; S3 does not (an abandoned multipart upload is
// invisible and is best expired by a bucket lifecycle rule).
type Sweeper interface {
	// Sweep removes temporary objects modified before cutoff and returns
	// their names.
	Sweep(ctx context.Context, cutoff time.Time) ([]string, error)
}

// Sentinel errors. They carry decisions; the wrapping errors carry context.
var (
	// ErrNotFound: the object, directory or bucket does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: the final name is already taken; nothing was overwritten.
	ErrExists = errors.New("already exists")
	// ErrUnreachable: the server could not be reached (refused, timed out,
	// no route, DNS) or the connection was lost.
	ErrUnreachable = errors.New("destination unreachable")
	// ErrUncertain: a Commit lost its connection in its final step (the
	// rename, link or upload completion) before the server answered, so
	// the object may exist under its final name.
	ErrUncertain = errors.New("commit outcome unknown")
	// ErrHostKey: the SSH host key did not match the pinned fingerprint or
	// known_hosts, or the host is unknown.
	ErrHostKey = errors.New("host key not verified")
	// ErrAuth: the server refused the credentials.
	ErrAuth = errors.New("authentication failed")
	// ErrBadURL: the URL or an object name is malformed or uses a scheme
	// that is not supported.
	ErrBadURL = errors.New("bad destination URL")
	// ErrCredentials: credentials are missing or malformed for the scheme.
	ErrCredentials = errors.New("bad destination credentials")
	// ErrClosed: the upload was already committed or aborted.
	ErrClosed = errors.New("upload already finished")
)
