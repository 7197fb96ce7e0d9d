package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mqsight/mqsight/internal/archive"
	"github.com/mqsight/mqsight/internal/backup"
	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/destination"
	"github.com/mqsight/mqsight/internal/job"
)

// TestBackupErrorCodes: every failure kind of backup, restore and
// destinations maps to its own row of the error table, also when wrapped.
func TestBackupErrorCodes(t *testing.T) {
	cases := []struct {
		err  error
		code Code
	}{
		{archive.ErrWrongPassword, CodeBackupPassword},
		{archive.ErrTruncated, CodeBackupTruncated},
		{archive.ErrTampered, CodeBackupTampered},
		{archive.ErrNotBackup, CodeNotBackup},
		{archive.ErrNewerFormat, CodeBackupNewer},
		{config.ErrNewerFormat, CodeBackupNewer},
		{archive.ErrCorrupt, CodeBackupCorrupt},
		{backup.ErrWrongKind, CodeBackupKind},
		{backup.ErrStoreMismatch, CodeStoreMismatch},
		{backup.ErrStoreMissing, CodeStoreMissing},
		{destination.ErrNotFound, CodeStoreMissing},
		{destination.ErrUnreachable, CodeUnreachable},
		{destination.ErrHostKey, CodeHostKey},
		{destination.ErrAuth, CodeDestinationAuth},
		{destination.ErrBadURL, CodeBadDestination},
		{&destination.MissingError{Missing: []string{"UserID", "Password"}}, CodeStoreParams},
		{destination.ErrCredentials, CodeStoreParams},
		{backup.ErrNameTaken, CodeNameTaken},
		{destination.ErrExists, CodeNameTaken},
		{backup.ErrBusy, CodeBusy},
		{job.ErrBusy, CodeBusy},
		{backup.ErrInvalidRestore, CodeInvalidRestore},
		{backup.ErrNoSpace, CodeNoSpace},
	}
	seen := map[Code]bool{}
	for _, tc := range cases {
		err := fmt.Errorf("restore: store sftp://h/x: %w", tc.err)
		var e *Error
		if !errors.As(backupError(err), &e) || e.Code != tc.code {
			t.Errorf("%v → %v, want %s", tc.err, backupError(err), tc.code)
			continue
		}
		seen[e.Code] = true
	}
	// The backup codes are all reachable.
	for _, c := range []Code{CodeBackupPassword, CodeBackupTruncated, CodeBackupTampered, CodeNotBackup, CodeBackupNewer,
		CodeStoreMismatch, CodeStoreMissing, CodeUnreachable, CodeHostKey, CodeDestinationAuth, CodeBadDestination,
		CodeStoreParams, CodeNameTaken, CodeBackupKind, CodeBackupCorrupt, CodeInvalidRestore, CodeNoSpace} {
		if !seen[c] {
			t.Errorf("no failure maps to %s", c)
		}
	}
	// The missing parameters are named; an unknown error stays as it is.
	if msg := backupError(&destination.MissingError{Missing: []string{"UserID", "Password"}}).Error(); !strings.Contains(msg, "UserID, Password") {
		t.Errorf("missing parameters message %q", msg)
	}
	plain := errors.New("disk full")
	if backupError(plain) != plain {
		t.Error("an unknown error was relabelled")
	}
	// A job's failure text starts with its code.
	a, _ := newTestAPI(t)
	if got := a.failJob(fmt.Errorf("x: %w", archive.ErrTruncated)).Error(); !strings.HasPrefix(got, string(CodeBackupTruncated)+" ") {
		t.Errorf("job failure %q", got)
	}
	// The server not running is described from its status, as a 503 is.
	if got := a.failJob(fmt.Errorf("backup: %w", ErrNotRunning)).Error(); !strings.HasPrefix(got, string(CodeUnavailable)+" ") ||
		!strings.Contains(got, "Stopping for restart") {
		t.Errorf("job failure while restarting %q", got)
	}
}

// TestParseBackupAndRestore checks the request rules that are decided
// before any job starts.
func TestParseBackupAndRestore(t *testing.T) {
	bad := []struct {
		body map[string]any
		code Code
		says string // the message ends with this
	}{
		{map[string]any{}, CodeRequired, ": Password."},
		{map[string]any{"Password": "seven77"}, CodeBadValue, "Password must be at least 8 characters."},
		{map[string]any{"Password": 12345678}, CodeBadValue, ""},
		{map[string]any{"Password": "long-enough", "Other": "x"}, CodeBadArgument, ""},
		{map[string]any{"Password": "long-enough", "StoreDestinationURL": "s3://h/b/k"}, CodeStoreParams,
			"missing: StoreDestinationUserID, StoreDestinationPassword."},
		{map[string]any{"Password": "long-enough", "StoreDestinationURL": "sftp://h/b/k", "StoreDestinationUserID": "u"}, CodeStoreParams,
			"missing: StoreDestinationPassword."},
		{map[string]any{"Password": "long-enough", "StoreDestinationUserID": "u"}, CodeStoreParams,
			"missing: StoreDestinationURL, StoreDestinationPassword."},
		{map[string]any{"Password": "long-enough", "StoreDestinationURL": "ftp://h/x", "StoreDestinationUserID": "u", "StoreDestinationPassword": "p"}, CodeBadDestination, ""},
		{map[string]any{"Password": "long-enough", "StoreDestinationURL": "sftp://h/x", "StoreDestinationUserID": "u",
			"StoreDestinationPassword": "p", "StoreDestinationHostKey": "not-a-fingerprint"}, CodeBadValue,
			`StoreDestinationHostKey: host key fingerprint must start with "SHA256:" (as ssh-keygen -lf prints it).`},
		{map[string]any{"Password": "long-enough", "StoreDestinationURL": "s3://h/b/k", "StoreDestinationUserID": "u",
			"StoreDestinationPassword": "p", "StoreDestinationHostKey": "SHA256:" + strings.Repeat("A", 43)}, CodeBadValue,
			"StoreDestinationHostKey: a host key applies only to sftp and scp."},
	}
	for _, tc := range bad {
		_, err := parseBackup(tc.body)
		var e *Error
		if !errors.As(err, &e) || e.Code != tc.code {
			t.Errorf("%v: %v, want %s", tc.body, err, tc.code)
		} else if !strings.HasSuffix(e.Error(), tc.says) {
			t.Errorf("%v: message %q, want it to end with %q", tc.body, e.Error(), tc.says)
		}
		if err != nil && strings.Contains(err.Error(), "long-enough") {
			t.Errorf("%v: error quotes the password", tc.body)
		}
	}
	_, _, err := parseRestore(map[string]any{"Name": "b", "Password": "long-enough", "StoreSourceURL": "sftp://h/x", "StoreSourcePassword": "p"})
	if e := (*Error)(nil); !errors.As(err, &e) || e.Code != CodeStoreParams || !strings.HasSuffix(e.Error(), "missing: StoreSourceUserID.") {
		t.Errorf("restore with partial store parameters: %v", err)
	}
	req, err := parseBackup(map[string]any{"Password": "long-enough", "StoreDestinationURL": "file:///tmp/x.bak",
		"StoreDestinationUserID": "ignored"})
	if err != nil || req.Password != "long-enough" || req.Store.URL != "file:///tmp/x.bak" {
		t.Fatalf("file:// backup: %+v %v", req, err)
	}

	name, rr, err := parseRestore(map[string]any{"Name": "imaBackup.1", "Password": "p", "IncludeServerConfig": true, "DryRun": true})
	if err != nil || name != "imaBackup.1" || !rr.IncludeServerConfig || !rr.DryRun || !rr.Store.IsZero() {
		t.Fatalf("restore: %q %+v %v", name, rr, err)
	}
	for _, body := range []map[string]any{
		{"Password": "p"},
		{"Name": "x"},
		{"Name": "../x", "Password": "p"},
		{"Name": "x", "Password": "p", "DryRun": "yes"},
		{"Name": "x", "Password": "p", "StoreSourceURL": "sftp://h/x", "StoreSourceUserID": "u"},
	} {
		if _, _, err := parseRestore(body); err == nil {
			t.Errorf("%v accepted", body)
		}
	}
}

// TestProgressToJob: per-phase byte progress becomes the job's step and
// bytes, restarting at each phase.
func TestProgressToJob(t *testing.T) {
	reg := job.NewRegistry(job.Options{})
	defer reg.Close()
	gate := make(chan struct{})
	st, err := reg.Start("backup", func(ctx context.Context, p *job.Progress) (map[string]any, error) {
		f := progressTo(p)
		f(backup.Progress{Phase: backup.PhaseCheckpoint, Done: 100, Total: 100})
		f(backup.Progress{Phase: backup.PhaseUpload, Done: 10, Total: 50})
		f(backup.Progress{Phase: backup.PhaseUpload, Done: 40, Total: 50})
		close(gate)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	<-gate
	got, _ := reg.Get(st.RequestID)
	if got.Step != "upload" || got.BytesDone != 40 || got.BytesTotal != 50 {
		t.Fatalf("status %+v", got)
	}
}

// A panic in a backup or restore job fails it with a code, as every other
// failure does.
func TestCodedJobPanic(t *testing.T) {
	_, err := coded(func(context.Context, *job.Progress) (map[string]any, error) { panic("boom") })(context.Background(), &job.Progress{})
	if err == nil || !strings.HasPrefix(err.Error(), string(CodeInternal)+" ") || !strings.Contains(err.Error(), "panic: boom") {
		t.Fatalf("err %v, want %s with the panic", err, CodeInternal)
	}
	res, err := coded(func(context.Context, *job.Progress) (map[string]any, error) { return map[string]any{"ok": true}, nil })(context.Background(), &job.Progress{})
	if err != nil || res["ok"] != true {
		t.Fatalf("a job that does not panic: %v, %v", res, err)
	}
}

// A job's error message does not say its code's words twice.
func TestBackupErrorSaysItOnce(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("restore: %w: BackupID a is not b", backup.ErrStoreMismatch),
			"The store backup does not belong to this configuration backup: restore: BackupID a is not b."},
		{fmt.Errorf("restore: %w", backup.ErrStoreMismatch),
			"The store backup does not belong to this configuration backup: restore."},
		{fmt.Errorf("sftp 127.0.0.1:22: %w: dial tcp: connection refused", destination.ErrUnreachable),
			"sftp 127.0.0.1:22: dial tcp: connection refused"},
	} {
		got := backupError(tc.err).Error()
		if !strings.Contains(got, tc.want) || strings.Count(got, "does not belong") > 1 || strings.Contains(got, "destination unreachable: dial") {
			t.Errorf("%v → %q, want it to hold %q", tc.err, got, tc.want)
		}
	}
}
