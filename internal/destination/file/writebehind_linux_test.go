package file

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// writeBehind starts writeback chunk by chunk as the file grows (and the
// data written is unchanged).
func TestWriteBehindAdvancesByChunks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var w writeBehind
	var end int64
	block := bytes.Repeat([]byte{7}, 1<<20)
	for i := range 3*writeBehindChunk/len(block) + 1 {
		n, err := f.Write(block)
		if err != nil {
			t.Fatal(err)
		}
		end += int64(n)
		w.wrote(f, end)
		if want := int64(i+1) * int64(len(block)) / writeBehindChunk * writeBehindChunk; w.started != want {
			t.Fatalf("after %d MiB: writeback started up to %d, want %d", i+1, w.started, want)
		}
	}
	st, err := f.Stat()
	if err != nil || st.Size() != int64(3*writeBehindChunk+len(block)) {
		t.Fatalf("size %v, %v", st.Size(), err)
	}
}
