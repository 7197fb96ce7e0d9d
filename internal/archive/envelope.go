package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"sync/atomic"
)

// FormatVersion is the envelope format version this package writes and the
// highest it reads. Bump it for any change an older reader could not follow.
//
// Version 2 (this one) added store archives encrypted to a Key instead of
// the passphrase; a version 1 reader would take such a file for one with a
// wrong password. Version 1 files are read as before.
const FormatVersion uint16 = 2

// Envelope layout constants; see the package documentation for the diagram.
const (
	headerSize  = 52   // fixed envelope header before the age header
	trailerSize = 52   // fixed trailer after the age stream
	maxAgeHdr   = 1024 // bound on the age header (+nonce) length; a scrypt header is ~190 bytes
)

var (
	headerMagic  = [8]byte{0x89, 'M', 'Q', 'S', 'B', 'K', '\r', '\n'}
	trailerMagic = [8]byte{'M', 'Q', 'S', 'B', 'K', 'E', 'N', 'D'}
	castagnoli   = crc32.MakeTable(crc32.Castagnoli)
)

// IsBackup reports whether r starts with the envelope magic that every
// mqsight backup archive starts with, whatever its kind and format
// version (configuration backups, exports, store backups). It reads at
// offset 0 only; it checks nothing else.
func IsBackup(r io.ReaderAt) (bool, error) {
	var b [len(headerMagic)]byte
	n, err := r.ReadAt(b[:], 0)
	if err != nil && err != io.EOF {
		return false, err
	}
	return n == len(b) && b == headerMagic, nil
}

// envelopeHeader is the decoded fixed envelope header.
type envelopeHeader struct {
	version   uint16
	flags     uint16
	ageHdrLen uint32
	ageHdrSum [sha256.Size]byte
}

func (h *envelopeHeader) marshal() []byte {
	b := make([]byte, headerSize)
	copy(b[0:8], headerMagic[:])
	binary.BigEndian.PutUint16(b[8:10], h.version)
	binary.BigEndian.PutUint16(b[10:12], h.flags)
	binary.BigEndian.PutUint32(b[12:16], h.ageHdrLen)
	copy(b[16:48], h.ageHdrSum[:])
	binary.BigEndian.PutUint32(b[48:52], crc32.Checksum(b[:48], castagnoli))
	return b
}

// parseEnvelopeHeader classifies and decodes the first bytes of a file. b
// holds what could be read, at most headerSize bytes; short means the input
// ended before headerSize bytes.
func parseEnvelopeHeader(b []byte) (envelopeHeader, error) {
	var h envelopeHeader
	if len(b) < len(headerMagic) {
		if bytes.Equal(b, headerMagic[:len(b)]) {
			return h, fmt.Errorf("%w: file ends after %d bytes, inside the magic number", ErrTruncated, len(b))
		}
		return h, ErrNotBackup
	}
	if !bytes.Equal(b[:8], headerMagic[:]) {
		// A damaged magic of an otherwise intact header is tampering, not a
		// foreign file: check the header checksum as if the magic were ours.
		if len(b) == headerSize {
			c := crc32.Update(crc32.Checksum(headerMagic[:], castagnoli), castagnoli, b[8:48])
			if c == binary.BigEndian.Uint32(b[48:52]) {
				return h, fmt.Errorf("%w: magic number damaged", ErrTampered)
			}
		}
		return h, ErrNotBackup
	}
	if len(b) < headerSize {
		return h, fmt.Errorf("%w: file ends after %d bytes, inside the envelope header", ErrTruncated, len(b))
	}
	if crc32.Checksum(b[:48], castagnoli) != binary.BigEndian.Uint32(b[48:52]) {
		return h, fmt.Errorf("%w: envelope header checksum mismatch", ErrTampered)
	}
	h.version = binary.BigEndian.Uint16(b[8:10])
	h.flags = binary.BigEndian.Uint16(b[10:12])
	h.ageHdrLen = binary.BigEndian.Uint32(b[12:16])
	copy(h.ageHdrSum[:], b[16:48])
	switch {
	case h.version > FormatVersion:
		return h, &NewerFormatError{Version: h.version, Supported: FormatVersion}
	case h.version == 0:
		return h, corruptf("format version 0")
	case h.flags != 0:
		return h, corruptf("unknown envelope flags %#04x", h.flags)
	case h.ageHdrLen == 0 || h.ageHdrLen > maxAgeHdr:
		return h, corruptf("age header length %d out of range 1..%d", h.ageHdrLen, maxAgeHdr)
	}
	return h, nil
}

// envelopeTrailer is the decoded fixed trailer. The body is everything
// before the trailer: envelope header and age stream.
type envelopeTrailer struct {
	bodyLen uint64
	bodySum [sha256.Size]byte
}

