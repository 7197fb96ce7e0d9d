package archive

import (
	"errors"
	"fmt"
)

// Sentinel errors a caller branches on with errors.Is. Every error returned
// while reading an archive wraps exactly one of them, except I/O errors of the
// underlying reader, which are returned wrapped as they are.
var (
	// ErrWrongPassword: the archive is intact but the passphrase does not
	// decrypt it.
	ErrWrongPassword = errors.New("wrong backup password")
	// ErrWrongKey: the archive is intact but encrypted to another Key: a
	// store backup read with the key of another backup's configuration
	// backup.
	ErrWrongKey = errors.New("backup file was encrypted for another backup")
	// ErrTruncated: the archive ends early; it was cut while being written,
	// copied or uploaded.
	ErrTruncated = errors.New("backup file is truncated")
	// ErrTampered: a byte of the archive differs from what was written.
	ErrTampered = errors.New("backup file is damaged or was modified")
	// ErrNotBackup: the input is not an mqsight backup at all.
	ErrNotBackup = errors.New("not an mqsight backup file")
	// ErrNewerFormat: the archive was written by a newer format version than
	// this server reads. The error is a *NewerFormatError naming both versions.
	ErrNewerFormat = errors.New("backup format is newer than this server supports")
	// ErrCorrupt: the archive is authenticated but malformed. This means a
	// bug in the writer (or a deliberately crafted file); damage in storage or
	// transit is reported as ErrTampered or ErrTruncated instead.
	ErrCorrupt = errors.New("backup file is corrupt")

	// ErrShortPassword: NewWriter refuses a passphrase of fewer than
	// MinPassphraseLen characters.
	ErrShortPassword = errors.New("backup password must have at least 8 characters")
)

// Errors of a Writer used after its end.
var (
	errAborted = errors.New("archive writer aborted")
	errStopped = errors.New("archive output stopped")
)

// NewerFormatError reports an archive whose format version this package does
// not read. errors.Is(err, ErrNewerFormat) is true for it.
type NewerFormatError struct {
	Version   uint16 // version found in the file
	Supported uint16 // highest version this package reads
}

func (e *NewerFormatError) Error() string {
	return fmt.Sprintf("backup format version %d is newer than this server's %d", e.Version, e.Supported)
}

// Is reports true for ErrNewerFormat.
func (e *NewerFormatError) Is(target error) bool { return target == ErrNewerFormat }

// corruptf returns an ErrCorrupt with context.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}
