package archive

import (
	"fmt"
	"io"
	"os"
)

// Summary is what Verify learned about an archive.
type Summary struct {
	// Manifest is set as soon as it was decrypted, even when Verify then
	// fails; trust it only when Verify returned nil.
	Manifest *Manifest
	Entries  []EntryHeader // in archive order, manifest excluded
	Size     int64         // whole file; set only on success
	SHA256   []byte        // whole file; set only on success
}

// Verify reads a whole archive, discarding entry data, and reports whether it
// is intact and decrypts with passphrase (for `mqsight backup verify` and
// restore dry runs). The returned Summary is never nil.
func Verify(r io.Reader, passphrase string) (*Summary, error) {
	s := &Summary{}
	ar, err := NewReader(r, passphrase)
	if err != nil {
		return s, err
	}
	s.Manifest = ar.Manifest()
	for {
		h, _, err := ar.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return s, err
		}
		s.Entries = append(s.Entries, *h)
	}
	s.Size, s.SHA256 = ar.Size(), ar.SHA256()
	return s, nil
}

// VerifyFile is Verify on the file at path.
func VerifyFile(path, passphrase string) (*Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return &Summary{}, fmt.Errorf("verify backup: %w", err)
	}
	defer f.Close()
	return Verify(f, passphrase)
}

// CheckComplete reads a whole archive without decrypting it and reports
// whether it is complete and undamaged as far as its checksums tell: the
// envelope header, the age header's checksum, and the trailer's length and
// SHA-256 of everything before it (ErrNotBackup, ErrNewerFormat,
// ErrTruncated, ErrTampered). It needs no passphrase or key, so it can
// check a store backup whose configuration backup is missing. It does not
// authenticate anything (Verify does): a forger can recompute checksums. On
// success it returns the whole file's size and SHA-256.
func CheckComplete(r io.Reader) (size int64, sum []byte, err error) {
	src, _, _, err := readHeaders(r)
	if err != nil {
		return 0, nil, err
	}
	if err := src.drain(); err != nil {
		return 0, nil, err
	}
	if err := src.checkTrailer(false); err != nil {
		return 0, nil, err
	}
	return src.hashed, src.hash.Sum(nil), nil
}
