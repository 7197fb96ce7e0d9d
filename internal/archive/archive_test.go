package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"filippo.io/age"
)

const testPass = "correct horse battery"

// testWF keeps scrypt fast in tests.
var testOpts = WriterOptions{WorkFactor: MinWorkFactor}

type testEntry struct {
	name string
	mode fs.FileMode
	data []byte
}

func testManifest(kind Kind) *Manifest {
	m := &Manifest{
		ServerVersion:    "0.1.0-test",
		ServerName:       "test-server",
		ServerUID:        "uid-1234",
		BackupID:         "backup-0001",
		Created:          time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC),
		ConfigGeneration: 42,
	}
	if kind == KindConfig {
		m.ObjectCounts = map[string]int{"Endpoint": 2, "MessageHub": 1}
	} else {
		m.LSN = 987654
		m.StoreUID = "store-1"
	}
	return m
}

func smallEntries() []testEntry {
	return []testEntry{
		{"config/config.json", 0o600, []byte(`{"ServerName":"test-server"}`)},
		{"certs/server.pem", 0o644, bytes.Repeat([]byte("PEM"), 20)},
		{"empty", 0o600, nil},
	}
}

// writeArchive writes a complete archive and returns its bytes.
func writeArchive(t testing.TB, kind Kind, m *Manifest, entries []testEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, testPass, kind, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteManifest(m); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
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
	if w.Size() != int64(buf.Len()) || w.BytesWritten() != int64(buf.Len()) {
		t.Fatalf("Size %d BytesWritten %d, wrote %d", w.Size(), w.BytesWritten(), buf.Len())
	}
	if sum := sha256.Sum256(buf.Bytes()); !bytes.Equal(w.SHA256(), sum[:]) {
		t.Fatalf("SHA256 %x, file %x", w.SHA256(), sum)
	}
	return buf.Bytes()
}

// readAll reads a whole archive and returns its manifest and entries.
func readAll(data []byte, pass string) (*Manifest, []testEntry, error) {
	return readAllFrom(bytes.NewReader(data), pass)
}

func readAllFrom(in io.Reader, pass string) (*Manifest, []testEntry, error) {
	r, err := NewReader(in, pass)
	if err != nil {
		return nil, nil, err
	}
	return readEntries(r)
}

// readAllMemo is readAll with scrypt results memoized per stanza (see
// memoIdentity); for the exhaustive damage tests.
func readAllMemo(data []byte, id *memoIdentity) (*Manifest, []testEntry, error) {
	r, err := newReader(bytes.NewReader(data), func() ([]age.Identity, error) { return []age.Identity{id}, nil })
	if err != nil {
		return nil, nil, err
	}
	return readEntries(r)
}

// memoIdentity wraps the real scrypt identity and caches its answer per
// exact stanza. The damage tests read one archive thousands of times; its
// scrypt stanza reaches age only when intact (the envelope checksums stop a
// damaged one before), so the cache returns exactly what scrypt would.
type memoIdentity struct {
	id    age.Identity
	mu    sync.Mutex
	cache map[string]memoResult
}

type memoResult struct {
	key []byte
	err error
}

func newMemoIdentity(t testing.TB, pass string) *memoIdentity {
	id, err := age.NewScryptIdentity(pass)
	if err != nil {
		t.Fatal(err)
	}
	id.SetMaxWorkFactor(MaxWorkFactor)
	return &memoIdentity{id: id, cache: make(map[string]memoResult)}
}

