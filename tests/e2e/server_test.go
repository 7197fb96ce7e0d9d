package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A fresh machine: no files at all. The server creates its data directory
// with the embedded default configuration, prints the generated admin
// password once, stops cleanly on SIGTERM, and a second start reuses the
// directory and its ServerUID.
func TestFirstStartThenRestartKeepsServerUID(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mqsight-data")
	p := start(t, dir, nil)
	uid := logValue(p.logs.String(), "opened configuration", "serverUID")
	if uid == "" {
		t.Fatalf("no serverUID logged:\n%s", p.logs.String())
	}
	if !strings.Contains(p.logs.String(), "generated password:") {
		t.Fatalf("first start did not print the generated admin password:\n%s", p.logs.String())
	}
	for _, f := range []string{"config/server.json", "store", "config/certificates"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("after first start: %v", err)
		}
	}
	if err := p.terminate(30 * time.Second); err != nil {
		t.Fatalf("SIGTERM: exit %v, want status 0", err)
	}
	if !strings.Contains(p.logs.String(), "stopped cleanly") {
		t.Fatalf("no clean stop logged:\n%s", p.logs.String())
	}

	p2 := start(t, dir, nil)
	if got := logValue(p2.logs.String(), "opened configuration", "serverUID"); got != uid {
		t.Fatalf("second start: serverUID %q, want %q", got, uid)
	}
	if strings.Contains(p2.logs.String(), "generated password:") {
		t.Fatal("the admin password was printed again on the second start")
	}
	if err := p2.terminate(30 * time.Second); err != nil {
		t.Fatalf("second SIGTERM: %v", err)
	}
}

// The admin password can be chosen with MQSIGHT_ADMIN_PASSWORD and is then
// never printed.
func TestAdminPasswordFromEnvironment(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	p := start(t, dir, []string{"MQSIGHT_ADMIN_PASSWORD=chosen-secret-123"})
	if strings.Contains(p.logs.String(), "chosen-secret-123") || strings.Contains(p.logs.String(), "generated password") {
		t.Fatalf("password shown in output:\n%s", p.logs.String())
	}
	json, err := os.ReadFile(filepath.Join(dir, "config", "server.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(json), "chosen-secret-123") {
		t.Fatal("server.json holds the plaintext admin password")
	}
	p.terminate(30 * time.Second)
}

// Two servers never share a data directory.
func TestDataDirectoryIsLocked(t *testing.T) {
	d := prepareDataDir(t, nil)
	p := start(t, d.Path, nil)
	defer p.terminate(30 * time.Second)
	out, err := execBinary(t, "serve", "--data-dir", d.Path)
	if err == nil || !strings.Contains(out, "in use by another mqsight process") {
		t.Fatalf("second server on the same directory: err=%v output:\n%s", err, out)
	}
}

// `mqsight version` prints the server version and both format versions.
func TestVersionCommand(t *testing.T) {
	out, err := execBinary(t, "version")
	if err != nil {
		t.Fatalf("mqsight version: %v\n%s", err, out)
	}
	for _, want := range []string{"mqsight ", "configuration format 1", "store format 4", "backup format 2"} {
		if !strings.Contains(out, want) {
			t.Fatalf("version output %q lacks %q", out, want)
		}
	}
}
