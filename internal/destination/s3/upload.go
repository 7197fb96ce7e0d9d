package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/mqsight/mqsight/internal/destination"
)

// abortTimeout bounds the AbortMultipartUpload sent when the upload's own
// context may already be done.
const abortTimeout = 30 * time.Second

// upload buffers one part at a time; the multipart upload is started with
// the first full part. It is owned by one goroutine.
type upload struct {
	ctx      context.Context
	d        *Destination
	name     string
	key      string
	buf      []byte
	uploadID string
	parts    []minio.CompletePart
	n        int64
	done     bool
	err      error // first failure; Commit refuses after one
	// token, random, is stored with the object as user metadata
	// (tokenMeta), so that after a lost answer the object can be told
	// apart from another under the same name (uncertain).
	token string
}

// tokenMeta is the user metadata key (x-amz-meta-mqsight-upload) of an
// upload's token.
const tokenMeta = "Mqsight-Upload"

// putOptions are the options of the requests that create the object: the
// upload's token as metadata.
func (u *upload) putOptions() minio.PutObjectOptions {
	return minio.PutObjectOptions{UserMetadata: map[string]string{tokenMeta: u.token}}
}

func (u *upload) Write(p []byte) (int, error) {
	if u.done {
		return 0, fmt.Errorf("%s: write: %w", u.d.where(u.name), destination.ErrClosed)
	}
	if u.err != nil {
		return 0, u.err
	}
	if err := u.ctx.Err(); err != nil {
		u.err = fmt.Errorf("%s: write: %w", u.d.where(u.name), err)
		return 0, u.err
	}
	written := 0
	for len(p) > 0 {
		if u.buf == nil {
			u.buf = make([]byte, 0, min(u.d.partSize, int64(max(len(p), 64<<10))))
		}
		room := int(u.d.partSize) - len(u.buf)
		k := min(room, len(p))
		u.buf = append(u.buf, p[:k]...)
		p = p[k:]
		written += k
		u.n += int64(k)
		if int64(len(u.buf)) == u.d.partSize {
			if err := u.flushPart(); err != nil {
				u.err = fmt.Errorf("%s: write: %w", u.d.where(u.name), err)
				return written, u.err
			}
		}
	}
	return written, nil
}

// flushPart uploads the buffered bytes as the next part, starting the
// multipart upload if needed, and empties the buffer (keeping its memory).
func (u *upload) flushPart() error {
	if u.uploadID == "" {
		id, err := u.d.core.NewMultipartUpload(u.ctx, u.d.bucket, u.key, u.putOptions())
		if err != nil {
			return fmt.Errorf("start multipart upload: %w", mapErr(err))
		}
		u.uploadID = id
	}
	num := len(u.parts) + 1
	if num > maxParts {
		return fmt.Errorf("object larger than %d parts of %d bytes; raise the part size", maxParts, u.d.partSize)
	}
	md5b64, sha := digests(u.buf)
	part, err := u.d.core.PutObjectPart(u.ctx, u.d.bucket, u.key, u.uploadID, num,
		bytes.NewReader(u.buf), int64(len(u.buf)), minio.PutObjectPartOptions{
			Md5Base64: md5b64, Sha256Hex: sha, DisableContentSha256: true,
		})
	if err != nil {
		return fmt.Errorf("upload part %d: %w", num, mapErr(err))
	}
	if err := checkETag(part.ETag, md5b64); err != nil {
		return fmt.Errorf("upload part %d: %w", num, err)
	}
	u.parts = append(u.parts, minio.CompletePart{PartNumber: num, ETag: part.ETag})
	u.buf = u.buf[:0]
	return nil
}

// digests returns the base64 MD5 and hex SHA-256 of b.
func digests(b []byte) (md5b64, sha256hex string) {
	m := md5.Sum(b)
	s := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(m[:]), hex.EncodeToString(s[:])
}

// checkETag compares a returned ETag with the MD5 sent, when the ETag is an
// MD5 (it is not for some server-side encryption modes).
func checkETag(etag, md5b64 string) error {
	etag = strings.Trim(etag, `"`)
	if len(etag) != 32 {
		return nil
	}
	raw, _ := base64.StdEncoding.DecodeString(md5b64)
	if !strings.EqualFold(etag, hex.EncodeToString(raw)) {
		return fmt.Errorf("server stored different bytes than sent (ETag %s, MD5 %x)", etag, raw)
	}
	return nil
}

