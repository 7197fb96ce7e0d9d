package archive

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"filippo.io/age"
)

// Reader reads one archive in a single streaming pass.
//
// CONTRACT: entry data is handed out as it is decrypted, before the end of the
// archive is authenticated. A truncated archive, a dropped or reordered entry
// and a damaged trailer are only detected at the end. A consumer must stage
// entries (write them beside the live data) and apply NOTHING until Next has
// returned io.EOF, which it does only after the authenticated end record and
// the trailer were checked. Any other error from Next or from an entry's
// reader means the whole archive must be discarded.
//
// Every error wraps one of the package sentinels (ErrWrongPassword,
// ErrTruncated, ErrTampered, ErrNotBackup, ErrNewerFormat, ErrCorrupt), except
// read errors of the underlying io.Reader, which are wrapped as they are.
// Some classifications need the whole file: when decryption fails midway the
// Reader reads the rest of the input before it answers.
//
// A Reader is used by one goroutine, except BytesRead, which may be called
// concurrently. Errors are sticky.
type Reader struct {
	version  uint16 // envelope format version
	src      *source
	plain    *bufio.Reader // age plaintext, over plainReader
	kind     Kind
	manifest *Manifest

	err   error        // sticky
	done  bool         // end record and trailer verified
	cur   *entryReader // entry being read, or nil
	names map[string]struct{}
	count uint64 // entries seen, manifest included
	total uint64 // declared data bytes of entries seen
}

// NewReader reads and checks the envelope header, decrypts the age header with
// passphrase and reads the manifest. It reports ErrNotBackup, ErrNewerFormat,
// ErrWrongPassword and damage of the header early; damage further on is
// reported by Next.
func NewReader(r io.Reader, passphrase string) (*Reader, error) {
	return NewKeyReader(r, passphrase, nil)
}

// NewKeyReader is NewReader for an archive that may be encrypted to key
// (a store archive of format version 2) or with passphrase (every other
// archive). An archive encrypted to another key is ErrWrongKey.
func NewKeyReader(r io.Reader, passphrase string, key *Key) (*Reader, error) {
	return newReader(r, func() ([]age.Identity, error) {
		var ids []age.Identity
		if key != nil {
			ids = append(ids, key.id)
		}
		if passphrase != "" {
			id, err := age.NewScryptIdentity(passphrase)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrWrongPassword, err)
			}
			id.SetMaxWorkFactor(MaxWorkFactor)
			ids = append(ids, id)
		}
		if len(ids) == 0 {
			return nil, fmt.Errorf("%w: empty password", ErrWrongPassword)
		}
		return ids, nil
	})
}

// keyStanza starts the age header line of a stanza for a Key (X25519).
var keyStanza = []byte("\n-> X25519 ")

// newReader is NewKeyReader with the identities made by identities, called
// once the envelope header has been checked. Tests substitute a memoizing
// identity.
func newReader(r io.Reader, identities func() ([]age.Identity, error)) (*Reader, error) {
	src, h, ageHdr, err := readHeaders(r)
	if err != nil {
		return nil, err
	}

	// The age header is intact, so a failure to unwrap the file key is the
	// passphrase's fault, or the key's.
	ids, err := identities()
	if err != nil {
		return nil, err
	}
	ar, err := age.Decrypt(io.MultiReader(bytes.NewReader(ageHdr), src), ids...)
	if err != nil {
		if _, ok := errors.AsType[*age.NoIdentityMatchError](err); ok {
			if bytes.Contains(ageHdr, keyStanza) {
				return nil, ErrWrongKey
			}
			return nil, ErrWrongPassword
		}
		if src.err != nil {
			return nil, src.err
		}
		return nil, corruptf("decryption header: %v", err)
	}

	rd := &Reader{
		version: h.version,
		src:     src,
		plain:   bufio.NewReaderSize(plainReader{ar}, 64<<10),
		names:   make(map[string]struct{}),
	}
	m, err := rd.start()
	if err != nil {
		return nil, rd.classify(err)
	}
	rd.manifest = m
	return rd, nil
}

