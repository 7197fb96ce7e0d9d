// Package backup orchestrates mqsight's backup and restore: what goes into
// a configuration backup and a store backup, how the two are bound to each
// other, and how a restore is planned, staged and switched in so that a
// crash at any point leaves the server on its old state or on the new one.
// It is a library: the admin API (REST handlers, job registry) and the CLI
// call it; it has no HTTP and no logging of its own.
//
// # Files
//
// A configuration backup, imaBackup.hhmmss-MMDDYYYY in <datadir>/userfiles,
// is an archive (internal/archive, kind config) holding manifest.json,
// server.json (the whole canonical configuration document, password hashes
// and secrets included) and certificates/<name> for each certificate file.
// A store backup, at a destination (internal/destination), is an archive of
// kind store holding the files of a store checkpoint. Both are encrypted
// with the one backup password and carry the same BackupID; the
// configuration manifest records the store file's name, size, SHA-256, LSN
// and store UID (see CheckBinding). Verify checks a pair offline.
//
// # Backup
//
// Backup checkpoints the store online (hard links, traffic continues),
// streams the checkpoint through an archive.Writer into a destination
// upload that becomes visible only on Commit, then writes the configuration
// backup durably (temp, fsync, no-replace link, fsync dir). The
// configuration snapshot is the one in force at the checkpoint.
//
// # Restore: plan, stage, apply, recover
//
//	PlanRestore   pure: resulting document for the mode, objects added /
//	              changed / removed per type, store action, certificates
//	Stage         decrypt and authenticate both archives to their ends into
//	              <datadir>/.restore-staging/{config,store}; nothing live is
//	              touched; restored messages are marked (store.MarkRestored);
//	              DryRun removes the staging again
//	Apply         with the Components stopped, a journal records the intent,
//	              config/ and store/ are renamed aside and the staged ones in;
//	              the journal's "done" record is the commit point
//	Recover       at server start, before config and store are opened:
//	              rolls back an Apply interrupted before its commit point,
//	              finishes one interrupted after it
//
// One restore at a time per data directory (ErrBusy).
//
// # Ownership and concurrency
//
// Backup may run concurrently with anything, including another Backup (they
// get distinct names or ErrNameTaken). A Restorer is safe for concurrent
// use; a Staged belongs to the goroutine that staged it.
//
// Passwords (the backup password and the destination password) are only
// handed to the archive and the destination; they appear in no file other
// than as encryption keys, in no error and no log line.
package backup
