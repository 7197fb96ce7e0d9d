// Package s3 implements destination.Destination over the S3 API with
// github.com/minio/minio-go/v7, for s3://<host[:port]>/<bucket>/<key> URLs.
// UserID is the access key and Password the secret key. TLS is used unless
// the URL says ?insecure=true (test servers on loopback only).
//
// # Temporary name, then rename — on S3
//
// S3 has no rename. Of the two usual substitutes this package uses the
// multipart upload, not "temporary key + server-side copy + delete":
//
//   - an object in a multipart upload is invisible under its key, and under
//     any other key, until CompleteMultipartUpload, which makes it appear
//     atomically; AbortMultipartUpload discards it;
//   - a copy doubles the write cost (a server-side copy above 5 GiB must
//     itself be a multipart copy), leaves a complete-looking object under
//     the temporary key if the process dies between copy and delete, and
//     reads back nothing we could not have checked while writing.
//
// Upload protocol:
//
//	Create   HEAD key (ErrExists if present), HEAD bucket (ErrNotFound if absent)
//	Write    buffer up to PartSize; each full part: CreateMultipartUpload
//	         (first time), UploadPart with Content-MD5 and a signed
//	         x-amz-content-sha256 of the part; the returned ETag must equal
//	         the part's MD5
//	Commit   upload the last part and CompleteMultipartUpload with
//	         If-None-Match: * — or, for an object smaller than one part,
//	         a single PutObject with If-None-Match: * (412 → ErrExists)
//	Abort    AbortMultipartUpload
//
// If-None-Match makes "never overwrite" atomic on servers that implement
// conditional writes (AWS since 2024, MinIO, gofakes3); elsewhere only the
// check at Create protects the name. A process killed mid-upload leaves an
// incomplete multipart upload: invisible, billed for its parts until a
// bucket lifecycle rule (AbortIncompleteMultipartUpload) removes it —
// operators should set one.
//
// Payload integrity: every request body carries both its MD5 and its SHA-256
// (signed), so streaming-signature and trailer modes, which some S3 servers
// mishandle over plain HTTP, are never used.
//
// Memory: one part buffer per upload (PartSize, default 16 MiB). With at
// most 10000 parts an object may reach 10000 × PartSize (156 GiB by
// default).
package s3
