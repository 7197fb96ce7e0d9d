package archive

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the version 2 golden archives and the FuzzReader seed corpus")

// Golden archives. golden-v1.mqsbak was written by format version 1 and is
// frozen: no later writer can produce it again. The version 2 files are
// rewritten by -update, only for a deliberate, documented format change.
// The store archive is encrypted to a Key kept beside it (a test fixture,
// like the passphrase).
const (
	goldenV1Path       = "testdata/golden-v1.mqsbak"
	goldenV2Path       = "testdata/golden-v2.mqsbak"
	goldenV2StorePath  = "testdata/golden-v2-store.mqsbak"
	goldenV2StoreKey   = "testdata/golden-v2-store.key"
	goldenPass         = "golden-password-1"
	goldenStoreBackup  = "20261127-080000-golden"
	goldenStoreLSN     = 4242
	goldenStoreUIDText = "a1b2c3"
)

func goldenManifest(version int, kind Kind) *Manifest {
	m := &Manifest{
		FormatVersion:    version,
		ServerVersion:    "0.1.0",
		ServerName:       "golden",
		ServerUID:        "0f1e2d3c",
		BackupID:         goldenStoreBackup,
		Created:          time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC),
		ConfigGeneration: 7,
		Kind:             kind,
	}
	if kind == KindStore {
		m.LSN, m.StoreUID = goldenStoreLSN, goldenStoreUIDText
		return m
	}
	m.ObjectCounts = map[string]int{"Endpoint": 1, "MessageHub": 1, "User": 3}
	m.StoreBackup = &StoreBackup{
		Name:     "store.20261127-080000",
		Size:     123456,
		SHA256:   "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		LSN:      goldenStoreLSN,
		StoreUID: goldenStoreUIDText,
	}
	return m
}

func goldenEntries() []testEntry {
	return []testEntry{
		{"config.json", 0o600, []byte(`{"ServerName":"golden","MessageHub":{"hub":{}}}`)},
		{"certs/server.key", 0o600, []byte("-----BEGIN PRIVATE KEY-----\nnot a real key\n-----END PRIVATE KEY-----\n")},
		{"empty", 0o644, nil},
	}
}

func goldenKey(t *testing.T) *Key {
	b, err := os.ReadFile(goldenV2StoreKey)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKey(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writeGolden(t *testing.T, kind Kind, opts WriterOptions) []byte {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, goldenPass, kind, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteManifest(goldenManifest(int(FormatVersion), kind)); err != nil {
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

// Every committed golden archive must decode identically in every later
// version.
func TestGolden(t *testing.T) {
	if *update {
		data := writeGolden(t, KindConfig, testOpts)
		if err := os.WriteFile(goldenV2Path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		writeFuzzSeeds(t, data)
		store := writeGolden(t, KindStore, WriterOptions{Key: goldenKey(t)})
		if err := os.WriteFile(goldenV2StorePath, store, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		path    string
		version int
		kind    Kind
		key     *Key
	}{
		{goldenV1Path, 1, KindConfig, nil},
		{goldenV2Path, 2, KindConfig, nil},
		{goldenV2StorePath, 2, KindStore, goldenKey(t)},
	} {
		t.Run(c.path, func(t *testing.T) {
			data, err := os.ReadFile(c.path)
			if err != nil {
				t.Fatal(err)
			}
			r, err := NewKeyReader(bytes.NewReader(data), goldenPass, c.key)
			if err != nil {
				t.Fatal(err)
			}
			m, entries, err := readEntries(r)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(m)
			want, _ := json.Marshal(goldenManifest(c.version, c.kind))
			if !bytes.Equal(got, want) {
				t.Fatalf("manifest\n got %s\nwant %s", got, want)
			}
			assertEntries(t, entries, goldenEntries())
			if c.key != nil {
				other, err := NewKey()
				if err != nil {
					t.Fatal(err)
				}
				for _, k := range []*Key{other, nil} {
					if _, err := NewKeyReader(bytes.NewReader(data), goldenPass, k); !onlySentinel(err, ErrWrongKey) {
						t.Fatalf("store archive read with key %v: %v, want ErrWrongKey", k, err)
					}
				}
				return
			}
			s, err := VerifyFile(c.path, goldenPass)
			if err != nil || s.Size != int64(len(data)) {
				t.Fatalf("VerifyFile: %+v, %v", s, err)
			}
			if _, err := VerifyFile(c.path, testPass); !onlySentinel(err, ErrWrongPassword) {
				t.Fatalf("wrong password: %v", err)
			}
		})
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
