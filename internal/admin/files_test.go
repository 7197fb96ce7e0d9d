package admin

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
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
