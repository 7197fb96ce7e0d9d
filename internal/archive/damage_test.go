package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"runtime"
	"strings"
	"testing"

	"filippo.io/age"
)

var sentinels = []error{ErrWrongPassword, ErrWrongKey, ErrTruncated, ErrTampered, ErrNotBackup, ErrNewerFormat, ErrCorrupt}

// assertOnly fails unless err matches want and no other sentinel.
func assertOnly(t *testing.T, err, want error, what string) {
	t.Helper()
	if !onlySentinel(err, want) {
		t.Fatalf("%s: err = %v, want only %v", what, err, want)
	}
}

// onlySentinel reports whether err matches want and no other sentinel.
func onlySentinel(err, want error) bool {
	if !errors.Is(err, want) {
		return false
	}
	for _, s := range sentinels {
		if s != want && errors.Is(err, s) {
			return false
		}
	}
	return true
}

// smallArchive is a complete archive of three small entries (one age chunk).
func smallArchive(t *testing.T) []byte {
	return writeArchive(t, KindStore, testManifest(KindStore), smallEntries())
}

// twoChunkArchive spans two age chunks, so damage in a full middle chunk and
// in the final short chunk are both covered.
func twoChunkArchive(t *testing.T) []byte {
	entries := append(smallEntries(), testEntry{"span", 0o600, bytes.Repeat([]byte("x"), 64<<10)})
	return writeArchive(t, KindStore, testManifest(KindStore), entries)
}

