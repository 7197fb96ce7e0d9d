package backup

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/mqsight/mqsight/internal/archive"
	"github.com/mqsight/mqsight/internal/store"
)

// A format 1 store backup — encrypted with the password, no key in its
// configuration backup — still restores: extractStore falls back to the
// password. The same holds when the configuration backup carries a key
// (format 2) but the store backup predates it.
func TestFormat1StoreBackupStillReads(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := st.NewBatch()
	msg := store.Message{ID: 1, Topic: "old/format", Payload: []byte("from a format 1 backup"), QoS: 1}
	b.Put(store.MessageKey(1), msg.Encode())
	if _, err := st.Commit(b); err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(dir, "cp")
	lsn, err := st.Checkpoint(cp)
	if err != nil {
		t.Fatal(err)
	}
	uid := st.UID()
	st.Close()

	// The store backup as format 1 wrote it.
	var buf bytes.Buffer
	aw, err := archive.NewWriter(&buf, testPassword, archive.KindStore, archive.WriterOptions{WorkFactor: testWF, Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := aw.WriteManifest(&archive.Manifest{BackupID: "b1", LSN: lsn, StoreUID: uid}); err != nil {
		t.Fatal(err)
	}
	files, _, err := listTree(cp)
	if err != nil {
		t.Fatal(err)
	}
	copyBuf := make([]byte, copyBufferSize)
	for _, f := range files {
		if err := copyEntry(context.Background(), aw, cp, f, copyBuf, func(int) {}); err != nil {
			t.Fatal(err)
		}
	}
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := &archive.Manifest{FormatVersion: 1, Kind: archive.KindConfig, BackupID: "b1",
		StoreBackup: &archive.StoreBackup{Name: "s.bak", Size: aw.Size(), SHA256: hex.EncodeToString(aw.SHA256()), LSN: lsn, StoreUID: uid}}
	otherKey, err := archive.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []*archive.Key{nil, otherKey} {
		out := filepath.Join(t.TempDir(), "staged")
		m, err := extractStore(context.Background(), bytes.NewReader(buf.Bytes()), int64(buf.Len()), testPassword,
			&ConfigBackup{Manifest: cfg, StoreKey: key}, out, nil)
		if err != nil {
			t.Fatalf("key %v: %v", key, err)
		}
		if m.FormatVersion != 1 || m.LSN != lsn {
			t.Fatalf("store manifest %+v", m)
		}
		staged, err := store.Open(out, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		v, err := staged.Get(store.MessageKey(1))
		staged.Close()
		if err != nil || !bytes.Contains(v, []byte("from a format 1 backup")) {
			t.Fatalf("staged message: %q, %v", v, err)
		}
	}
	if _, err := os.Stat(cp); err != nil {
		t.Fatal(err)
	}
}

// A configuration-only backup is written in format 1, which every mqsight
// reads; one with a store backup in format 2 (it carries the store key).
func TestConfigOnlyBackupIsFormat1(t *testing.T) {
	ts := newTestServer(t, "src", nil)
	res, err := Backup(context.Background(), BackupRequest{Password: testPassword, Dir: ts.userfiles(), WorkFactor: testWF}, ts.deps(testOpener("")))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := ReadConfigBackup(bytes.NewReader(data), testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if v := int(data[8])<<8 | int(data[9]); v != 1 || cb.Manifest.FormatVersion != 1 || cb.StoreKey != nil {
		t.Fatalf("configuration-only backup: envelope version %d, manifest %d, key %v; want 1, 1, none", v, cb.Manifest.FormatVersion, cb.StoreKey)
	}
}
