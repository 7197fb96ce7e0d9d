package backup

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/mqsight/mqsight/internal/archive"
	"github.com/mqsight/mqsight/internal/destination"
)

// VerifyRequest asks for an offline check of a configuration backup and,
// optionally, of its store backup (a local file, or a destination).
type VerifyRequest struct {
	// ConfigBackup is the path of the configuration backup file.
	ConfigBackup string
	Password     string
	// StoreFile is a local store backup file; alternatively Store names one
	// at a destination (opened with Open). At most one of them.
	StoreFile string
	Store     StoreParams
	Open      Opener
	Progress  ProgressFunc
}

// VerifyResult is what an authenticated backup says about itself.
type VerifyResult struct {
	// Config is the configuration backup's manifest.
	Config *archive.Manifest
	// Store is the store backup's manifest when one was checked.
	Store *archive.Manifest
	// StoreSHA256 and StoreSize describe the store file as read.
	StoreSHA256 string
	StoreSize   int64
}

// Verify decrypts and authenticates a configuration backup to its end and,
// when a store backup is given, that one too, and checks that they belong
// together (CheckBinding). It reads and writes nothing else; no server is
// needed. Errors: the archive sentinels, ErrWrongKind, ErrStoreMismatch,
// ErrStoreMissing (the given store backup does not exist), destination
// errors.
func Verify(ctx context.Context, req VerifyRequest) (*VerifyResult, error) {
	if req.StoreFile != "" && !req.Store.IsZero() {
		return nil, errors.New("verify: give a store file or a store URL, not both")
	}
	loc, cred, err := req.Store.parse()
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	cb, err := readConfigFile(req.ConfigBackup, req.Password, false) // a path the operator gave
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	res := &VerifyResult{Config: cb.Manifest}
	if req.StoreFile == "" && loc == nil {
		return res, nil
	}
	if cb.Manifest.StoreBackup == nil {
		return nil, fmt.Errorf("verify: %w: the configuration backup was made without a store backup", ErrStoreMismatch)
	}
	var m *archive.Manifest
	if req.StoreFile != "" {
		f, err := os.Open(req.StoreFile)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("verify: %w", ErrStoreMissing)
		} else if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		if m, err = extractStore(ctx, f, st.Size(), req.Password, cb, "", req.Progress); err != nil {
			return nil, fmt.Errorf("verify: store backup: %w", err)
		}
	} else {
		d, closeDest, err := open(ctx, req.Open, loc, cred)
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		defer closeDest()
		obj, err := d.Open(ctx, loc.Name)
		if errors.Is(err, destination.ErrNotFound) {
			return nil, fmt.Errorf("verify: store backup %s: %w", loc, ErrStoreMissing)
		} else if err != nil {
			return nil, fmt.Errorf("verify: store backup %s: %w", loc, err)
		}
		defer obj.Close()
		if m, err = extractStore(ctx, obj, obj.Size(), req.Password, cb, "", req.Progress); err != nil {
			return nil, fmt.Errorf("verify: store backup %s: %w", loc, err)
		}
	}
	res.Store = m
	res.StoreSize = cb.Manifest.StoreBackup.Size
	res.StoreSHA256 = cb.Manifest.StoreBackup.SHA256
	return res, nil
}
