package backup

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRecoverPending covers what the next start does with the pending
// marker: nothing for an entry whose configuration backup was linked after
// all, removes a file:// orphan, reports a remote one, and removes the
// marker; without a marker it does nothing.
func TestRecoverPending(t *testing.T) {
	data, userfiles, storeDir := t.TempDir(), t.TempDir(), t.TempDir()
	if out, err := RecoverPending(data, userfiles); err != nil || len(out) != 0 {
		t.Fatalf("no marker: %v %v", out, err)
	}
	write := func(name string) string {
		p := filepath.Join(storeDir, name)
		os.WriteFile(p, []byte("store"), 0o600)
		return p
	}
	linkedStore, orphanStore := write("linked.bak"), write("orphan.bak")
	os.WriteFile(filepath.Join(userfiles, "imaBackup.101010-11272026"), []byte("config"), 0o600)
	for _, p := range []pending{
		{ConfigBackup: "imaBackup.101010-11272026", StoreURL: "file://" + linkedStore},
		{ConfigBackup: "imaBackup.111111-11272026", StoreURL: "file://" + orphanStore},
		{ConfigBackup: "imaBackup.121212-11272026", StoreURL: "sftp://127.0.0.1:2222/x/s.bak"},
	} {
		if err := markPending(data, p); err != nil {
			t.Fatal(err)
		}
	}
	out, err := RecoverPending(data, userfiles)
	if err != nil {
		t.Fatal(err)
	}
	want := []PendingOutcome{{Orphan: "file://" + orphanStore, Removed: true}, {Orphan: "sftp://127.0.0.1:2222/x/s.bak"}}
	if len(out) != len(want) || out[0] != want[0] || out[1] != want[1] {
		t.Fatalf("outcomes %+v, want %+v", out, want)
	}
	if _, err := os.Stat(linkedStore); err != nil {
		t.Fatalf("the store backup of a linked pair was touched: %v", err)
	}
	if _, err := os.Stat(orphanStore); err == nil {
		t.Fatal("file:// orphan not removed")
	}
	if _, err := os.Stat(filepath.Join(data, pendingName)); err == nil {
		t.Fatal("marker left")
	}

	// A replacement cut short by a kill leaves its temporary: it goes too.
	os.WriteFile(filepath.Join(data, pendingName+".tmp"), []byte("[{"), 0o600)
	if out, err := RecoverPending(data, userfiles); err != nil || len(out) != 0 {
		t.Fatalf("with only a temporary: %v %v", out, err)
	}
	if _, err := os.Stat(filepath.Join(data, pendingName+".tmp")); err == nil {
		t.Fatal("the marker's temporary is left")
	}
}

// TestPendingEntriesAreKeptApart: a backup that completes takes only its
// own entry out of the marker, so an orphan an earlier failed backup left
// is still reported at the next start.
func TestPendingEntriesAreKeptApart(t *testing.T) {
	data, userfiles := t.TempDir(), t.TempDir()
	first := pending{ConfigBackup: "imaBackup.101010-11272026", StoreURL: "sftp://127.0.0.1:2222/x/first.bak"}
	second := pending{ConfigBackup: "imaBackup.111111-11272026", StoreURL: "sftp://127.0.0.1:2222/x/second.bak"}
	for _, p := range []pending{first, second} {
		if err := markPending(data, p); err != nil {
			t.Fatal(err)
		}
	}
	clearPending(data, second.ConfigBackup)
	out, err := RecoverPending(data, userfiles)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Orphan != first.StoreURL || out[0].Removed {
		t.Fatalf("outcomes %+v, want the first backup's store reported", out)
	}
}
