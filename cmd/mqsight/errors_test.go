package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/term"
)

// runCLI runs the mqsight command line with args in-process and returns
// its standard output and error, and the error main would print after
// "mqsight: ".
func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

// writeFile writes data to a new file in a test directory.
func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Each layer names its own step once: `mqsight: verify: verify: ...`
// repeated the operation.
func TestVerifyErrorNamesTheOperationOnce(t *testing.T) {
	pw := writeFile(t, "pw", "a backup password\n")
	missing := filepath.Join(t.TempDir(), "imaBackup.101010-11272026")
	_, _, err := runCLI(t, "backup", "verify", missing, "--password-file", pw)
	if err == nil || strings.Count(err.Error(), "verify:") != 1 || !strings.HasPrefix(err.Error(), "verify: ") {
		t.Fatalf("err %v, want one leading \"verify: \"", err)
	}
}

// An empty password source is reported as such, naming it, and never
// reaches the archive (which would call it a wrong password).
func TestEmptyPasswordSourceIsNamed(t *testing.T) {
	backupFile := writeFile(t, "imaBackup.101010-11272026", "not read")
	empty := writeFile(t, "empty", "")
	blank := writeFile(t, "blank", "\r\nsecond line")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"empty file", []string{"backup", "verify", backupFile, "--password-file", empty}, "backup password file " + empty + " (--password-file) is empty"},
		{"empty first line", []string{"backup", "verify", backupFile, "--password-file", blank}, "backup password file " + blank + " (--password-file) has an empty first line"},
		{"restore, empty file", []string{"restore", backupFile, "--password-file", empty, "--password", "admin"}, "backup password file " + empty + " (--password-file) is empty"},
		{"missing file", []string{"backup", "verify", backupFile, "--password-file", blank + "x"}, "--password-file: open " + blank + "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCLI(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "wrong") {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("store password file", func(t *testing.T) {
		pw := writeFile(t, "pw", "a backup password\n")
		_, _, err := runCLI(t, "backup", "verify", backupFile, "--password-file", pw,
			"--store-url", "sftp://127.0.0.1/x", "--store-user", "u", "--store-password-file", empty)
		want := "store password file " + empty + " (--store-password-file) is empty"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("err %v, want %q", err, want)
		}
	})
	t.Run("variable set but empty", func(t *testing.T) {
		if term.IsTerminal(int(os.Stdin.Fd())) {
			t.Skip("standard input is a terminal: the command would prompt")
		}
		t.Setenv(envBackupPassword, "")
		_, _, err := runCLI(t, "backup", "verify", backupFile)
		want := envBackupPassword + " is set but empty"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("err %v, want %q", err, want)
		}
	})
}

// The backup password's file is --backup-password-file, told apart from
// the admin --password in the help of every command that has both; the
// old --password-file still works, hidden, and not together with the new.
func TestBackupPasswordFileFlag(t *testing.T) {
	backupFile := writeFile(t, "imaBackup.101010-11272026", "not read")
	empty := writeFile(t, "empty", "")
	for _, args := range [][]string{{"backup"}, {"restore"}, {"backup", "verify"}} {
		name := strings.Join(args, " ")
		help, _, err := runCLI(t, append(args, "--help")...)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(help, "--backup-password-file") || strings.Contains(help, "--password-file") {
			t.Errorf("%s --help lists --password-file or not --backup-password-file:\n%s", name, help)
		}
		if name != "backup verify" && !strings.Contains(help, "not the backup password (--backup-password-file)") {
			t.Errorf("%s --help does not tell --password from the backup password:\n%s", name, help)
		}
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"new name", []string{"backup", "verify", backupFile, "--backup-password-file", empty}, "(--backup-password-file) is empty"},
		{"old name", []string{"backup", "verify", backupFile, "--password-file", empty}, "(--password-file) is empty"},
		{"restore, new name", []string{"restore", backupFile, "--backup-password-file", empty, "--password", "admin"}, "(--backup-password-file) is empty"},
		{"both", []string{"backup", "verify", backupFile, "--backup-password-file", empty, "--password-file", empty}, "backup-password-file password-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCLI(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}
