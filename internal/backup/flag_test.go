package backup

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mqsight/mqsight/internal/archive"
	"github.com/mqsight/mqsight/internal/store"
)

// A staged store of a newer store format is refused as a newer backup,
// naming both formats, even when the manifests do not record the format
// (backups written before they did).
func TestStagedNewerStoreFormatIsRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	uid, lsn := st.UID(), st.LastLSN()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("\x01format"), []byte{store.FormatVersion + 1}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = markFromBackup(dir, uid, lsn, false)
	want := fmt.Sprintf("the store has format %d; this build reads formats 1 to %d", store.FormatVersion+1, store.FormatVersion)
	if !errors.Is(err, archive.ErrNewerFormat) || !strings.Contains(err.Error(), want) {
		t.Fatalf("markFromBackup: %v, want ErrNewerFormat saying %q", err, want)
	}
}

// quietPebble keeps Pebble's informational lines out of the test output.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)           {}
func (quietPebble) Errorf(string, ...any)          {}
func (quietPebble) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }
