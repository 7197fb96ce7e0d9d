package backup

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// TestCopyOverlapped: the copy is exact for every size around the buffer
// size, and read and write errors come back with no write left running.
func TestCopyOverlapped(t *testing.T) {
	bufs := [2][]byte{make([]byte, 8), make([]byte, 8)}
	for _, size := range []int{0, 1, 7, 8, 9, 16, 20, 100} {
		src := bytes.Repeat([]byte("abcdefghij"), 10)[:size]
		var dst bytes.Buffer
		if err := copyOverlapped(&dst, iotest.HalfReader(bytes.NewReader(src)), bufs); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if !bytes.Equal(dst.Bytes(), src) {
			t.Fatalf("size %d: copied %q", size, dst.Bytes())
		}
	}
	boom := errors.New("boom")
	var dst bytes.Buffer
	err := copyOverlapped(&dst, io.MultiReader(bytes.NewReader(make([]byte, 20)), iotest.ErrReader(boom)), bufs)
	if !errors.Is(err, boom) || dst.Len() != 20 {
		t.Fatalf("read error: %v after %d bytes, want boom after 20", err, dst.Len())
	}
	if err := copyOverlapped(failWriter{boom}, bytes.NewReader(make([]byte, 30)), bufs); !errors.Is(err, boom) {
		t.Fatalf("write error: %v", err)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }
