package backup

import (
	"fmt"
	"log/slog"
)

// The request types hold passwords. Each formats itself (fmt verbs, %#v,
// slog) without them, so logging a request can never leak one.

const redacted = "<redacted>"

// String describes r without its passwords.
func (r BackupRequest) String() string {
	return fmt.Sprintf("{Password:%s Dir:%q Time:%s Store:%s ServerVersion:%q WorkFactor:%d}",
		redacted, r.Dir, r.Time.Format("2006-01-02T15:04:05Z07:00"), r.Store, r.ServerVersion, r.WorkFactor)
}

// GoString is String.
func (r BackupRequest) GoString() string { return r.String() }

// LogValue makes slog print r without its passwords.
func (r BackupRequest) LogValue() slog.Value { return slog.StringValue(r.String()) }

// String describes r without its passwords.
func (r RestoreRequest) String() string {
	return fmt.Sprintf("{ConfigBackup:%q Password:%s IncludeServerConfig:%v Store:%s DryRun:%v}",
		r.ConfigBackup, redacted, r.IncludeServerConfig, r.Store, r.DryRun)
}

// GoString is String.
func (r RestoreRequest) GoString() string { return r.String() }

// LogValue makes slog print r without its passwords.
func (r RestoreRequest) LogValue() slog.Value { return slog.StringValue(r.String()) }

// String describes r without its passwords.
func (r VerifyRequest) String() string {
	return fmt.Sprintf("{ConfigBackup:%q Password:%s StoreFile:%q Store:%s}", r.ConfigBackup, redacted, r.StoreFile, r.Store)
}

// GoString is String.
func (r VerifyRequest) GoString() string { return r.String() }

// LogValue makes slog print r without its passwords.
func (r VerifyRequest) LogValue() slog.Value { return slog.StringValue(r.String()) }

// LogValue makes slog print p without its password.
func (p StoreParams) LogValue() slog.Value { return slog.StringValue(p.String()) }
