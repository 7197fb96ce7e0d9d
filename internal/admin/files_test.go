package admin

import (
	"bytes"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/archive"
)

// TestOpenUserFile: only a regular file opens; a symbolic link (to a
// regular file), a directory and a FIFO are absent (errNotUserFile wraps
// fs.ErrNotExist), the FIFO without waiting for a writer.
func TestOpenUserFile(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret.key")
	for path, data := range map[string]string{filepath.Join(dir, "plain"): "user data", outside: "secret"} {
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("plain", filepath.Join(dir, "inside-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if data, err := readUserFile(dir, "plain"); err != nil || string(data) != "user data" {
		t.Fatalf("plain: %q %v", data, err)
	}
	for _, name := range []string{"link", "inside-link", "sub", "fifo"} {
		f, _, err := openUserFile(dir, name)
		if !errors.Is(err, errNotUserFile) || !errors.Is(err, fs.ErrNotExist) {
			if f != nil {
				f.Close()
			}
			t.Errorf("%s: %v, want errNotUserFile", name, err)
		}
	}
	if _, _, err := openUserFile(dir, "absent"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("absent: %v", err)
	}
}

// TestIsBackup: archive.IsBackup knows what internal/archive writes, for both
// kinds and every format version it reads; other files are no backups.
func TestIsBackup(t *testing.T) {
	dir := t.TempDir()
	files := map[string]bool{"empty": false, "short": false, "pem": false, "age": false, "magic-prefix": false}
	contents := map[string][]byte{
		"empty":        nil,
		"short":        []byte("\x89MQ"),
		"magic-prefix": []byte("\x89MQSBK\r"),
		"pem":          []byte("-----BEGIN CERTIFICATE-----\n"),
		"age":          []byte("age-encryption.org/v1\n"), // age, but not an mqsight backup
	}
	for _, kind := range []archive.Kind{archive.KindConfig, archive.KindStore} {
		var buf bytes.Buffer
		w, err := archive.NewWriter(&buf, "unit-test-backup-password", kind, archive.WriterOptions{WorkFactor: archive.MinWorkFactor})
		if err != nil {
			t.Fatal(err)
		}
		m := &archive.Manifest{ServerVersion: "test", ServerName: "mqsight", ServerUID: "uid", BackupID: "b1",
			Created: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)}
		if kind == archive.KindStore {
			m.LSN, m.StoreUID = 1, "store-1"
		}
		if err := w.WriteManifest(m); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		contents[string(kind)], files[string(kind)] = buf.Bytes(), true
	}
	golden, err := os.ReadFile(filepath.Join("..", "archive", "testdata", "golden-v1.mqsbak"))
	if err != nil {
		t.Fatal(err)
	}
	contents["golden-v1"], files["golden-v1"] = golden, true
	for name, want := range files {
		if err := os.WriteFile(filepath.Join(dir, name), contents[name], 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := archive.IsBackup(f)
		f.Close()
		if err != nil || got != want {
			t.Errorf("%s: isBackup %v %v, want %v", name, got, err, want)
		}
	}
}

// TestUploadRefusesSpoofableNames: the names checkFileName refuses for
// what they look like are refused by the upload itself, and nothing is
// written.
func TestUploadRefusesSpoofableNames(t *testing.T) {
	a, _ := newTestAPI(t)
	for _, name := range []string{"invoice\u202Egpj.exe", "etc\u2215passwd", "server.pem ", " server.pem"} {
		status, body := call(t, a, "PUT", "/ima/v1/file/"+url.PathEscape(name), "x")
		if status != 400 || body["Code"] != string(CodeFileName) {
			t.Errorf("PUT %q: %d %v", name, status, body)
		}
	}
	if ents, _ := os.ReadDir(a.opts.UserFilesDir); len(ents) != 0 {
		t.Fatalf("written: %v", ents)
	}
}