func (t *envelopeTrailer) marshal() []byte {
	b := make([]byte, trailerSize)
	copy(b[0:8], trailerMagic[:])
	binary.BigEndian.PutUint64(b[8:16], t.bodyLen)
	copy(b[16:48], t.bodySum[:])
	binary.BigEndian.PutUint32(b[48:52], crc32.Checksum(b[:48], castagnoli))
	return b
}

// parseTrailer decodes b, the last bytes of the file. ok is false when b is
// not a well-formed trailer (short, wrong magic or checksum).
func parseTrailer(b []byte) (t envelopeTrailer, ok bool) {
	if len(b) != trailerSize || !bytes.Equal(b[:8], trailerMagic[:]) ||
		crc32.Checksum(b[:48], castagnoli) != binary.BigEndian.Uint32(b[48:52]) {
		return t, false
	}
	t.bodyLen = binary.BigEndian.Uint64(b[8:16])
	copy(t.bodySum[:], b[16:48])
	return t, true
}

// source reads an archive file in one pass. It hands out the file's bytes
// (header with readRaw, then the age stream with Read) while holding back the
// last trailerSize bytes, which at EOF are the trailer candidate. One SHA-256
// covers every byte handed out; checkTrailer compares its sum with the
// trailer and then adds the trailer, giving the whole file's digest. It is
// used by one goroutine; only n is read concurrently.
type source struct {
	r      io.Reader
	buf    []byte // buf[start:end] read from r, not yet handed out
	start  int
	end    int
	eof    bool
	err    error        // sticky non-EOF error from r
	n      atomic.Int64 // bytes read from r
	hash   hash.Hash    // bytes handed out (and, once verified, the trailer)
	hashed int64        // bytes in hash
}

const sourceBufSize = 256 << 10

func newSource(r io.Reader) *source {
	return &source{r: r, buf: make([]byte, sourceBufSize), hash: sha256.New()}
}

// fill reads more from r into buf. It returns false when nothing more can
// come (EOF or error).
func (s *source) fill() bool {
	if s.eof || s.err != nil {
		return false
	}
	if s.start > 0 {
		s.end = copy(s.buf, s.buf[s.start:s.end])
		s.start = 0
	}
	for empty := 0; empty < 100; empty++ {
		m, err := s.r.Read(s.buf[s.end:])
		if m > 0 {
			s.end += m
			s.n.Add(int64(m))
		}
		if errors.Is(err, io.EOF) {
			s.eof = true
			return m > 0
		}
		if err != nil {
			s.err = fmt.Errorf("read backup: %w", err)
			return m > 0
		}
		if m > 0 {
			return true
		}
	}
	s.err = fmt.Errorf("read backup: %w", io.ErrNoProgress)
	return false
}

// readRaw returns the next n bytes (n <= len(buf)) without hold-back, or
// fewer if the input ends. The slice is valid until the next call.
func (s *source) readRaw(n int) ([]byte, error) {
	for s.end-s.start < n && s.fill() {
	}
	if s.end-s.start < n && s.err != nil {
		return nil, s.err
	}
	m := min(n, s.end-s.start)
	b := s.buf[s.start : s.start+m]
	s.start += m
	s.hash.Write(b)
	s.hashed += int64(m)
	return b, nil
}

// Read hands out age stream bytes, never the last trailerSize bytes of the
// file, and hashes them.
func (s *source) Read(p []byte) (int, error) {
	for s.end-s.start <= trailerSize && s.fill() {
	}
	avail := s.end - s.start - trailerSize
	if avail <= 0 {
		if s.err != nil {
			return 0, s.err
		}
		return 0, io.EOF
	}
	k := copy(p, s.buf[s.start:s.start+avail])
	s.hash.Write(p[:k])
	s.hashed += int64(k)
	s.start += k
	return k, nil
}

// drain reads the rest of the age stream through the hash so that the
// trailer can be checked.
func (s *source) drain() error {
	_, err := io.Copy(io.Discard, struct{ io.Reader }{s})
	return err
}

// tail returns the held-back bytes once the input is exhausted.
func (s *source) tail() []byte { return s.buf[s.start:s.end] }

// checkTrailer compares the trailer with what was read. It must be called
// after the age stream was fully consumed (Read returned io.EOF). The result
// is nil, or ErrTruncated / ErrTampered with context.
func (s *source) checkTrailer(ageOK bool) error {
	t, ok := parseTrailer(s.tail())
	switch {
	case !ok && ageOK:
		return fmt.Errorf("%w: trailer damaged", ErrTampered)
	case !ok:
		return fmt.Errorf("%w: file ends after %d bytes without a valid trailer", ErrTruncated, s.n.Load())
	case t.bodyLen != uint64(s.hashed):
		return fmt.Errorf("%w: %d bytes before the trailer, trailer says %d", ErrTampered, s.hashed, t.bodyLen)
	case !bytes.Equal(s.hash.Sum(nil), t.bodySum[:]):
		return fmt.Errorf("%w: file checksum mismatch", ErrTampered)
	}
	s.hash.Write(s.tail())
	s.hashed += trailerSize
	return nil
}
