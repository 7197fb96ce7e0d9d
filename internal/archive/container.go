package archive

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// Inner container constants; see the package documentation for the diagram.
const (
	innerHeaderSize = 12
	recordFile      = 0x01 // entry record: name, mode, size, data
	recordEnd       = 0x02 // end record: entry count, total data bytes

	// MaxNameLen bounds an entry name in bytes.
	MaxNameLen = 4096
	// MaxEntrySize bounds one entry's data (16 TiB).
	MaxEntrySize = 1 << 44
	// MaxEntries bounds the number of entries in one archive, manifest included.
	MaxEntries = 1 << 20

	endRecordSize = 1 + 8 + 8
)

var innerMagic = [8]byte{'M', 'Q', 'S', 'I', 'N', 'N', 'E', 'R'}

// EntryHeader describes one entry of an archive.
type EntryHeader struct {
	Name string      // slash-separated relative path, valid per fs.ValidPath
	Mode fs.FileMode // permission bits only
	Size int64       // exact number of data bytes
}

func marshalInnerHeader(code byte) []byte {
	b := make([]byte, innerHeaderSize)
	copy(b, innerMagic[:])
	b[8] = code
	return b
}

// validateEntry checks an entry header against the format's rules. It is
// used by the writer (caller errors) and the reader (ErrCorrupt).
func validateEntry(h *EntryHeader) error {
	switch {
	case len(h.Name) == 0 || len(h.Name) > MaxNameLen:
		return fmt.Errorf("entry name length %d out of range 1..%d", len(h.Name), MaxNameLen)
	case !fs.ValidPath(h.Name) || h.Name == ".":
		return fmt.Errorf("entry name %q is not a clean relative slash-separated path", h.Name)
	case h.Mode&^fs.ModePerm != 0:
		return fmt.Errorf("entry %q: mode %v has bits other than permissions", h.Name, h.Mode)
	case h.Size < 0 || h.Size > MaxEntrySize:
		return fmt.Errorf("entry %q: size %d out of range 0..%d", h.Name, h.Size, int64(MaxEntrySize))
	}
	return nil
}

// marshalEntryHeader encodes the record up to (not including) the data.
func marshalEntryHeader(h *EntryHeader) []byte {
	b := make([]byte, 0, 1+2+len(h.Name)+4+8)
	b = append(b, recordFile)
	b = binary.BigEndian.AppendUint16(b, uint16(len(h.Name)))
	b = append(b, h.Name...)
	b = binary.BigEndian.AppendUint32(b, uint32(h.Mode))
	b = binary.BigEndian.AppendUint64(b, uint64(h.Size))
	return b
}

func marshalEndRecord(count, total uint64) []byte {
	b := make([]byte, 0, endRecordSize)
	b = append(b, recordEnd)
	b = binary.BigEndian.AppendUint64(b, count)
	b = binary.BigEndian.AppendUint64(b, total)
	return b
}

// plainError marks an error of the age plaintext reader (authentication
// failure, truncation or I/O), as opposed to a malformed but authentic
// container, so the reader knows to classify it against the trailer.
type plainError struct{ err error }

func (e *plainError) Error() string { return e.err.Error() }
func (e *plainError) Unwrap() error { return e.err }

// plainReader wraps the age plaintext reader: io.EOF passes through (it is
// the authenticated end), every other error becomes a *plainError. age itself
// reports a truncated stream as io.ErrUnexpectedEOF, which must not be
// mistaken for a short authentic record.
type plainReader struct{ r io.Reader }

func (p plainReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if err != nil && err != io.EOF {
		err = &plainError{err}
	}
	return n, err
}

// readPlain reads exactly len(b) plaintext bytes from a reader built on
// plainReader. An authenticated end of the plaintext inside the read is
// ErrCorrupt (the writer never ends mid-record).
func readPlain(r io.Reader, b []byte, what string) error {
	_, err := io.ReadFull(r, b)
	var pe *plainError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pe):
		return pe
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return corruptf("encrypted content ends inside the %s", what)
	}
	return &plainError{err}
}
