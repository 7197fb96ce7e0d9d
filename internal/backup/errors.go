package backup

import "errors"

// Sentinel errors the admin API and the CLI branch on (errors.Is). Errors of
// the archive format (archive.ErrWrongPassword, archive.ErrTruncated,
// archive.ErrTampered, archive.ErrNotBackup, archive.ErrNewerFormat,
// archive.ErrCorrupt) and of destinations (destination.ErrUnreachable,
// destination.ErrHostKey, destination.ErrAuth, destination.ErrBadURL,
// destination.ErrCredentials, ...) are passed through wrapped, never
// re-labelled, so a caller checks those sentinels directly.
var (
	// ErrNameTaken: the backup file name (configuration backup in the
	// userfiles directory, or store backup at its destination) already
	// exists. Nothing was overwritten.
	ErrNameTaken = errors.New("backup file already exists")
	// ErrSameName: the store backup would have the configuration backup's
	// name.
	ErrSameName = errors.New("store backup name must differ from the configuration backup name")
	// ErrStoreMismatch: the store backup was not made together with this
	// configuration backup (BackupID, size, SHA-256, LSN or store UID
	// differ, or the configuration backup was made without a store backup).
	ErrStoreMismatch = errors.New("store backup does not belong to this configuration backup")
	// ErrDestinationMissing: the directory (or bucket) a store backup is to
	// be written into does not exist.
	ErrDestinationMissing = errors.New("the store destination's directory or bucket does not exist")
	// ErrStoreMissing: the store backup named by the request does not exist
	// at its location.
	ErrStoreMissing = errors.New("store backup not found")
	// ErrWrongKind: a store backup was given where a configuration backup
	// was expected, or the other way round.
	ErrWrongKind = errors.New("wrong kind of backup file")
	// ErrInvalidRestore: the configuration that the restore would produce
	// does not validate on this server (e.g. a restored endpoint clashes with
	// the port of the kept admin endpoint). Nothing was changed.
	ErrInvalidRestore = errors.New("restored configuration would not be valid")
	// ErrNoSpace: the data directory's filesystem has no room to stage the
	// store backup (its size plus a reserve for the live store). Nothing
	// was changed or written.
	ErrNoSpace = errors.New("not enough free space in the data directory")
	// ErrBusy: another restore is staging or applying in this data
	// directory.
	ErrBusy = errors.New("another restore is in progress")
	// ErrJournal: the restore journal in the data directory cannot be read;
	// Recover refuses to guess, and the server must not start.
	ErrJournal = errors.New("restore journal is unreadable")
)