// flipEach reads data with byte i XORed with mask(i) for every i in
// positions, spread over the CPUs, and requires ErrTampered for each.
func flipEach(t *testing.T, data []byte, positions []int, masks ...byte) {
	t.Helper()
	if _, _, err := readAll(data, testPass); err != nil {
		t.Fatal(err)
	}
	id := newMemoIdentity(t, testPass)
	workers := runtime.GOMAXPROCS(0)
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			bad := bytes.Clone(data)
			for k := w; k < len(positions); k += workers {
				i := positions[k]
				for _, mask := range masks {
					bad[i] ^= mask
					_, _, err := readAllMemo(bad, id)
					bad[i] ^= mask
					if !onlySentinel(err, ErrTampered) {
						errs <- fmt.Errorf("byte %d of %d ^ %#x: %v", i, len(data), mask, err)
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// Every byte of a small archive, flipped entirely or in one bit, gives
// ErrTampered: envelope header (magic included), age header, the encrypted
// chunk and the trailer.
func TestEveryFlippedByteIsTampered(t *testing.T) {
	data := smallArchive(t)
	all := make([]int, len(data))
	for i := range all {
		all[i] = i
	}
	flipEach(t, data, all, 0xff, 0x10)
}

// In a two-chunk archive, bytes around both chunk boundaries and a sample of
// the rest give ErrTampered too.
func TestFlippedByteAcrossChunks(t *testing.T) {
	data := twoChunkArchive(t)
	a := headerSize + int(binary.BigEndian.Uint32(data[12:16]))
	const enc = 64<<10 + 16 // encrypted chunk size
	var pos []int
	for i := range data {
		near := func(p int) bool { return i >= p-8 && i < p+8 }
		if near(a) || near(a+enc) || near(len(data)-trailerSize) || i%1021 == 0 {
			pos = append(pos, i)
		}
	}
	flipEach(t, data, pos, 0x01)
}

// Every proper prefix of the file, down to empty, gives ErrTruncated.
func TestEveryPrefixIsTruncated(t *testing.T) {
	id := newMemoIdentity(t, testPass)
	data := smallArchive(t)
	for n := range len(data) {
		_, _, err := readAllMemo(data[:n], id)
		assertOnly(t, err, ErrTruncated, fmt.Sprintf("prefix %d of %d", n, len(data)))
	}
	// Cuts around the chunk boundary of a larger archive, and in its last
	// chunk and trailer.
	data = twoChunkArchive(t)
	boundary := headerSize + int(binary.BigEndian.Uint32(data[12:16])) + 64<<10 + 16
	for n := boundary - 200; n < len(data); n++ {
		if n == boundary+200 {
			n = len(data) - 300
		}
		_, _, err := readAllMemo(data[:n], id)
		assertOnly(t, err, ErrTruncated, fmt.Sprintf("prefix %d of %d", n, len(data)))
	}
}

func TestWrongPassword(t *testing.T) {
	data := smallArchive(t)
	for _, pass := range []string{"correct horse batterx", "x", ""} {
		_, err := NewReader(bytes.NewReader(data), pass)
		assertOnly(t, err, ErrWrongPassword, fmt.Sprintf("password %q", pass))
		if pass != "" && strings.Contains(err.Error(), pass) {
			t.Fatal("password in error text")
		}
	}
}

func TestNotBackup(t *testing.T) {
	for _, in := range [][]byte{
		[]byte("age-encryption.org/v1\n-> scrypt"),
		[]byte("PK\x03\x04 a zip file, long enough to hold a whole envelope header......"),
		{0x89, 'M', 'Q', 'X'},
		bytes.Repeat([]byte{0}, 100),
	} {
		_, err := NewReader(bytes.NewReader(in), testPass)
		assertOnly(t, err, ErrNotBackup, fmt.Sprintf("%q", in))
	}
}

// withHeader rewrites the envelope header fields of data and fixes the CRC.
func withHeader(data []byte, edit func(b []byte)) []byte {
	out := bytes.Clone(data)
	edit(out[:headerSize])
	binary.BigEndian.PutUint32(out[48:52], crc32.Checksum(out[:48], castagnoli))
	return out
}

func TestNewerFormat(t *testing.T) {
	data := withHeader(smallArchive(t), func(b []byte) { binary.BigEndian.PutUint16(b[8:10], FormatVersion+1) })
	_, err := NewReader(bytes.NewReader(data), testPass)
	assertOnly(t, err, ErrNewerFormat, "version 3")
	if got, want := err.Error(), fmt.Sprintf("backup format version %d is newer than this server's %d", FormatVersion+1, FormatVersion); got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
	// Known before decryption: the password does not matter.
	if _, err := NewReader(bytes.NewReader(data), "wrong password"); !errors.Is(err, ErrNewerFormat) {
		t.Fatalf("wrong password: %v", err)
	}
}

// sealPlain wraps arbitrary plaintext in a valid envelope, as a buggy writer
// would: everything authenticates, the container is malformed.
func sealPlain(t *testing.T, plain []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	rcp, err := age.NewScryptRecipient(testPass)
	if err != nil {
		t.Fatal(err)
	}
	rcp.SetWorkFactor(MinWorkFactor)
	env, err := openEnvelope(&buf, rcp, FormatVersion, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.age.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := env.close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Authentic but malformed content gives ErrCorrupt, one case per check.
func TestCorrupt(t *testing.T) {
	manifest, err := encodeManifest(testManifest(KindStore), KindStore, FormatVersion)
	if err != nil {
		t.Fatal(err)
	}
	entry := func(name string, mode uint32, size uint64, data []byte) []byte {
		b := []byte{recordFile}
		b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
		b = append(b, name...)
		b = binary.BigEndian.AppendUint32(b, mode)
		b = binary.BigEndian.AppendUint64(b, size)
		return append(b, data...)
	}
	head := marshalInnerHeader(kindCodeStore)
	man := entry(ManifestName, 0o644, uint64(len(manifest)), manifest)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	end := func(count, total uint64) []byte { return marshalEndRecord(count, total) }
	mlen := uint64(len(manifest))

	valid := cat(head, man, entry("a", 0o600, 2, []byte("hi")), end(2, mlen+2))
	if _, _, err := readAll(sealPlain(t, valid), testPass); err != nil {
		t.Fatalf("hand-built valid archive: %v", err)
	}
	cases := map[string][]byte{
		"empty plaintext":    nil,
		"short inner header": head[:5],
		"inner magic":        cat([]byte("MQSOUTER\x02\x00\x00\x00"), man, end(1, mlen)),
		"unknown kind":       cat(marshalInnerHeader(9), man, end(1, mlen)),
		"reserved bytes":     cat(head[:11], []byte{1}, man, end(1, mlen)),
		"no manifest":        cat(head, entry("a", 0o600, 0, nil), end(1, 0)),
		"end first":          cat(head, end(0, 0)),
		"manifest too big":   cat(head, entry(ManifestName, 0o644, MaxManifestSize+1, nil)),
		"manifest not json":  cat(head, entry(ManifestName, 0o644, 3, []byte("{{{")), end(1, 3)),
		"kind mismatch":      cat(marshalInnerHeader(kindCodeConfig), man, end(1, mlen)),
		"unknown record":     cat(head, man, []byte{7}),
		"zero name length":   cat(head, man, entry("", 0o600, 0, nil), end(2, mlen)),
		"unclean name":       cat(head, man, entry("../x", 0o600, 0, nil), end(2, mlen)),
		"mode bits":          cat(head, man, entry("d", 0o600|uint32(1<<31), 0, nil), end(2, mlen)),
		"huge size":          cat(head, man, entry("a", 0o600, MaxEntrySize+1, nil)),
		"duplicate":          cat(head, man, entry("a", 0o600, 0, nil), entry("a", 0o600, 0, nil), end(3, mlen)),
		"manifest again":     cat(head, man, man, end(2, 2*mlen)),
		"ends inside entry":  cat(head, man, entry("a", 0o600, 10, []byte("abc"))),
		"ends inside header": cat(head, man, entry("abc", 0o600, 10, nil)[:5]),
		"no end record":      cat(head, man, entry("a", 0o600, 0, nil)),
		"end count":          cat(head, man, entry("a", 0o600, 0, nil), end(1, mlen)),
		"end total":          cat(head, man, entry("a", 0o600, 2, []byte("hi")), end(2, mlen+3)),
		"data after end":     cat(head, man, end(1, mlen), []byte{0}),
		"short end record":   cat(head, man, end(1, mlen)[:9]),
	}
	for name, plain := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := readAll(sealPlain(t, plain), testPass)
			assertOnly(t, err, ErrCorrupt, name)
			t.Log(err)
		})
	}
}

// Header fields that pass the checksum but are out of range are ErrCorrupt.
func TestCorruptEnvelopeHeader(t *testing.T) {
	data := smallArchive(t)
	for name, edit := range map[string]func(b []byte){
		"version 0":         func(b []byte) { binary.BigEndian.PutUint16(b[8:10], 0) },
		"flags":             func(b []byte) { binary.BigEndian.PutUint16(b[10:12], 1) },
		"age header len 0":  func(b []byte) { binary.BigEndian.PutUint32(b[12:16], 0) },
		"age header len 2G": func(b []byte) { binary.BigEndian.PutUint32(b[12:16], 1<<31) },
	} {
		_, err := NewReader(bytes.NewReader(withHeader(data, edit)), testPass)
		assertOnly(t, err, ErrCorrupt, name)
	}
}

// A scrypt work factor above MaxWorkFactor in an intact header is refused
// without running scrypt.
func TestWorkFactorLimit(t *testing.T) {
	data := smallArchive(t)
	a := int(binary.BigEndian.Uint32(data[12:16]))
	ageHdr := data[headerSize : headerSize+a]
	i := bytes.Index(ageHdr, []byte(" 10\n"))
	if i < 0 {
		t.Fatalf("no work factor in age header %q", ageHdr)
	}
	forged := bytes.Clone(data)
	copy(forged[headerSize+i:], " 29\n")
	forged = withHeader(forged, func(b []byte) {
		sum := sha256.Sum256(forged[headerSize : headerSize+a])
		copy(b[16:48], sum[:])
	})
	_, err := NewReader(bytes.NewReader(forged), testPass)
	assertOnly(t, err, ErrCorrupt, "work factor 29")
	t.Log(err)
}

// Bytes appended after the trailer are detected (reported as ErrTruncated,
// since the trailer is no longer at the end; see docs/backup-format.md).
func TestAppendedBytes(t *testing.T) {
	data := smallArchive(t)
	_, _, err := readAll(append(bytes.Clone(data), 0), testPass)
	assertOnly(t, err, ErrTruncated, "one byte appended")
}

// An I/O error of the underlying reader is returned as such, not classified.
func TestReadErrorIsNotClassified(t *testing.T) {
	data := smallArchive(t)
	boom := errors.New("disk on fire")
	for _, at := range []int{10, headerSize + 20, len(data) / 2, len(data) - 5} {
		_, _, err := readAllFrom(&failingReader{data: data[:at], err: boom}, testPass)
		if !errors.Is(err, boom) {
			t.Fatalf("cut at %d: %v", at, err)
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				t.Fatalf("cut at %d: I/O error classified as %v", at, s)
			}
		}
	}
}

type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// NewReader answers wrong password, newer format and not-a-backup from the
// headers alone: the input fails if read any further.
func TestEarlyAnswersReadOnlyHeaders(t *testing.T) {
	data := smallArchive(t)
	a := int(binary.BigEndian.Uint32(data[12:16]))
	boom := errors.New("read past the headers")
	_, err := NewReader(&failingReader{data: data[:headerSize+a], err: boom}, "wrong password")
	assertOnly(t, err, ErrWrongPassword, "wrong password")
	newer := withHeader(data, func(b []byte) { binary.BigEndian.PutUint16(b[8:10], FormatVersion+1) })
	_, err = NewReader(&failingReader{data: newer[:headerSize], err: boom}, testPass)
	assertOnly(t, err, ErrNewerFormat, "newer format")
	_, err = NewReader(&failingReader{data: []byte("PK\x03\x04"), err: boom}, testPass)
	if !errors.Is(err, boom) {
		// Four bytes are not enough to judge; the reader must ask for more.
		t.Fatalf("short foreign prefix: %v", err)
	}
	_, err = NewReader(&failingReader{data: []byte("PK\x03\x04 zip central directory.... padding padding padding"), err: boom}, testPass)
	assertOnly(t, err, ErrNotBackup, "foreign file")
}