func (m *memoIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	var k string
	for _, s := range stanzas {
		k += fmt.Sprintf("|%s|%q|%x", s.Type, s.Args, s.Body)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.cache[k]; ok {
		return bytes.Clone(r.key), r.err
	}
	key, err := m.id.Unwrap(stanzas)
	m.cache[k] = memoResult{bytes.Clone(key), err}
	return key, err
}

func readEntries(r *Reader) (*Manifest, []testEntry, error) {
	var out []testEntry
	for {
		h, er, err := r.Next()
		if err == io.EOF {
			return r.Manifest(), out, nil
		}
		if err != nil {
			return nil, nil, err
		}
		b, err := io.ReadAll(er)
		if err != nil {
			return nil, nil, err
		}
		if int64(len(b)) != h.Size {
			return nil, nil, errors.New("entry length differs from header")
		}
		out = append(out, testEntry{h.Name, h.Mode, b})
	}
}

func TestRoundTrip(t *testing.T) {
	for _, kind := range []Kind{KindConfig, KindStore} {
		t.Run(string(kind), func(t *testing.T) {
			want := testManifest(kind)
			data := writeArchive(t, kind, want, smallEntries())
			r, err := NewReader(bytes.NewReader(data), testPass)
			if err != nil {
				t.Fatal(err)
			}
			if r.Kind() != kind {
				t.Fatalf("Kind %q, want %q", r.Kind(), kind)
			}
			got := r.Manifest()
			if got.FormatVersion != int(FormatVersion) || got.Kind != kind || got.BackupID != want.BackupID ||
				!got.Created.Equal(want.Created) || got.LSN != want.LSN || got.ConfigGeneration != 42 ||
				len(got.ObjectCounts) != len(want.ObjectCounts) {
				t.Fatalf("manifest %+v, want %+v", got, want)
			}
			if r.Size() != 0 || r.SHA256() != nil {
				t.Fatal("Size/SHA256 must not be reported before the end is verified")
			}
			var entries []testEntry
			for {
				h, er, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(er)
				if err != nil {
					t.Fatal(err)
				}
				entries = append(entries, testEntry{h.Name, h.Mode, b})
			}
			if _, _, err := r.Next(); err != io.EOF {
				t.Fatalf("Next after end: %v", err)
			}
			assertEntries(t, entries, smallEntries())
			sum := sha256.Sum256(data)
			if r.Size() != int64(len(data)) || !bytes.Equal(r.SHA256(), sum[:]) || r.BytesRead() != int64(len(data)) {
				t.Fatalf("reader Size %d SHA %x BytesRead %d; file %d %x", r.Size(), r.SHA256(), r.BytesRead(), len(data), sum)
			}
		})
	}
}

func assertEntries(t *testing.T, got, want []testEntry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].name != want[i].name || got[i].mode != want[i].mode || !bytes.Equal(got[i].data, want[i].data) {
			t.Fatalf("entry %d = %q %v %d bytes, want %q %v %d bytes", i, got[i].name, got[i].mode, len(got[i].data),
				want[i].name, want[i].mode, len(want[i].data))
		}
	}
}

// Skipping an entry's data, or reading it partly, must not disturb the rest.
func TestReaderSkipsUnreadData(t *testing.T) {
	entries := []testEntry{
		{"a", 0o600, bytes.Repeat([]byte{1}, 200<<10)},
		{"b", 0o600, []byte("bee")},
	}
	data := writeArchive(t, KindStore, testManifest(KindStore), entries)
	r, err := NewReader(bytes.NewReader(data), testPass)
	if err != nil {
		t.Fatal(err)
	}
	_, er, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(er, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	h, er2, err := r.Next()
	if err != nil || h.Name != "b" {
		t.Fatalf("Next = %v, %v", h, err)
	}
	if _, err := er.Read(make([]byte, 1)); err == nil {
		t.Fatal("stale entry reader still reads")
	}
	if b, _ := io.ReadAll(er2); string(b) != "bee" {
		t.Fatalf("b = %q", b)
	}
	if err := r.Verify(); err != nil {
		t.Fatal(err)
	}
}

// A large entry streams through in bounded memory.
func TestLargeEntryStreams(t *testing.T) {
	const size = 8 << 20
	var buf bytes.Buffer
	w, err := NewWriter(&buf, testPass, KindStore, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteManifest(testManifest(KindStore)); err != nil {
		t.Fatal(err)
	}
	ew, err := w.CreateEntry("000001.sst", 0o644, size)
	if err != nil {
		t.Fatal(err)
	}
	src := io.LimitReader(patternReader{}, size)
	if _, err := io.CopyBuffer(ew, src, make([]byte, 32<<10)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(bytes.NewReader(buf.Bytes()), testPass)
	if err != nil {
		t.Fatal(err)
	}
	_, er, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, er)
	if err != nil || n != size {
		t.Fatalf("copied %d, %v", n, err)
	}
	want := sha256.New()
	io.Copy(want, io.LimitReader(patternReader{}, size))
	if !bytes.Equal(h.Sum(nil), want.Sum(nil)) {
		t.Fatal("entry data differs")
	}
	if err := r.Verify(); err != nil {
		t.Fatal(err)
	}
}

// patternReader yields a deterministic non-repeating-per-chunk byte pattern.
type patternReader struct{}

func (patternReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i*7 + i>>9)
	}
	return len(p), nil
}

