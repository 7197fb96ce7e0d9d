package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// openTestStore opens a store in a fresh temporary directory and closes it
// when the test ends.
func openTestStore(t *testing.T, opts Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "store"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// commitPut commits one batch putting key=value and returns its LSN.
func commitPut(t *testing.T, s *Store, key, value string) uint64 {
	t.Helper()
	b := s.NewBatch()
	b.Put([]byte(key), []byte(value))
	lsn, err := s.Commit(b)
	if err != nil {
		t.Fatalf("commit %s: %v", key, err)
	}
	return lsn
}

// userKeys returns every non-meta key and value of s.
func userKeys(t *testing.T, s *Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := s.ScanRange(KindPrefix(KindMeta+1), nil, func(k, v []byte) error {
		out[string(k)] = string(v)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOpenNewStoreHasUIDAndLSNZero(t *testing.T) {
	s := openTestStore(t, Options{})
	if len(s.UID()) != 32 {
		t.Fatalf("UID %q: want 32 hex characters", s.UID())
	}
	if s.LastLSN() != 0 {
		t.Fatalf("LastLSN of a new store = %d, want 0", s.LastLSN())
	}
	other := openTestStore(t, Options{})
	if other.UID() == s.UID() {
		t.Fatal("two new stores got the same UID")
	}
}

func TestUIDAndLSNSurviveRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	uid := s.UID()
	for i := range 5 {
		commitPut(t, s, fmt.Sprintf("k%d", i), "v")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.UID() != uid || s.LastLSN() != 5 {
		t.Fatalf("after restart UID %s LSN %d, want %s 5", s.UID(), s.LastLSN(), uid)
	}
	if lsn := commitPut(t, s, "k5", "v"); lsn != 6 {
		t.Fatalf("first LSN after restart = %d, want 6", lsn)
	}
	if got, err := s.Get([]byte("k3")); err != nil || string(got) != "v" {
		t.Fatalf("Get after restart = %q, %v", got, err)
	}
}

func TestGetAndScan(t *testing.T) {
	s := openTestStore(t, Options{})
	b := s.NewBatch()
	for _, id := range []uint64{3, 1, 2} {
		m := Message{ID: id, Topic: "a"}
		b.Put(MessageKey(id), m.Encode())
	}
	b.Put(RetainedKey("a"), (&Retained{MessageID: 1}).Encode())
	if _, err := s.Commit(b); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(MessageKey(9)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
	}
	var ids []uint64
	err := s.Scan(KindPrefix(KindMessage), func(k, v []byte) error {
		id, err := ParseMessageKey(k)
		if err != nil {
			return err
		}
		m, err := DecodeMessage(v)
		if err != nil || m.ID != id {
			return fmt.Errorf("message %d: %+v %v", id, m, err)
		}
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ids) != "[1 2 3]" {
		t.Fatalf("scan order %v, want [1 2 3]", ids)
	}
	stop := errors.New("stop")
	n := 0
	if err := s.Scan(KindPrefix(KindMessage), func(k, v []byte) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("scan stopped by fn: err %v after %d calls", err, n)
	}
	// LastKey: the greatest key of the prefix, not of the next kind.
	if k, err := s.LastKey(KindPrefix(KindMessage)); err != nil || !bytes.Equal(k, MessageKey(3)) {
		t.Fatalf("LastKey of the messages: %x %v, want %x", k, err, MessageKey(3))
	}
	if _, err := s.LastKey(KindPrefix(KindSubscription)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LastKey of an empty prefix: %v, want ErrNotFound", err)
	}
}

func TestBatchOperations(t *testing.T) {
	s := openTestStore(t, Options{})
	b := s.NewBatch()
	for i := range 10 {
		b.Put(QueueEntryKey("q", uint64(i)), []byte("entry"))
	}
	b.Put([]byte("x"), []byte("1"))
	b.Put([]byte("y"), []byte("2"))
	if b.Count() != 12 || b.Len() == 0 {
		t.Fatalf("Count %d Len %d", b.Count(), b.Len())
	}
	if _, err := s.Commit(b); err != nil {
		t.Fatal(err)
	}
	b = s.NewBatch()
	b.DeleteSized(QueueEntryKey("q", 0), 5)
	b.DeleteRange(QueueEntryKey("q", 5), QueueEntryKey("q", 8))
	b.Delete([]byte("x"))
	if _, err := s.Commit(b); err != nil {
		t.Fatal(err)
	}
	got := userKeys(t, s)
	want := map[string]string{"y": "2"}
	for _, i := range []uint64{1, 2, 3, 4, 8, 9} {
		want[string(QueueEntryKey("q", i))] = "entry"
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("contents\n got %q\nwant %q", got, want)
	}
}

func TestReservedKeysAreRefused(t *testing.T) {
	s := openTestStore(t, Options{})
	cases := map[string]func(b *Batch){
		"empty key":        func(b *Batch) { b.Put(nil, []byte("v")) },
		"meta put":         func(b *Batch) { b.Put([]byte(metaLSNKey), []byte("v")) },
		"meta delete":      func(b *Batch) { b.Delete([]byte(metaUIDKey)) },
		"meta sized":       func(b *Batch) { b.DeleteSized([]byte(metaFormatKey), 1) },
		"range over meta":  func(b *Batch) { b.DeleteRange([]byte{0}, []byte{0xff}) },
		"range into meta":  func(b *Batch) { b.DeleteRange([]byte{0}, []byte{1, 0}) },
		"range from meta":  func(b *Batch) { b.DeleteRange([]byte{1, 'z'}, []byte{3}) },
		"put then invalid": func(b *Batch) { b.Put([]byte("ok"), nil); b.Put(nil, nil) },
	}
	for name, op := range cases {
		t.Run(name, func(t *testing.T) {
			b := s.NewBatch()
			op(b)
			if _, err := s.Commit(b); !errors.Is(err, ErrReservedKey) {
				t.Fatalf("Commit: %v, want ErrReservedKey", err)
			}
		})
	}
	if s.LastLSN() != 0 {
		t.Fatalf("refused batches consumed LSNs: %d", s.LastLSN())
	}
	if _, err := s.Get([]byte("ok")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("part of a refused batch was applied: %v", err)
	}
	// A range that ends exactly at the meta kind does not touch it.
	b := s.NewBatch()
	b.DeleteRange([]byte{0}, []byte{1})
	if _, err := s.Commit(b); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readMeta(s.mu.db); err != nil {
		t.Fatal(err)
	}
}

func TestBatchIsSpentByCommitOrDiscard(t *testing.T) {
	s := openTestStore(t, Options{})
	b := s.NewBatch()
	b.Put([]byte("a"), nil)
	if _, err := s.Commit(b); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(b); !errors.Is(err, errBatchSpent) {
		t.Fatalf("second Commit: %v", err)
	}
	d := s.NewBatch()
	d.Put([]byte("b"), nil)
	d.Discard()
	if _, err := s.Commit(d); !errors.Is(err, errBatchSpent) {
		t.Fatalf("Commit after Discard: %v", err)
	}
	if s.LastLSN() != 1 {
		t.Fatalf("LastLSN %d, want 1", s.LastLSN())
	}
}

func TestClosedStore(t *testing.T) {
	s := openTestStore(t, Options{})
	early := s.NewBatch()
	early.Put([]byte("a"), nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Commit(early); !errors.Is(err, ErrClosed) {
		t.Fatalf("Commit of a batch made before Close: %v", err)
	}
	late := s.NewBatch()
	late.Put([]byte("a"), nil)
	if _, err := s.Commit(late); !errors.Is(err, ErrClosed) {
		t.Fatalf("Commit after Close: %v", err)
	}
	if _, err := s.Get([]byte("a")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	if err := s.Scan(nil, func(k, v []byte) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Scan after Close: %v", err)
	}
	if _, err := s.LastKey(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("LastKey after Close: %v", err)
	}
	if _, err := s.Checkpoint(filepath.Join(t.TempDir(), "ck")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Checkpoint after Close: %v", err)
	}
	if err := s.Clean(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Clean after Close: %v", err)
	}
}

// setFormat rewrites the format record of the closed store in dir, as an
// older or a newer build would have written it.
func setFormat(t *testing.T, dir string, format byte) {
	t.Helper()
	db, err := pebble.Open(dir, Options{}.withDefaults().pebbleOptions(false))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte(metaFormatKey), []byte{format}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// formatOf reads the format record of the closed store in dir.
func formatOf(t *testing.T, dir string) byte {
	t.Helper()
	db, err := pebble.Open(dir, Options{}.withDefaults().pebbleOptions(true))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f, err := getCopy(db, []byte(metaFormatKey))
	if err != nil || len(f) != 1 {
		t.Fatalf("format record %x: %v", f, err)
	}
	return f[0]
}

func TestOpenRaisesAnOlderFormat(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	lsn := commitPut(t, s, "\x05k", "v")
	uid := s.UID()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := formatOf(t, dir); got != formatVersion {
		t.Fatalf("new store has format %d, want %d", got, formatVersion)
	}
	setFormat(t, dir, 1)
	// Reading the meta leaves the format as it is.
	if gotUID, gotLSN, err := ReadMeta(dir); err != nil || gotUID != uid || gotLSN != lsn {
		t.Fatalf("ReadMeta of a format 1 store: %s %d %v", gotUID, gotLSN, err)
	}
	if got := formatOf(t, dir); got != 1 {
		t.Fatalf("ReadMeta changed the format to %d", got)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("open a format 1 store: %v", err)
	}
	if s.UID() != uid || s.LastLSN() != lsn || userKeys(t, s)["\x05k"] != "v" {
		t.Fatalf("format 1 store opened as %s at %d with %v", s.UID(), s.LastLSN(), userKeys(t, s))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := formatOf(t, dir); got != formatVersion {
		t.Fatalf("format after Open = %d, want %d", got, formatVersion)
	}
}

func TestNewerFormatIsRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	commitPut(t, s, "\x05k", "v")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	setFormat(t, dir, formatVersion+1)
	want := fmt.Sprintf("the store has format %d; this build reads formats 1 to %d", formatVersion+1, formatVersion)
	for name, open := range map[string]func() error{
		"Open": func() error {
			s, err := Open(dir, Options{})
			if err == nil {
				s.Close()
			}
			return err
		},
		"ReadMeta":    func() error { _, _, err := ReadMeta(dir); return err },
		"Reincarnate": func() error { _, _, err := Reincarnate(dir, 0); return err },
	} {
		err := open()
		if !errors.Is(err, ErrNewerFormat) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want ErrNewerFormat saying %q", name, err, want)
		}
	}
	if got := formatOf(t, dir); got != formatVersion+1 {
		t.Fatalf("refusing the store changed its format to %d", got)
	}
	// Beside what looks like an interrupted Clean, a newer store is not
	// taken for a half-made one and recreated.
	if err := os.Mkdir(dir+deletingSuffix, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrNewerFormat) {
		t.Fatalf("Open beside %s: %v, want ErrNewerFormat", deletingSuffix, err)
	}
	if got := formatOf(t, dir); got != formatVersion+1 {
		t.Fatalf("the newer store was recreated (format %d)", got)
	}
	os.Remove(dir + deletingSuffix)
	setFormat(t, dir, 0)
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("format 0: %v, want ErrCorrupt", err)
	}
}

// The store's directory is the server user's only, created so or made so
// at Open: it holds every buffered payload.
func TestStoreDirectoryIsPrivate(t *testing.T) {
	for _, existing := range []bool{false, true} {
		dir := filepath.Join(t.TempDir(), "store")
		if existing {
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		st, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if mode := st.Mode().Perm(); mode != 0o700 {
			t.Fatalf("existing %v: store directory mode %v, want 0700", existing, mode)
		}
	}
}
