package store

import (
	"path/filepath"
	"testing"
)

func TestReincarnateNewUIDAndLSNFloor(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := s.NewBatch()
	b.Put(MessageKey(1), []byte("x"))
	if _, err := s.Commit(b); err != nil {
		t.Fatal(err)
	}
	oldUID := s.UID()
	s.Close()

	uid, lsn, err := Reincarnate(dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	if uid == oldUID || lsn != 100 {
		t.Fatalf("got uid %s lsn %d; want a new uid and lsn 100", uid, lsn)
	}
	// A floor below the store's LSN keeps the store's LSN.
	if _, lsn, err = Reincarnate(dir, 7); err != nil || lsn != 100 {
		t.Fatalf("lower floor: lsn %d, %v", lsn, err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.UID() == oldUID || s.LastLSN() != 100 {
		t.Fatalf("reopened: uid %s lsn %d", s.UID(), s.LastLSN())
	}
	if v, err := s.Get(MessageKey(1)); err != nil || string(v) != "x" {
		t.Fatalf("data lost: %q %v", v, err)
	}
	b = s.NewBatch()
	b.Put(MessageKey(2), []byte("y"))
	if lsn, err := s.Commit(b); err != nil || lsn != 101 {
		t.Fatalf("next commit got LSN %d (%v), want 101", lsn, err)
	}
}

// The restored mark survives a restart, a checkpoint and a reincarnation,
// and a Clean drops it with the data.
func TestMarkRestored(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.RestoredUpTo(); err != nil || n != 0 {
		t.Fatalf("new store: RestoredUpTo %d, %v", n, err)
	}
	before := s.LastLSN()
	if err := s.MarkRestored(41); err != nil {
		t.Fatal(err)
	}
	if s.LastLSN() != before+1 {
		t.Fatalf("LSN %d after the mark, want %d", s.LastLSN(), before+1)
	}
	cp := filepath.Join(t.TempDir(), "cp")
	if _, err := s.Checkpoint(cp); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, _, err := Reincarnate(cp, 0); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, cp} {
		s, err := Open(d, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if n, err := s.RestoredUpTo(); err != nil || n != 41 {
			t.Fatalf("%s: RestoredUpTo %d, %v; want 41", d, n, err)
		}
		if d == dir {
			if err := s.Clean(); err != nil {
				t.Fatal(err)
			}
			if n, err := s.RestoredUpTo(); err != nil || n != 0 {
				t.Fatalf("after Clean: RestoredUpTo %d, %v; want 0", n, err)
			}
		}
		s.Close()
	}
}
