package destination

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// maxNameLen bounds an object name; most filesystems cap an element at 255
// bytes and the temporary name adds a prefix and a suffix.
const maxNameLen = 200

// tempMarker separates the final name from the random suffix of a temporary
// name: `.<name>.partial-<16 hex digits>`.
const tempMarker = ".partial-"

// CheckName reports whether name is acceptable as an object name: one path
// element, at most 200 bytes, no slash, backslash, NUL or other control
// character, and not starting with a dot (names starting with a dot are
// reserved for temporary names, so a final name never looks temporary and a
// temporary name never looks final). It returns an error wrapping ErrBadURL.
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty object name", ErrBadURL)
	case len(name) > maxNameLen:
		return fmt.Errorf("%w: object name longer than %d bytes", ErrBadURL, maxNameLen)
	case name[0] == '.':
		return fmt.Errorf("%w: object name %q starts with a dot (reserved for temporary names)", ErrBadURL, name)
	}
	for _, r := range name {
		if r == '/' || r == '\\' || r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: object name %q contains a path separator or control character", ErrBadURL, name)
		}
	}
	return nil
}

// TempName returns a fresh temporary name for an upload of name:
// `.<name>.partial-<16 random hex digits>`. Callers must have checked name
// with CheckName.
func TempName(name string) string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return "." + name + tempMarker + hex.EncodeToString(b[:])
}

// IsTempName reports whether name was made by TempName, and for which final
// name. Cleanup code uses it to find uploads left behind by a crash.
func IsTempName(name string) (final string, ok bool) {
	if !strings.HasPrefix(name, ".") {
		return "", false
	}
	i := strings.LastIndex(name, tempMarker)
	if i < 1 {
		return "", false
	}
	suffix := name[i+len(tempMarker):]
	if len(suffix) != 16 {
		return "", false
	}
	if _, err := hex.DecodeString(suffix); err != nil {
		return "", false
	}
	final = name[1:i]
	if CheckName(final) != nil {
		return "", false
	}
	return final, true
}
