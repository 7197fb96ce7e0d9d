package backup

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRecoverPending covers the outcomes of a pending marker at start: the
// configuration backup was linked after all (nothing to do), a file://
// orphan (removed), a remote orphan (reported, left), a torn marker
// (dropped), no marker (nothing).
func TestRecoverPending(t *testing.T) {
	for _, tc := range []struct {
		name        string
		marker      func(storeDir string) string // "" writes none
		linked      bool
		wantOrphan  bool
		wantRemoved bool
		storeStays  bool
	}{
		{name: "no marker", marker: func(string) string { return "" }, storeStays: true},
		{name: "configuration linked", marker: fileMarker, linked: true, storeStays: true},
		{name: "file orphan", marker: fileMarker, wantOrphan: true, wantRemoved: true},
		{name: "remote orphan", marker: func(string) string {
			return `{"ConfigBackup":"imaBackup.101010-11272026","StoreURL":"sftp://127.0.0.1:2222/x/s.bak"}`
		}, wantOrphan: true, storeStays: true},
		{name: "torn marker", marker: func(string) string { return `{"ConfigBa` }, storeStays: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, userfiles, storeDir := t.TempDir(), t.TempDir(), t.TempDir()
			storeFile := filepath.Join(storeDir, "s.bak")
			os.WriteFile(storeFile, []byte("store"), 0o600)
			if tc.linked {
				os.WriteFile(filepath.Join(userfiles, "imaBackup.101010-11272026"), []byte("config"), 0o600)
			}
			if m := tc.marker(storeDir); m != "" {
				os.WriteFile(filepath.Join(data, pendingName), []byte(m), 0o600)
			}
			out, err := RecoverPending(data, userfiles)
			if err != nil {
				t.Fatal(err)
			}
			if (out.Orphan != "") != tc.wantOrphan || out.Removed != tc.wantRemoved {
				t.Fatalf("outcome %+v, want orphan %v removed %v", out, tc.wantOrphan, tc.wantRemoved)
			}
			if _, err := os.Stat(storeFile); (err == nil) != tc.storeStays {
				t.Fatalf("store file present %v, want %v", err == nil, tc.storeStays)
			}
			if _, err := os.Stat(filepath.Join(data, pendingName)); err == nil {
				t.Fatal("marker left")
			}
		})
	}
}

func fileMarker(storeDir string) string {
	return `{"ConfigBackup":"imaBackup.101010-11272026","StoreURL":"file://` + storeDir + `/s.bak"}`
}
