package s3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/mqsight/mqsight/internal/destination"
)

// Part sizes. S3 requires at least 5 MiB for every part but the last.
const (
	MinPartSize     = 5 << 20
	DefaultPartSize = 16 << 20
	maxParts        = 10000
)

// Options tune New. The zero value is ready to use.
type Options struct {
	// PartSize is the multipart part size and the upload buffer size.
	// Zero: DefaultPartSize; less than MinPartSize is refused.
	PartSize int64
	// Region is the bucket's region; empty lets minio-go discover it.
	Region string
	// Transport replaces the HTTP transport (tests: a private CA).
	Transport http.RoundTripper
	// MaxRetries bounds minio-go's retries of a failed request. Zero: 3.
	MaxRetries int
}

// Destination is a key prefix in an S3 bucket. It is safe for concurrent
// use; its fields are set by New and never change. It holds no connection
// that needs closing.
type Destination struct {
	core     *minio.Core
	host     string
	bucket   string
	prefix   string
	partSize int64
}

var _ destination.Destination = (*Destination)(nil)

// New returns a Destination for an s3:// location. It does not contact the
// server; the first operation does.
func New(loc *destination.Location, cred destination.Credentials, opts Options) (*Destination, error) {
	if loc.Scheme != destination.SchemeS3 {
		return nil, fmt.Errorf("s3 destination: %w: scheme %q", destination.ErrBadURL, loc.Scheme)
	}
	if err := loc.CheckCredentials(cred); err != nil {
		return nil, fmt.Errorf("s3 %s: %w", loc.Host, err)
	}
	// A bad bucket name is a bad URL, known before any request.
	if err := s3utils.CheckValidBucketName(loc.Bucket); err != nil {
		return nil, fmt.Errorf("s3 %s: %w: bucket %q: %v", loc.Host, destination.ErrBadURL, loc.Bucket, err)
	}
	partSize := opts.PartSize
	if partSize == 0 {
		partSize = DefaultPartSize
	}
	if partSize < MinPartSize {
		return nil, fmt.Errorf("s3 %s: part size %d below the S3 minimum of %d", loc.Host, partSize, MinPartSize)
	}
	retries := opts.MaxRetries
	if retries <= 0 {
		retries = 3
	}
	core, err := minio.NewCore(loc.Host, &minio.Options{
		Creds:      credentials.NewStaticV4(cred.UserID, cred.Password, ""),
		Secure:     !loc.Insecure,
		Region:     opts.Region,
		Transport:  opts.Transport,
		MaxRetries: retries,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 %s: %w: %v", loc.Host, destination.ErrBadURL, err)
	}
	return &Destination{core: core, host: loc.Host, bucket: loc.Bucket, prefix: loc.Dir, partSize: partSize}, nil
}

func (d *Destination) key(name string) string {
	if d.prefix == "" {
		return name
	}
	return path.Join(d.prefix, name)
}

// where names an object in errors.
func (d *Destination) where(name string) string {
	return "s3 " + d.host + "/" + d.bucket + "/" + d.key(name)
}

// Create implements destination.Destination.
func (d *Destination) Create(ctx context.Context, name string) (destination.Upload, error) {
	if err := destination.CheckName(name); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: create: %w", d.where(name), err)
	}
	_, err := d.core.StatObject(ctx, d.bucket, d.key(name), minio.StatObjectOptions{})
	if err == nil {
		return nil, fmt.Errorf("%s: create: %w", d.where(name), destination.ErrExists)
	}
	if !errors.Is(mapErr(err), destination.ErrNotFound) {
		return nil, fmt.Errorf("%s: create: %w", d.where(name), mapErr(err))
	}
	ok, err := d.core.BucketExists(ctx, d.bucket)
	if err != nil {
		return nil, fmt.Errorf("%s: create: %w", d.where(name), mapErr(err))
	}
	if !ok {
		return nil, fmt.Errorf("%s: create: bucket %w", d.where(name), destination.ErrNotFound)
	}
	var token [16]byte
	if _, err := rand.Read(token[:]); err != nil {
		return nil, fmt.Errorf("%s: create: %w", d.where(name), err)
	}
	return &upload{ctx: ctx, d: d, name: name, key: d.key(name), token: hex.EncodeToString(token[:])}, nil
}

// Open implements destination.Destination.
func (d *Destination) Open(ctx context.Context, name string) (destination.Object, error) {
	if err := destination.CheckName(name); err != nil {
		return nil, err
	}
	rc, info, _, err := d.core.GetObject(ctx, d.bucket, d.key(name), minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: open: %w", d.where(name), mapErr(err))
	}
	return &object{ReadCloser: rc, size: info.Size}, nil
}

// Stat implements destination.Destination.
func (d *Destination) Stat(ctx context.Context, name string) (destination.Info, error) {
	if err := destination.CheckName(name); err != nil {
		return destination.Info{}, err
	}
	info, err := d.core.StatObject(ctx, d.bucket, d.key(name), minio.StatObjectOptions{})
	if err != nil {
		return destination.Info{}, fmt.Errorf("%s: stat: %w", d.where(name), mapErr(err))
	}
	return destination.Info{Name: name, Size: info.Size, ModTime: info.LastModified}, nil
}

// Remove implements destination.Destination. S3 deletes are idempotent, so
// the object is looked up first to report ErrNotFound.
func (d *Destination) Remove(ctx context.Context, name string) error {
	if _, err := d.Stat(ctx, name); err != nil {
		return err
	}
	if err := d.core.RemoveObject(ctx, d.bucket, d.key(name), minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("%s: remove: %w", d.where(name), mapErr(err))
	}
	return nil
}

type object struct {
	io.ReadCloser
	size int64
}

func (o *object) Size() int64 { return o.size }

// mapErr adds the destination sentinel matching an S3 or transport error,
// keeping the original in the chain. minio-go's errors never contain the
// secret key.
func mapErr(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "NoSuchKey", "NoSuchBucket", "NotFound", "NoSuchUpload":
		return fmt.Errorf("%w: %w", destination.ErrNotFound, err)
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken":
		return fmt.Errorf("%w: %w", destination.ErrAuth, err)
	case "PreconditionFailed":
		return fmt.Errorf("%w: %w", destination.ErrExists, err)
	}
	switch resp.StatusCode {
	case http.StatusNotFound:
		return fmt.Errorf("%w: %w", destination.ErrNotFound, err)
	case http.StatusForbidden, http.StatusUnauthorized:
		return fmt.Errorf("%w: %w", destination.ErrAuth, err)
	case http.StatusPreconditionFailed:
		return fmt.Errorf("%w: %w", destination.ErrExists, err)
	}
	var ue *url.Error
	var ne net.Error
	if errors.As(err, &ue) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %w", destination.ErrUnreachable, err)
	}
	return err
}
