package backup

import (
	"encoding/hex"
	"fmt"

	"github.com/mqsight/mqsight/internal/archive"
	"github.com/mqsight/mqsight/internal/destination"
)

// The binding between a configuration backup and its store backup:
//
//	configuration manifest                 store backup file
//	  BackupID  ───────── equal ────────►    manifest BackupID
//	  StoreBackup.LSN ─── equal ────────►    manifest LSN
//	  StoreBackup.StoreUID ─ equal ─────►    manifest StoreUID
//	  StoreBackup.Size ── equal ────────►    size of the whole file
//	  StoreBackup.SHA256 ─ equal ───────►    SHA-256 of the whole file
//
// The store file's digest is only known once it was read to its
// authenticated end, so CheckBinding runs twice: early with the manifest
// (BackupID, LSN, UID; size when the destination reports it), and at the end
// with the digest. Either failure is ErrStoreMismatch.

// checkStoreRecord validates a configuration manifest's StoreBackup record
// (authenticated, so a bad one is a writer bug: archive.ErrCorrupt).
func checkStoreRecord(sb *archive.StoreBackup) error {
	if err := destination.CheckName(sb.Name); err != nil {
		return fmt.Errorf("%w: manifest StoreBackup.Name: %v", archive.ErrCorrupt, err)
	}
	if sb.Size <= 0 {
		return fmt.Errorf("%w: manifest StoreBackup.Size %d", archive.ErrCorrupt, sb.Size)
	}
	if d, err := hex.DecodeString(sb.SHA256); err != nil || len(d) != 32 || hex.EncodeToString(d) != sb.SHA256 {
		return fmt.Errorf("%w: manifest StoreBackup.SHA256 is not 64 lowercase hex digits", archive.ErrCorrupt)
	}
	return nil
}

// CheckBinding checks that a store backup belongs to a configuration
// backup. cfg is the configuration backup's manifest, store the store
// backup's. size is the store file's size (negative: not known yet) and
// sum its SHA-256 (nil: not known yet). A different BackupID, LSN, store
// UID or SHA-256 is ErrStoreMismatch, as is a configuration backup made
// without a store backup. When the identity matches but the size does not,
// the file is the right one, damaged: archive.ErrTruncated (shorter, or
// with bytes appended, as the archive reader classifies it).
func CheckBinding(cfg, store *archive.Manifest, size int64, sum []byte) error {
	if cfg == nil || store == nil {
		return fmt.Errorf("check store binding: %w: missing manifest", ErrStoreMismatch)
	}
	if cfg.Kind != archive.KindConfig || store.Kind != archive.KindStore {
		return fmt.Errorf("check store binding: %w", ErrWrongKind)
	}
	sb := cfg.StoreBackup
	if sb == nil {
		return fmt.Errorf("%w: the configuration backup was made without a store backup", ErrStoreMismatch)
	}
	if store.BackupID != cfg.BackupID {
		return fmt.Errorf("%w: the store backup was made with another configuration backup (BackupID %s, expected %s)",
			ErrStoreMismatch, store.BackupID, cfg.BackupID)
	}
	if store.LSN != sb.LSN || store.StoreUID != sb.StoreUID {
		return fmt.Errorf("%w: store backup is of store %s at LSN %d, expected %s at LSN %d",
			ErrStoreMismatch, store.StoreUID, store.LSN, sb.StoreUID, sb.LSN)
	}
	// Same BackupID, LSN and UID: this is the store backup made with the
	// configuration backup, so a different size is damage to it. Like the
	// archive reader (whose trailer must be last), bytes missing or
	// appended both read as truncation.
	if size >= 0 && size != sb.Size {
		return fmt.Errorf("%w: store backup has %d bytes, the configuration backup recorded %d", archive.ErrTruncated, size, sb.Size)
	}
	if sum != nil && hex.EncodeToString(sum) != sb.SHA256 {
		return fmt.Errorf("%w: store backup SHA-256 differs from the one recorded in the configuration backup", ErrStoreMismatch)
	}
	return nil
}