// readHeaders reads and checks the envelope header and the age header of
// the archive in r, and returns the source positioned after them, the
// envelope header and a copy of the age header.
func readHeaders(r io.Reader) (*source, envelopeHeader, []byte, error) {
	src := newSource(r)
	b, err := src.readRaw(headerSize)
	if err != nil {
		return nil, envelopeHeader{}, nil, err
	}
	h, err := parseEnvelopeHeader(b)
	if err != nil {
		return nil, h, nil, err
	}
	raw, err := src.readRaw(int(h.ageHdrLen))
	if err != nil {
		return nil, h, nil, err
	}
	if len(raw) < int(h.ageHdrLen) {
		return nil, h, nil, fmt.Errorf("%w: file ends after %d bytes, inside the encryption header", ErrTruncated, src.n.Load())
	}
	ageHdr := bytes.Clone(raw)
	if sha256.Sum256(ageHdr) != h.ageHdrSum {
		return nil, h, nil, fmt.Errorf("%w: encryption header checksum mismatch", ErrTampered)
	}
	return src, h, ageHdr, nil
}

// start reads the inner container header and the manifest entry.
func (r *Reader) start() (*Manifest, error) {
	var ih [innerHeaderSize]byte
	if err := readPlain(r.plain, ih[:], "container header"); err != nil {
		return nil, err
	}
	if !bytes.Equal(ih[:8], innerMagic[:]) {
		return nil, corruptf("container magic %q", ih[:8])
	}
	kind, ok := kindFromCode(ih[8])
	if !ok || ih[9] != 0 || ih[10] != 0 || ih[11] != 0 {
		return nil, corruptf("container header kind %d reserved % x", ih[8], ih[9:12])
	}
	r.kind = kind
	h, end, err := r.readRecord()
	if err != nil {
		return nil, err
	}
	if end || h.Name != ManifestName {
		return nil, corruptf("first entry is not %s", ManifestName)
	}
	if h.Size > MaxManifestSize {
		return nil, corruptf("manifest is %d bytes, limit %d", h.Size, MaxManifestSize)
	}
	b := make([]byte, h.Size)
	if err := readPlain(r.plain, b, "manifest"); err != nil {
		return nil, err
	}
	return decodeManifest(b, kind, r.version)
}

// readRecord reads the next record header. For an entry it checks and
// accounts the header; for the end record it verifies the end of the
// plaintext, the trailer, and the entry count and byte total.
func (r *Reader) readRecord() (h *EntryHeader, end bool, err error) {
	var t [1]byte
	if err := readPlain(r.plain, t[:], "record type"); err != nil {
		return nil, false, err
	}
	switch t[0] {
	case recordFile:
		return r.readEntryHeader()
	case recordEnd:
		return nil, true, r.readEnd()
	}
	return nil, false, corruptf("unknown record type %#02x", t[0])
}

func (r *Reader) readEntryHeader() (*EntryHeader, bool, error) {
	var l [2]byte
	if err := readPlain(r.plain, l[:], "entry header"); err != nil {
		return nil, false, err
	}
	n := int(binary.BigEndian.Uint16(l[:]))
	if n == 0 || n > MaxNameLen {
		return nil, false, corruptf("entry name length %d out of range 1..%d", n, MaxNameLen)
	}
	b := make([]byte, n+12)
	if err := readPlain(r.plain, b, "entry header"); err != nil {
		return nil, false, err
	}
	size := binary.BigEndian.Uint64(b[n+4:])
	if size > MaxEntrySize {
		return nil, false, corruptf("entry size %d exceeds %d", size, int64(MaxEntrySize))
	}
	h := &EntryHeader{Name: string(b[:n]), Mode: fs.FileMode(binary.BigEndian.Uint32(b[n : n+4])), Size: int64(size)}
	if err := validateEntry(h); err != nil {
		return nil, false, corruptf("%v", err)
	}
	if _, dup := r.names[h.Name]; dup {
		return nil, false, corruptf("duplicate entry %q", h.Name)
	}
	if r.count >= MaxEntries {
		return nil, false, corruptf("more than %d entries", MaxEntries)
	}
	r.names[h.Name] = struct{}{}
	r.count++
	r.total += size
	return h, false, nil
}

func (r *Reader) readEnd() error {
	var b [endRecordSize - 1]byte
	if err := readPlain(r.plain, b[:], "end record"); err != nil {
		return err
	}
	var one [1]byte
	switch n, err := io.ReadFull(r.plain, one[:]); {
	case n > 0:
		return corruptf("data after the end record")
	case err != io.EOF:
		return &plainError{err}
	}
	// The age stream ended authentically; now the envelope must end too.
	if err := r.src.checkTrailer(true); err != nil {
		return err
	}
	count, total := binary.BigEndian.Uint64(b[0:8]), binary.BigEndian.Uint64(b[8:16])
	if count != r.count || total != r.total {
		return corruptf("end record says %d entries of %d bytes, read %d entries of %d bytes", count, total, r.count, r.total)
	}
	return nil
}

// classify turns a failure of the age plaintext into a sentinel: it reads the
// rest of the file through the hash and consults the trailer. Other
// errors are returned unchanged.
func (r *Reader) classify(err error) error {
	var pe *plainError
	if !errors.As(err, &pe) {
		return err
	}
	if r.src.err != nil {
		return r.src.err
	}
	if derr := r.src.drain(); derr != nil {
		return derr
	}
	if terr := r.src.checkTrailer(false); terr != nil {
		return terr
	}
	// The encrypted stream is exactly as written, yet it did not decrypt.
	return corruptf("decrypt: %v", pe.err)
}

// Kind is the archive's kind.
func (r *Reader) Kind() Kind { return r.kind }

// Manifest returns a copy of the archive's manifest. It is authenticated by
// age but, like entry data, final only once Next has returned io.EOF.
func (r *Reader) Manifest() *Manifest { return r.manifest.clone() }

// Next advances to the next entry (the manifest is not returned again),
// discarding any unread data of the previous one. The returned reader yields
// exactly the entry's Size bytes and is valid until the next call to Next.
// Next returns io.EOF only once the whole archive is verified; see the
// contract on Reader.
func (r *Reader) Next() (*EntryHeader, io.Reader, error) {
	if r.err != nil {
		return nil, nil, r.err
	}
	if r.done {
		return nil, nil, io.EOF
	}
	if r.cur != nil {
		cur := r.cur
		if _, err := io.Copy(io.Discard, cur); err != nil {
			return nil, nil, err // already sticky
		}
		r.cur = nil
	}
	h, end, err := r.readRecord()
	if err != nil {
		r.err = r.classify(err)
		return nil, nil, r.err
	}
	if end {
		r.done = true
		return nil, nil, io.EOF
	}
	r.cur = &entryReader{r: r, remaining: h.Size}
	return h, r.cur, nil
}

// Verify reads the rest of the archive, discarding entry data, and returns
// nil only if the whole archive is intact and authentic.
func (r *Reader) Verify() error {
	for {
		_, _, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// BytesRead is the number of bytes read from the input so far. It is safe to
// call from any goroutine at any time.
func (r *Reader) BytesRead() int64 { return r.src.n.Load() }

// Size is the size of the whole file; valid once Next returned io.EOF.
func (r *Reader) Size() int64 {
	if !r.done {
		return 0
	}
	return r.src.n.Load()
}

// SHA256 is the SHA-256 of the whole file as read; nil until Next returned
// io.EOF. Restore compares it with the configuration manifest's
// StoreBackup.SHA256.
func (r *Reader) SHA256() []byte {
	if !r.done {
		return nil
	}
	return r.src.hash.Sum(nil)
}

// entryReader yields one entry's data.
type entryReader struct {
	r         *Reader
	remaining int64
}

func (e *entryReader) Read(p []byte) (int, error) {
	r := e.r
	if r.err != nil {
		return 0, r.err
	}
	if r.cur != e {
		return 0, errors.New("archive entry read after Next")
	}
	if e.remaining == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.remaining {
		p = p[:e.remaining]
	}
	n, err := r.plain.Read(p)
	e.remaining -= int64(n)
	switch {
	case err == io.EOF && e.remaining > 0:
		r.err = corruptf("encrypted content ends inside an entry")
		return n, r.err
	case err == io.EOF:
		err = nil // the end record must still follow
	case err != nil:
		r.err = r.classify(err)
		return n, r.err
	}
	return n, err
}
