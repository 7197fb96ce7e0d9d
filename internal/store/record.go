package store

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrCorrupt is wrapped by every error about bytes that do not decode: an
// unknown record version, a truncated or over-long record, a malformed key.
var ErrCorrupt = errors.New("store: corrupt record")

// recordV1 is the first version byte of every record encoding.
const recordV1 = 1

// recordWriter appends fixed-width big-endian fields and length-prefixed
// strings to buf. Its zero value is ready to use.
type recordWriter struct{ buf []byte }

func (w *recordWriter) u8(v byte)    { w.buf = append(w.buf, v) }
func (w *recordWriter) u16(v uint16) { w.buf = binary.BigEndian.AppendUint16(w.buf, v) }
func (w *recordWriter) u32(v uint32) { w.buf = binary.BigEndian.AppendUint32(w.buf, v) }
func (w *recordWriter) u64(v uint64) { w.buf = binary.BigEndian.AppendUint64(w.buf, v) }
func (w *recordWriter) i64(v int64)  { w.u64(uint64(v)) }

func (w *recordWriter) bool(v bool) {
	if v {
		w.u8(1)
		return
	}
	w.u8(0)
}

func (w *recordWriter) bytes(v []byte) {
	w.buf = binary.AppendUvarint(w.buf, uint64(len(v)))
	w.buf = append(w.buf, v...)
}

func (w *recordWriter) str(v string) {
	w.buf = binary.AppendUvarint(w.buf, uint64(len(v)))
	w.buf = append(w.buf, v...)
}

// recordReader decodes what recordWriter wrote. The first failure is kept in
// err and every later read returns a zero value, so a decoder reads all its
// fields and checks err once at the end (see finish).
type recordReader struct {
	what    string // record type, for error messages
	version byte   // the record's version byte
	b       []byte
	err     error
}

// newRecordReader checks the version byte of a record of type what, which
// has only version 1.
func newRecordReader(what string, b []byte) *recordReader {
	return newVersionedReader(what, b, recordV1)
}

// newVersionedReader checks the version byte of a record of type what
// whose versions are 1..latest; r.version tells the decoder which layout
// follows.
func newVersionedReader(what string, b []byte, latest byte) *recordReader {
	r := &recordReader{what: what}
	switch {
	case len(b) == 0:
		r.err = fmt.Errorf("%w: %s: empty record", ErrCorrupt, what)
	case b[0] < recordV1 || b[0] > latest:
		r.err = fmt.Errorf("%w: %s: unknown record version %d", ErrCorrupt, what, b[0])
	default:
		r.version, r.b = b[0], b[1:]
	}
	return r
}

func (r *recordReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s: %s", ErrCorrupt, r.what, fmt.Sprintf(format, args...))
	}
	r.b = nil
}

// take returns the next n bytes, or nil after recording a truncation.
func (r *recordReader) take(n int, field string) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.fail("truncated in %s", field)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *recordReader) u8(field string) byte {
	if v := r.take(1, field); v != nil {
		return v[0]
	}
	return 0
}

func (r *recordReader) u16(field string) uint16 {
	if v := r.take(2, field); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *recordReader) u32(field string) uint32 {
	if v := r.take(4, field); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (r *recordReader) u64(field string) uint64 {
	if v := r.take(8, field); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (r *recordReader) i64(field string) int64 { return int64(r.u64(field)) }

func (r *recordReader) bool(field string) bool {
	switch v := r.u8(field); v {
	case 0:
		return false
	case 1:
		return true
	default:
		r.fail("%s: invalid bool 0x%02x", field, v)
		return false
	}
}

// lenPrefixed returns the bytes of a length-prefixed field without copying.
// The length is checked against the remaining input before anything is
// allocated, and must be minimally encoded (so decoding is canonical).
func (r *recordReader) lenPrefixed(field string) []byte {
	if r.err != nil {
		return nil
	}
	n, size := binary.Uvarint(r.b)
	if size <= 0 {
		r.fail("%s: bad length", field)
		return nil
	}
	if size != uvarintLen(n) {
		r.fail("%s: non-minimal length", field)
		return nil
	}
	r.b = r.b[size:]
	if n > uint64(len(r.b)) {
		r.fail("%s: length %d exceeds remaining %d bytes", field, n, len(r.b))
		return nil
	}
	return r.take(int(n), field)
}

// bytes returns a copy of a length-prefixed field; empty decodes as nil.
func (r *recordReader) bytes(field string) []byte {
	v := r.lenPrefixed(field)
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

func (r *recordReader) str(field string) string { return string(r.lenPrefixed(field)) }

// finish reports the first error, or trailing bytes after the last field.
func (r *recordReader) finish() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	return r.err
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
