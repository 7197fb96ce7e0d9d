// Package file implements destination.Destination over a directory of the
// local (or a mounted) filesystem, for file:///abs/dir/name URLs.
//
// Durability protocol of an upload (the project's one protocol, DESIGN.md):
//
//	create  <dir>/.<name>.partial-<16 hex>   O_CREATE|O_EXCL, mode 0600
//	write   ... streamed, never buffered whole
//	fsync   the temporary file, then close it
//	rename  temporary → <dir>/<name> without replacing: renameat2
//	        RENAME_NOREPLACE; where the filesystem lacks it, link(2) +
//	        unlink(2), which also fails when <name> exists
//	fsync   <dir>, so the new directory entry survives a crash
//
// A crash before the rename leaves only the temporary file, whose name
// destination.IsTempName recognises; a crash after it leaves the complete
// object. An existing <name> is never replaced (destination.ErrExists).
package file