// Commit implements destination.Upload.
func (u *upload) Commit() (destination.CommitInfo, error) {
	if u.done {
		return destination.CommitInfo{}, fmt.Errorf("%s: commit: %w", u.d.where(u.name), destination.ErrClosed)
	}
	u.done = true
	fail := func(err error) (destination.CommitInfo, error) {
		u.abortRemote()
		return destination.CommitInfo{}, fmt.Errorf("%s: commit: %w", u.d.where(u.name), err)
	}
	if u.err != nil {
		return fail(fmt.Errorf("after failed write: %w", u.err))
	}
	if err := u.ctx.Err(); err != nil {
		return fail(err)
	}
	opts := u.putOptions()
	opts.SetMatchETagExcept("*") // never replace an existing object
	if u.uploadID == "" {
		md5b64, sha := digests(u.buf)
		opts.DisableContentSha256 = true
		info, err := u.d.core.PutObject(u.ctx, u.d.bucket, u.key, bytes.NewReader(u.buf), int64(len(u.buf)), md5b64, sha, opts)
		if err != nil {
			if err := u.uncertain(mapErr(err)); err != nil {
				return fail(err)
			}
		} else if err := checkETag(info.ETag, md5b64); err != nil {
			return fail(err)
		}
	} else {
		if len(u.buf) > 0 {
			if err := u.flushPart(); err != nil {
				return fail(err)
			}
		}
		if _, err := u.d.core.CompleteMultipartUpload(u.ctx, u.d.bucket, u.key, u.uploadID, u.parts, opts); err != nil {
			if err := u.uncertain(mapErr(err)); err != nil {
				return fail(err)
			}
		}
	}
	u.buf = nil
	return destination.CommitInfo{Name: u.key, Size: u.n, Synced: true}, nil
}

// abortRemote discards the multipart upload, if one was started, and the
// buffer. Errors are returned for Abort; Commit's own error takes
// precedence there.
func (u *upload) abortRemote() error {
	u.buf = nil
	if u.uploadID == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(u.ctx), abortTimeout)
	defer cancel()
	id := u.uploadID
	u.uploadID = ""
	if err := u.d.core.AbortMultipartUpload(ctx, u.d.bucket, u.key, id); err != nil {
		return fmt.Errorf("%s: abort multipart upload: %w", u.d.where(u.name), mapErr(err))
	}
	return nil
}

// Abort implements destination.Upload.
func (u *upload) Abort() error {
	if u.done {
		return nil
	}
	u.done = true
	return u.abortRemote()
}

// uncertain classifies an error of the request that makes the object
// visible (PutObject, CompleteMultipartUpload). The client retries it
// when a connection drops; if an earlier attempt was carried out but its
// answer lost, the retry is refused (PreconditionFailed: the object now
// exists; NoSuchUpload: the upload is complete) although the object is
// ours. A lost connection, or a cancellation while the request was out,
// is ErrUncertain; such a refusal is looked into:
// if the object there carries this upload's token, the commit happened
// (nil); if it cannot be looked up, it is ErrUncertain; if another object
// took the name, the refusal stands.
func (u *upload) uncertain(err error) error {
	if errors.Is(err, destination.ErrUnreachable) {
		return fmt.Errorf("%w: %w", destination.ErrUncertain, err)
	}
	if u.ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		// Cancelled with the request out: the server may carry it out.
		// (An answer that came before the cancellation stands.)
		return fmt.Errorf("%w: cancelled while the server may have been completing it: %w", destination.ErrUncertain, err)
	}
	if !errors.Is(err, destination.ErrExists) && !errors.Is(err, destination.ErrNotFound) {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(u.ctx), abortTimeout)
	defer cancel()
	info, serr := u.d.core.StatObject(ctx, u.d.bucket, u.key, minio.StatObjectOptions{})
	switch {
	case serr == nil && info.UserMetadata[tokenMeta] == u.token && info.Size == u.n:
		return nil // ours: an earlier attempt completed it
	case serr != nil && !errors.Is(mapErr(serr), destination.ErrNotFound):
		return fmt.Errorf("%w: %w: the answer to an earlier attempt may have been lost: %v; looking the object up: %v",
			destination.ErrUncertain, destination.ErrUnreachable, err, serr)
	}
	return err
}
