// Package destination says where store backups are written and read from: a
// handful of blob verbs (Create, Open, Stat, Remove) over a directory named by
// a URL, plus the parsing and validation of that URL and its credentials.
//
// The interfaces are declared here for the backup and restore code; the
// implementations live in one sub-package per scheme and import this package,
// never the other way round:
//
//	file://<abs path>/<name>               file.New
//	sftp://<host[:port]>/<path>/<name>     sftp.Dial   (also scp://, see below)
//	s3://<host[:port]>/<bucket>/<key>      s3.New      (?insecure=true: plain HTTP)
//
// The scheme → implementation table is written out by the composition root
// (internal/server); there is no registry here.
//
// # Names and the temporary-name protocol
//
// A Location is a directory plus a final file name. The name handed to Create,
// Open, Stat and Remove is a single path element that does not start with a
// dot (see CheckName). Uploads stream into a temporary object and only
// Upload.Commit makes the final name appear, atomically and without ever
// replacing an existing object:
//
//	Create(name) ──► .<name>.partial-<16 hex>   (written, fsynced when possible)
//	                          │
//	             Commit ──────┴──► <name>       (no-replace rename; ErrExists if taken)
//	             Abort / crash ──► temp removed, or left under a name that
//	                               IsTempName reports and that never looks finished
//
// A killed process therefore never leaves an object under a final name that
// is incomplete. Each implementation documents how it reaches that guarantee
// (S3 has no rename: it uses a multipart upload, invisible until completion).
//
// # Credentials
//
// For sftp, scp and s3 a URL, a UserID and a Password go together: all three
// or none (ParseParams names the missing ones). file:// needs none and
// ignores any given. ftp:// is refused because it sends credentials and data
// in clear text. Passwords never appear in an error or log line: Credentials
// redacts itself when formatted, and no error of this package or its
// sub-packages quotes a raw URL or a password.
//
// # Errors
//
// Callers branch on a few sentinels (ErrNotFound, ErrExists, ErrUnreachable,
// ErrHostKey, ErrAuth, ErrBadURL, ErrCredentials, ErrClosed), always checked
// with errors.Is; the wrapping error carries the context.
package destination
