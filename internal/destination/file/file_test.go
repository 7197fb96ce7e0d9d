package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mqsight/mqsight/internal/destination"
	"github.com/mqsight/mqsight/internal/destination/destinationtest"
)

func newDest(t *testing.T) destination.Destination {
	d, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestConformance(t *testing.T) {
	destinationtest.Run(t, newDest)
}

// TestTemporaryName checks that an upload in flight exists only under a
// clearly temporary name, and that a failed commit leaves nothing.
func TestTemporaryName(t *testing.T) {
	dir := t.TempDir()
	d, _ := New(dir)
	up, err := d.Create(context.Background(), "store.age")
	if err != nil {
		t.Fatal(err)
	}
	up.Write([]byte("partial"))
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries during an upload", len(entries))
	}
	name := entries[0].Name()
	if final, ok := destination.IsTempName(name); !ok || final != "store.age" || !strings.HasPrefix(name, ".store.age.partial-") {
		t.Errorf("temporary file %q is not clearly temporary", name)
	}
	if fi, _ := entries[0].Info(); fi.Mode().Perm() != 0o600 {
		t.Errorf("temporary file mode %v, want 0600", fi.Mode().Perm())
	}
	// A crash here (no Commit, no Abort) leaves only that name.
	if _, err := d.Stat(context.Background(), "store.age"); !errors.Is(err, destination.ErrNotFound) {
		t.Errorf("Stat during upload = %v", err)
	}
	ci, err := up.Commit()
	if err != nil || !ci.Synced {
		t.Fatalf("Commit = %+v, %v", ci, err)
	}
	entries, _ = os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "store.age" {
		t.Errorf("after commit directory holds %v", entries)
	}
}

// TestCommitFailureRemovesTemp: when the rename is refused (a directory
// took the final name), nothing is left under either name.
func TestCommitFailureRemovesTemp(t *testing.T) {
	dir := t.TempDir()
	d, _ := New(dir)
	up, _ := d.Create(context.Background(), "x")
	up.Write([]byte("data"))
	os.Mkdir(filepath.Join(dir, "x"), 0o700)
	if _, err := up.Commit(); !errors.Is(err, destination.ErrExists) {
		t.Fatalf("Commit over a directory = %v, want ErrExists", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || !entries[0].IsDir() {
		t.Errorf("after failed commit directory holds %v", entries)
	}
}

func TestNewRefuses(t *testing.T) {
	if _, err := New("relative/dir"); !errors.Is(err, destination.ErrBadURL) {
		t.Errorf("New(relative) = %v", err)
	}
	if _, err := New(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, destination.ErrNotFound) {
		t.Errorf("New(missing) = %v", err)
	}
	f := filepath.Join(t.TempDir(), "f")
	os.WriteFile(f, nil, 0o600)
	if _, err := New(f); !errors.Is(err, destination.ErrNotFound) {
		t.Errorf("New(file) = %v", err)
	}
	loc, _ := destination.Parse("file://" + t.TempDir() + "/store.age")
	if d, err := FromLocation(loc); err != nil || d.Dir() != loc.Dir {
		t.Errorf("FromLocation = %v, %v", d, err)
	}
}

// TestDurabilityOrder observes the fsyncs of a commit: the data is synced
// while only the temporary name exists, the directory after the final name
// appears; a failed data sync fails the commit and leaves nothing.
func TestDurabilityOrder(t *testing.T) {
	dir := t.TempDir()
	d, _ := New(dir)
	final := filepath.Join(dir, "store.age")
	var events []string
	d.fsync = func(f *os.File) error {
		_, err := os.Stat(final)
		events = append(events, fmt.Sprintf("%s final=%v", f.Name(), err == nil))
		return f.Sync()
	}
	up, _ := d.Create(context.Background(), "store.age")
	tmp := up.(*upload).tmp
	up.Write([]byte("data"))
	if _, err := up.Commit(); err != nil {
		t.Fatal(err)
	}
	want := []string{tmp + " final=false", dir + " final=true"}
	if !slices.Equal(events, want) {
		t.Errorf("durability steps = %q, want %q", events, want)
	}

	injected := errors.New("disk on fire")
	d.fsync = func(*os.File) error { return injected }
	up, _ = d.Create(context.Background(), "second")
	up.Write([]byte("data"))
	if _, err := up.Commit(); !errors.Is(err, injected) {
		t.Fatalf("Commit with failing fsync = %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "store.age" {
		t.Errorf("after failed fsync the directory holds %v", entries)
	}
}
