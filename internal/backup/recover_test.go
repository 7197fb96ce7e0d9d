package backup

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRecoverRefusesToGuess: an unreadable journal, or a .restore-old
// directory without a journal, stops Recover with ErrJournal and nothing is
// touched.
func TestRecoverRefusesToGuess(t *testing.T) {
	for name, setup := range map[string]func(dir string){
		"garbage journal": func(dir string) {
			os.WriteFile(filepath.Join(dir, journalName), []byte("{not json"), 0o600)
		},
		"unknown state": func(dir string) {
			os.WriteFile(filepath.Join(dir, journalName), []byte(`{"Version":1,"State":"half","BackupID":"","Time":"2026-11-27T00:00:00Z"}`), 0o600)
		},
		"old state without journal": func(dir string) {
			os.MkdirAll(filepath.Join(dir, oldDirName, "config"), 0o700)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for _, d := range []string{"config", "store", stagingDirName} {
				os.MkdirAll(filepath.Join(dir, d), 0o700)
			}
			setup(dir)
			before := treeHash(t, dir)
			_, err := Recover(dir)
			mustErr(t, err, ErrJournal)
			if treeHash(t, dir) != before {
				t.Fatal("Recover changed the data directory")
			}
		})
	}
}

// TestRecoverIsIdempotent: Recover after Recover does nothing more, and a
// data directory without any restore is left alone apart from leftovers
// (staging, checkpoints).
func TestRecoverIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "config"), 0o700)
	os.WriteFile(filepath.Join(dir, "config", "server.json"), []byte("old\n"), 0o600)
	os.MkdirAll(filepath.Join(dir, "store"), 0o700)
	// An Apply killed after moving config aside and the staged config in.
	os.MkdirAll(filepath.Join(dir, oldDirName), 0o700)
	os.Rename(filepath.Join(dir, "config"), filepath.Join(dir, oldDirName, "config"))
	os.MkdirAll(filepath.Join(dir, "config"), 0o700)
	os.WriteFile(filepath.Join(dir, "config", "server.json"), []byte("new\n"), 0o600)
	os.MkdirAll(filepath.Join(dir, stagingDirName, "store"), 0o700)
	os.MkdirAll(filepath.Join(dir, checkpointPrefix+"123", "store-0"), 0o700)
	if err := writeJournal(dir, journal{Version: journalVersion, State: stateSwapping}); err != nil {
		t.Fatal(err)
	}
	out, err := Recover(dir)
	if err != nil || out != RecoverRolledBack {
		t.Fatalf("recover: %v, %v", out, err)
	}
	want := "d .\nd config\nd store\nf config/server.json " + sha256hex("old\n")
	if got := treeHash(t, dir); got != want {
		t.Fatalf("after Recover:\n%s\nwant\n%s", got, want)
	}
	out, err = Recover(dir)
	if err != nil || out != RecoverNothing || treeHash(t, dir) != want {
		t.Fatalf("second Recover: %v, %v", out, err)
	}
}
