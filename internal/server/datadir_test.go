package server

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestStartRemovesTemporaries plants what killed backups, exports, uploads
// and maintenance switches leave behind, and checks that the next start
// removes exactly those and nothing else.
func TestStartRemovesTemporaries(t *testing.T) {
	ts := startTestServer(t)
	certDir := ts.s.Config().CertificateDir()
	userFiles := ts.s.dir.userFilesDir()
	ts.close()

	write := func(path string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	gone := []string{
		filepath.Join(userFiles, ".imaBackup.101010-11272026.tmp-123"),
		filepath.Join(userFiles, ".upload-456"),
		filepath.Join(userFiles, ".export-789", "imaBackup.101010-11272026"),
		filepath.Join(certDir, ".upload-12"),
		filepath.Join(ts.dir, ".maintenance-34"),
	}
	kept := []string{
		filepath.Join(userFiles, "imaBackup.101010-11272026"),
		filepath.Join(userFiles, "upload-456"),
		filepath.Join(userFiles, ".notes"),
		filepath.Join(certDir, "server.pem"),
	}
	for _, p := range append(gone, kept...) {
		write(p)
	}

	ts.open()
	for _, p := range gone {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: still there after start (%v)", p, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(userFiles, ".export-789")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("export directory still there after start (%v)", err)
	}
	for _, p := range kept {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s: removed at start: %v", p, err)
		}
	}
}
