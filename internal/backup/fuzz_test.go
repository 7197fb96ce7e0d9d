package backup

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/archive"
	"github.com/mqsight/mqsight/internal/config"
)

// fuzzPassword is short work: the seeds are written with MinWorkFactor.
const fuzzPassword = "fuzz-password"

// validConfigBackup builds a configuration backup with a store record and
// a certificate.
func validConfigBackup(t testing.TB, sb *archive.StoreBackup) []byte {
	t.Helper()
	c := config.Default()
	c.ServerUID, c.Generation = "0123456789abcdef", 3
	doc, err := config.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	m := &archive.Manifest{BackupID: "b1", Created: time.Unix(0, 0), ConfigGeneration: 3, StoreBackup: sb}
	var buf bytes.Buffer
	if _, err := writeConfigArchive(&buf, fuzzPassword, archive.MinWorkFactor, m, doc, []Certificate{{Name: "a.pem", Mode: 0o600, Data: []byte("CERT")}}, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzReadConfigBackup: no input makes ReadConfigBackup panic, and every
// failure wraps exactly the sentinels the API maps to errors. Seeds (a
// valid backup, truncations, flipped bytes, a bad store record) run in
// every go test.
func FuzzReadConfigBackup(f *testing.F) {
	good := validConfigBackup(f, &archive.StoreBackup{Name: "s.bak", Size: 100, SHA256: "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", LSN: 5, StoreUID: "u"})
	bad := validConfigBackup(f, &archive.StoreBackup{Name: ".hidden", Size: 0, SHA256: "xyz"})
	f.Add(good)
	f.Add(bad)
	f.Add(good[:len(good)/2])
	f.Add(good[:60])
	for _, i := range []int{9, 30, 70, len(good) / 2, len(good) - 10} {
		b := append([]byte(nil), good...)
		b[i] ^= 0x20
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ReadConfigBackup(bytes.NewReader(data), fuzzPassword)
		if err == nil {
			if b.Config == nil || b.Manifest == nil || b.Manifest.Kind != archive.KindConfig {
				t.Fatalf("accepted an incomplete backup: %+v", b)
			}
			return
		}
		known := []error{archive.ErrWrongPassword, archive.ErrTruncated, archive.ErrTampered, archive.ErrNotBackup,
			archive.ErrNewerFormat, archive.ErrCorrupt, ErrWrongKind, config.ErrCorrupt, config.ErrNewerFormat}
		for _, k := range known {
			if errors.Is(err, k) {
				return
			}
		}
		t.Fatalf("unclassified error: %v", err)
	})
}

func TestReadConfigBackupSeeds(t *testing.T) {
	b, err := ReadConfigBackup(bytes.NewReader(validConfigBackup(t, nil)), fuzzPassword)
	if err != nil {
		t.Fatal(err)
	}
	if b.Config.Generation != 3 || len(b.Certificates) != 1 || b.Certificates[0].Name != "a.pem" {
		t.Fatalf("read back %+v", b)
	}
	_, err = ReadConfigBackup(bytes.NewReader(validConfigBackup(t, &archive.StoreBackup{Name: ".hidden", SHA256: "xyz"})), fuzzPassword)
	mustErr(t, err, archive.ErrCorrupt)
}

// FuzzDecodeJournal: the restore journal parser never panics, and accepts
// only version-1 journals with a known state.
func FuzzDecodeJournal(f *testing.F) {
	f.Add([]byte(`{"Version":1,"State":"swapping","BackupID":"ab","Time":"2026-11-27T10:00:00Z"}`))
	f.Add([]byte(`{"Version":1,"State":"done","BackupID":"ab","Time":"2026-11-27T10:00:00Z"}` + "\n"))
	f.Add([]byte(`{"Version":2,"State":"done"}`))
	f.Add([]byte(`{"Version":1,"State":"maybe"}`))
	f.Add([]byte(`{"Version":1,"State":"done","Extra":1}`))
	f.Add([]byte(`{"Version":1,"State":"done"}{}`))
	f.Add([]byte(`{"Version":1,"Sta`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := decodeJournal(data)
		if err != nil {
			if !errors.Is(err, ErrJournal) {
				t.Fatalf("error %v does not wrap ErrJournal", err)
			}
			return
		}
		if j.Version != journalVersion || (j.State != stateSwapping && j.State != stateDone) {
			t.Fatalf("accepted %+v", j)
		}
	})
}

// FuzzCheckBinding: a store manifest binds to a configuration manifest only
// when every bound field is equal.
func FuzzCheckBinding(f *testing.F) {
	f.Add("id", "id", uint64(5), uint64(5), "u", "u", int64(10), int64(10))
	f.Add("id", "other", uint64(5), uint64(5), "u", "u", int64(10), int64(10))
	f.Add("id", "id", uint64(5), uint64(6), "u", "u", int64(10), int64(10))
	f.Add("id", "id", uint64(5), uint64(5), "u", "v", int64(10), int64(11))
	f.Fuzz(func(t *testing.T, cfgID, storeID string, cfgLSN, storeLSN uint64, cfgUID, storeUID string, cfgSize, size int64) {
		sum := bytes.Repeat([]byte{7}, 32)
		cfg := &archive.Manifest{Kind: archive.KindConfig, BackupID: cfgID, StoreBackup: &archive.StoreBackup{
			Name: "s", Size: cfgSize, SHA256: "0707070707070707070707070707070707070707070707070707070707070707", LSN: cfgLSN, StoreUID: cfgUID}}
		st := &archive.Manifest{Kind: archive.KindStore, BackupID: storeID, LSN: storeLSN, StoreUID: storeUID}
		err := CheckBinding(cfg, st, size, sum)
		match := cfgID == storeID && cfgLSN == storeLSN && cfgUID == storeUID && (size < 0 || size == cfgSize)
		if match != (err == nil) {
			t.Fatalf("match %v, error %v", match, err)
		}
		identity := cfgID == storeID && cfgLSN == storeLSN && cfgUID == storeUID
		switch {
		case err == nil:
		case !identity && !errors.Is(err, ErrStoreMismatch):
			t.Fatalf("error %v does not wrap ErrStoreMismatch", err)
		case identity && !errors.Is(err, archive.ErrTruncated):
			t.Fatalf("error %v does not wrap ErrTruncated", err)
		}
	})
}

// writeConfigArchive writes a configuration backup to w.
func writeConfigArchive(w io.Writer, password string, workFactor int, m *archive.Manifest, doc []byte, certs []Certificate, storeKey *archive.Key) (*archive.Writer, error) {
	aw, err := archive.NewWriter(w, password, archive.KindConfig, archive.WriterOptions{WorkFactor: workFactor})
	if err != nil {
		return nil, err
	}
	return aw, fillConfigArchive(aw, m, doc, certs, storeKey)
}
