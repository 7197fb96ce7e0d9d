package archive

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/golden-v1.mqsbak and the FuzzReader seed corpus")

const (
	goldenPath = "testdata/golden-v1.mqsbak"
	goldenPass = "golden-password-1"
)

func goldenManifest() *Manifest {
	return &Manifest{
		FormatVersion:    1,
		ServerVersion:    "0.1.0",
		ServerName:       "golden",
		ServerUID:        "0f1e2d3c",
		BackupID:         "20261127-080000-golden",
		Created:          time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC),
		ConfigGeneration: 7,
		ObjectCounts:     map[string]int{"Endpoint": 1, "MessageHub": 1, "User": 3},
		Kind:             KindConfig,
		StoreBackup: &StoreBackup{
			Name:     "store.20261127-080000",
			Size:     123456,
			SHA256:   "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
			LSN:      4242,
			StoreUID: "a1b2c3",
		},
	}
}

func goldenEntries() []testEntry {
	return []testEntry{
		{"config.json", 0o600, []byte(`{"ServerName":"golden","MessageHub":{"hub":{}}}`)},
		{"certs/server.key", 0o600, []byte("-----BEGIN PRIVATE KEY-----\nnot a real key\n-----END PRIVATE KEY-----\n")},
		{"empty", 0o644, nil},
	}
}

func writeGolden(t *testing.T) []byte {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, goldenPass, KindConfig, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteManifest(goldenManifest()); err != nil {
		t.Fatal(err)
	}
	for _, e := range goldenEntries() {
		ew, err := w.CreateEntry(e.name, e.mode, int64(len(e.data)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ew.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The committed archive, written by format version 1 with a random age key,
// must decode identically in every later version. Regenerate only with
// -update, and only for a deliberate, documented format change.
func TestGolden(t *testing.T) {
	if *update {
		data := writeGolden(t)
		if err := os.WriteFile(goldenPath, data, 0o644); err != nil {
			t.Fatal(err)
		}
		writeFuzzSeeds(t, data)
	}
	data, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	m, entries, err := readAll(data, goldenPass)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := encodeManifest(m, KindConfig)
	want, _ := encodeManifest(goldenManifest(), KindConfig)
	if !bytes.Equal(got, want) {
		t.Fatalf("manifest\n got %s\nwant %s", got, want)
	}
	assertEntries(t, entries, goldenEntries())
	s, err := VerifyFile(goldenPath, goldenPass)
	if err != nil || s.Size != int64(len(data)) {
		t.Fatalf("VerifyFile: %+v, %v", s, err)
	}
	if _, err := VerifyFile(goldenPath, testPass); !onlySentinel(err, ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
}

// writeFuzzSeeds stores seeds for FuzzReader in the corpus directory, which
// `go test` runs every time: the golden archive, a truncated one, a flipped
// one, a foreign file and an empty one.
func writeFuzzSeeds(t *testing.T, golden []byte) {
	dir := filepath.Join("testdata", "fuzz", "FuzzReader")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(golden)
	flipped[len(flipped)/2] ^= 0x40
	seeds := map[string][]byte{
		"golden":          golden,
		"truncated":       golden[:len(golden)-trailerSize-7],
		"flipped":         flipped,
		"header-only":     golden[:headerSize],
		"not-a-backup":    []byte("age-encryption.org/v1\n-> scrypt AAAA 10\n"),
		"empty":           {},
		"trailer-missing": golden[:len(golden)-trailerSize],
	}
	for name, data := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