func TestWriterRefuses(t *testing.T) {
	t.Run("short password", func(t *testing.T) {
		_, err := NewWriter(io.Discard, "short12", KindConfig, testOpts)
		if !errors.Is(err, ErrShortPassword) {
			t.Fatalf("err = %v", err)
		}
		if strings.Contains(err.Error(), "short12") {
			t.Fatal("password in error text")
		}
		// Eight characters, multi-byte ones counted as one.
		if _, err := NewWriter(io.Discard, "pässwörd", KindConfig, testOpts); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("bad kind", func(t *testing.T) {
		if _, err := NewWriter(io.Discard, testPass, Kind("x"), testOpts); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("work factor", func(t *testing.T) {
		for _, wf := range []int{MinWorkFactor - 1, MaxWorkFactor + 1, -1} {
			if _, err := NewWriter(io.Discard, testPass, KindConfig, WriterOptions{WorkFactor: wf}); err == nil {
				t.Fatalf("work factor %d accepted", wf)
			}
		}
	})

	newW := func(t *testing.T) (*Writer, *bytes.Buffer) {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, testPass, KindStore, testOpts)
		if err != nil {
			t.Fatal(err)
		}
		return w, &buf
	}
	t.Run("entry before manifest", func(t *testing.T) {
		w, _ := newW(t)
		if _, err := w.CreateEntry("a", 0o600, 1); err == nil {
			t.Fatal("no error")
		}
		if err := w.Close(); err == nil {
			t.Fatal("Close without manifest succeeded")
		}
	})
	t.Run("manifest rules", func(t *testing.T) {
		w, _ := newW(t)
		bad := []*Manifest{
			nil,
			{BackupID: ""},
			{BackupID: "x", Kind: KindConfig},
			{BackupID: "x", FormatVersion: int(FormatVersion) - 1},
			{BackupID: "x", StoreBackup: &StoreBackup{Name: "s"}},
		}
		for _, m := range bad {
			if err := w.WriteManifest(m); err == nil {
				t.Fatalf("manifest %+v accepted", m)
			}
		}
		if err := w.WriteManifest(testManifest(KindStore)); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteManifest(testManifest(KindStore)); err == nil {
			t.Fatal("second manifest accepted")
		}
	})
	t.Run("entry names and modes", func(t *testing.T) {
		w, _ := newW(t)
		if err := w.WriteManifest(testManifest(KindStore)); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"", ".", "/abs", "a/../b", "a//b", "a/", ManifestName, strings.Repeat("n", MaxNameLen+1)} {
			if _, err := w.CreateEntry(name, 0o600, 0); err == nil {
				t.Fatalf("name %q accepted", name)
			}
		}
		if _, err := w.CreateEntry("dir", fs.ModeDir|0o755, 0); err == nil {
			t.Fatal("directory mode accepted")
		}
		if _, err := w.CreateEntry("neg", 0o600, -1); err == nil {
			t.Fatal("negative size accepted")
		}
		if _, err := w.CreateEntry("a", 0o600, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := w.CreateEntry("a", 0o600, 0); err == nil {
			t.Fatal("duplicate accepted")
		}
	})
	t.Run("too many bytes", func(t *testing.T) {
		w, _ := newW(t)
		w.WriteManifest(testManifest(KindStore))
		ew, _ := w.CreateEntry("a", 0o600, 3)
		if _, err := ew.Write([]byte("abcd")); err == nil {
			t.Fatal("overlong write accepted")
		}
		if err := w.Close(); err == nil {
			t.Fatal("Close after a failed write succeeded")
		}
		if w.SHA256() != nil {
			t.Fatal("SHA256 of a failed archive")
		}
	})
	t.Run("too few bytes leaves a truncated file", func(t *testing.T) {
		w, buf := newW(t)
		w.WriteManifest(testManifest(KindStore))
		ew, _ := w.CreateEntry("a", 0o600, 3)
		ew.Write([]byte("ab"))
		if _, err := w.CreateEntry("b", 0o600, 0); err == nil {
			t.Fatal("next entry after a short one accepted")
		}
		if err := w.Close(); err == nil {
			t.Fatal("Close after a short entry succeeded")
		}
		if _, _, err := readAll(buf.Bytes(), testPass); !errors.Is(err, ErrTruncated) {
			t.Fatalf("reading the abandoned output: %v, want ErrTruncated", err)
		}
	})
}

// The encoded manifest has a stable field order and UTC time; unknown fields
// are tolerated when reading.
func TestManifestJSON(t *testing.T) {
	m := testManifest(KindConfig)
	m.Created = time.Date(2026, 11, 27, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	m.StoreBackup = &StoreBackup{Name: "store.bak", Size: 10, SHA256: hex.EncodeToString(make([]byte, 32)), LSN: 7, StoreUID: "s"}
	b, err := encodeManifest(m, KindConfig, FormatVersion)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"FormatVersion":2,"ServerVersion":"0.1.0-test","ServerName":"test-server","ServerUID":"uid-1234",` +
		`"BackupID":"backup-0001","Created":"2026-11-27T09:00:00Z","ConfigGeneration":42,` +
		`"ObjectCounts":{"Endpoint":2,"MessageHub":1},"Kind":"config","StoreBackup":{"Name":"store.bak","Size":10,` +
		`"SHA256":"0000000000000000000000000000000000000000000000000000000000000000","LSN":7,"StoreUID":"s"}}`
	if string(b) != want {
		t.Fatalf("manifest JSON\n got %s\nwant %s", b, want)
	}
	if m.FormatVersion != 0 || m.Kind != "" {
		t.Fatal("encodeManifest modified its argument")
	}
	withExtra := strings.Replace(want, `{"FormatVersion":2,`, `{"FutureField":[1,2],"FormatVersion":2,`, 1)
	got, err := decodeManifest([]byte(withExtra), KindConfig, FormatVersion)
	if err != nil {
		t.Fatalf("unknown field: %v", err)
	}
	if got.StoreBackup == nil || got.StoreBackup.LSN != 7 {
		t.Fatalf("decoded %+v", got)
	}
	for _, bad := range []string{
		strings.Replace(want, `"FormatVersion":2`, `"FormatVersion":1`, 1),
		strings.Replace(want, `"Kind":"config"`, `"Kind":"store"`, 1),
		want + `{}`,
		`{`,
	} {
		if _, err := decodeManifest([]byte(bad), KindConfig, FormatVersion); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("decode %s: %v, want ErrCorrupt", bad, err)
		}
	}
}

func TestVerify(t *testing.T) {
	data := writeArchive(t, KindConfig, testManifest(KindConfig), smallEntries())
	s, err := Verify(bytes.NewReader(data), testPass)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if s.Manifest.BackupID != "backup-0001" || len(s.Entries) != 3 || s.Entries[1].Name != "certs/server.pem" ||
		s.Size != int64(len(data)) || !bytes.Equal(s.SHA256, sum[:]) {
		t.Fatalf("summary %+v", s)
	}
	// Damage in a later chunk: the manifest (first chunk) is still reported.
	big := append(smallEntries(), testEntry{"big", 0o600, bytes.Repeat([]byte{9}, 200<<10)})
	bad := writeArchive(t, KindConfig, testManifest(KindConfig), big)
	bad[len(bad)-trailerSize-3] ^= 1
	s, err = Verify(bytes.NewReader(bad), testPass)
	if !errors.Is(err, ErrTampered) || s.Manifest == nil || s.SHA256 != nil {
		t.Fatalf("damaged: %v, summary %+v", err, s)
	}
	if _, err := VerifyFile(t.TempDir()+"/missing", testPass); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// BytesRead and BytesWritten may be polled from another goroutine while the
// archive streams through a pipe (run with -race).
func TestProgressConcurrent(t *testing.T) {
	const size = 1 << 20
	pr, pw := io.Pipe()
	wch := make(chan *Writer, 1)
	werr := make(chan error, 1)
	go func() {
		err := func() error {
			w, err := NewWriter(pw, testPass, KindStore, testOpts)
			if err != nil {
				return err
			}
			wch <- w
			if err := w.WriteManifest(testManifest(KindStore)); err != nil {
				return err
			}
			ew, err := w.CreateEntry("big", 0o600, size)
			if err != nil {
				return err
			}
			if _, err := io.Copy(ew, io.LimitReader(patternReader{}, size)); err != nil {
				return err
			}
			return w.Close()
		}()
		pw.CloseWithError(err)
		werr <- err
	}()
	r, err := NewReader(pr, testPass)
	if err != nil {
		t.Fatal(err)
	}
	w := <-wch
	stop := make(chan struct{})
	polled := make(chan int64)
	go func() {
		var last, polls int64
		for {
			select {
			case <-stop:
				polled <- polls
				return
			default:
			}
			n := w.BytesWritten() + r.BytesRead()
			if n < last {
				polled <- -1 // went backwards
				<-stop
				return
			}
			last = n
			polls++
		}
	}()
	if err := r.Verify(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	if n := <-polled; n <= 0 {
		t.Fatalf("progress polls %d (-1: progress went backwards)", n)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if w.BytesWritten() != r.BytesRead() || r.Size() != w.Size() || !bytes.Equal(r.SHA256(), w.SHA256()) {
		t.Fatalf("writer %d %x, reader %d %x", w.Size(), w.SHA256(), r.Size(), r.SHA256())
	}
}

// The age stream between envelope header and trailer is a plain age file:
// age itself decrypts it to the inner container.
func TestAgeStreamIsPlainAge(t *testing.T) {
	data := smallArchive(t)
	id, err := age.NewScryptIdentity(testPass)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := age.Decrypt(bytes.NewReader(data[headerSize:len(data)-trailerSize]), id)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(pr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(plain, []byte("MQSINNER\x02\x00\x00\x00\x01\x00\x0dmanifest.json")) {
		t.Fatalf("plaintext starts %q", plain[:40])
	}
}

// A destination failure fails the Writer for good, and Close reports it.
func TestWriterDestinationError(t *testing.T) {
	boom := errors.New("disk full")
	fw := &failAfterWriter{left: 4096, err: boom}
	w, err := NewWriter(fw, testPass, KindStore, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteManifest(testManifest(KindStore)); err != nil {
		t.Fatal(err)
	}
	ew, err := w.CreateEntry("big", 0o600, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	// The output is hashed and written behind the caller: the failure
	// surfaces on a later write, or at the latest at Close.
	_, err = io.Copy(ew, io.LimitReader(patternReader{}, 1<<20))
	if err != nil && !errors.Is(err, boom) {
		t.Fatalf("copy: %v", err)
	}
	if err := w.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close: %v", err)
	}
	if w.SHA256() != nil || w.BytesWritten() > 4096 {
		t.Fatalf("after failure: SHA %x, BytesWritten %d", w.SHA256(), w.BytesWritten())
	}
}

type failAfterWriter struct {
	left int
	err  error
}

func (f *failAfterWriter) Write(p []byte) (int, error) {
	if len(p) > f.left {
		n := f.left
		f.left = 0
		return n, f.err
	}
	f.left -= len(p)
	return len(p), nil
}

// The single-pass source copes with readers that return little data at a
// time or data together with io.EOF.
func TestOddReaders(t *testing.T) {
	data := writeArchive(t, KindStore, testManifest(KindStore),
		append(smallEntries(), testEntry{"big", 0o600, bytes.Repeat([]byte{3}, 100<<10)}))
	for name, wrap := range map[string]func(io.Reader) io.Reader{
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data+EOF": iotest.DataErrReader,
	} {
		if _, _, err := readAllFrom(wrap(bytes.NewReader(data)), testPass); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, _, err := readAllFrom(wrap(bytes.NewReader(data[:len(data)-1])), testPass)
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("%s, truncated: %v", name, err)
		}
	}
}

// A large archive is hashed and written by goroutines of the Writer's own;
// Close and Abort end them, on success and on failure alike, and an aborted
// archive never ends in a trailer.
func TestWriterGoroutinesEnd(t *testing.T) {
	base := runtime.NumGoroutine()
	write := func(dst io.Writer, size int64, abort bool) (*Writer, error) {
		w, err := NewWriter(dst, testPass, KindStore, testOpts)
		if err != nil {
			return nil, err
		}
		if err := w.WriteManifest(testManifest(KindStore)); err != nil {
			return w, err
		}
		ew, err := w.CreateEntry("big", 0o600, size)
		if err != nil {
			return w, err
		}
		if _, err := io.Copy(ew, io.LimitReader(patternReader{}, size)); err != nil {
			w.Abort()
			return w, err
		}
		if abort {
			w.Abort()
			return w, w.Close()
		}
		return w, w.Close()
	}
	var ok bytes.Buffer
	if _, err := write(&ok, 5<<20, false); err != nil {
		t.Fatal(err)
	}
	var aborted bytes.Buffer
	if _, err := write(&aborted, 5<<20, true); err == nil {
		t.Fatal("Close after Abort succeeded")
	}
	if bytes.Contains(aborted.Bytes(), trailerMagic[:]) {
		t.Fatal("aborted archive has a trailer")
	}
	r, err := NewReader(bytes.NewReader(aborted.Bytes()), testPass)
	if err == nil {
		err = r.Verify()
	}
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("aborted archive: %v, want ErrTruncated", err)
	}
	boom := errors.New("disk full")
	if _, err := write(&failAfterWriter{left: 3 << 20, err: boom}, 5<<20, false); !errors.Is(err, boom) {
		t.Fatalf("failing destination: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		t.Fatalf("%d goroutines left running, %d before", n, base)
	}
	if r, err := NewReader(bytes.NewReader(ok.Bytes()), testPass); err != nil {
		t.Fatal(err)
	} else if err := r.Verify(); err != nil {
		t.Fatal(err)
	}
}

// writeKeyArchive writes a store archive encrypted to a new Key, with one
// entry of size pattern bytes when size > 0.
func writeKeyArchive(t *testing.T, size int64) (*Key, *Writer, *bytes.Buffer) {
	t.Helper()
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, "", KindStore, WriterOptions{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteManifest(testManifest(KindStore)); err != nil {
		t.Fatal(err)
	}
	if size > 0 {
		ew, err := w.CreateEntry("big", 0o600, size)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(ew, io.LimitReader(patternReader{}, size)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return key, w, &buf
}

// An archive written to a Key needs no passphrase and no scrypt; only that
// key reads it, and the key's secret never shows in formatted output.
func TestKeyArchive(t *testing.T) {
	key, _, buf := writeKeyArchive(t, 0)
	if bytes.Contains(buf.Bytes(), []byte("scrypt")) {
		t.Fatal("a key archive has a scrypt stanza")
	}
	parsed, err := ParseKey(key.String())
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewKeyReader(bytes.NewReader(buf.Bytes()), "", parsed)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Verify(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewReader(bytes.NewReader(buf.Bytes()), testPass); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("read with the passphrase: %v, want ErrWrongKey", err)
	}
	if _, err := ParseKey("AGE-SECRET-KEY-1NOTAKEY"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ParseKey of garbage: %v", err)
	}
	for _, s := range []string{fmt.Sprint(key), fmt.Sprintf("%s %v %+v %#v %q", key, key, key, key, key), fmt.Sprintf("%v", struct{ K *Key }{key})} {
		if strings.Contains(s, "AGE-SECRET-KEY") {
			t.Fatalf("formatted key shows its secret: %s", s)
		}
	}
}

// CheckComplete judges a file by its checksums alone, without a key.
func TestCheckComplete(t *testing.T) {
	_, w, buf := writeKeyArchive(t, 3<<20)
	data := buf.Bytes()
	size, sum, err := CheckComplete(bytes.NewReader(data))
	if err != nil || size != w.Size() || !bytes.Equal(sum, w.SHA256()) {
		t.Fatalf("CheckComplete: %d %x %v; writer %d %x", size, sum, err, w.Size(), w.SHA256())
	}
	flipped := bytes.Clone(data)
	flipped[len(flipped)/2] ^= 1
	for _, c := range []struct {
		name string
		data []byte
		want error
	}{
		{"truncated", data[:len(data)-100], ErrTruncated},
		{"no trailer", data[:len(data)-trailerSize], ErrTruncated},
		{"flipped", flipped, ErrTampered},
		{"header only", data[:headerSize+10], ErrTruncated},
		{"not a backup", []byte("hello, world; this is plain text and long enough for a header"), ErrNotBackup},
	} {
		if _, _, err := CheckComplete(bytes.NewReader(c.data)); !onlySentinel(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// A writer writes an older format version when asked, and refuses one that
// cannot carry what it is given.
func TestWriterVersion(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, testPass, KindConfig, WriterOptions{WorkFactor: MinWorkFactor, Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteManifest(testManifest(KindConfig)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if v := binary.BigEndian.Uint16(buf.Bytes()[8:10]); v != 1 {
		t.Fatalf("envelope version %d, want 1", v)
	}
	r, err := NewReader(bytes.NewReader(buf.Bytes()), testPass)
	if err != nil {
		t.Fatal(err)
	}
	if r.Manifest().FormatVersion != 1 {
		t.Fatalf("manifest version %d, want 1", r.Manifest().FormatVersion)
	}
	if err := r.Verify(); err != nil {
		t.Fatal(err)
	}
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []WriterOptions{{Version: 1, Key: key}, {Version: FormatVersion + 1}} {
		if _, err := NewWriter(io.Discard, testPass, KindStore, o); err == nil {
			t.Fatalf("NewWriter accepted version %d (key %v)", o.Version, o.Key != nil)
		}
	}
}
