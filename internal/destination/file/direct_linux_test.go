package file

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"unsafe"
)

// alignedBlock returns n bytes of pattern at an address aligned for
// O_DIRECT.
func alignedBlock(n int, seed byte) []byte {
	raw := make([]byte, n+directAlign)
	off := int(directAlign - uintptr(unsafe.Pointer(&raw[0]))%directAlign)
	b := raw[off%directAlign : off%directAlign+n]
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

// Aligned blocks are written with O_DIRECT; the first write that is not
// aligned (the archive's last, partial block) switches the upload to
// buffered writes for the rest, and the file holds exactly what was
// written.
func TestDirectThenBuffered(t *testing.T) {
	dir := t.TempDir()
	d, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	up, err := d.Create(context.Background(), "store.bak")
	if err != nil {
		t.Fatal(err)
	}
	u := up.(*upload)
	if !u.direct {
		t.Skipf("the filesystem of %s does not take O_DIRECT", dir)
	}
	var want bytes.Buffer
	write := func(p []byte, direct bool) {
		t.Helper()
		if n, err := u.Write(p); err != nil || n != len(p) {
			t.Fatalf("write of %d bytes: %d, %v", len(p), n, err)
		}
		want.Write(p)
		if u.direct != direct {
			t.Fatalf("after a write of %d bytes at %d: direct %v, want %v", len(p), u.n-int64(len(p)), u.direct, direct)
		}
	}
	for i := range 3 {
		write(alignedBlock(1<<20, byte(i)), true)
	}
	write([]byte("the tail of the archive"), false)
	write(alignedBlock(1<<20, 9), false) // stays buffered
	if _, err := up.Commit(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "store.bak"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("file has %d bytes, %d written, or the contents differ", len(got), want.Len())
	}
}

// A misaligned buffer is never written directly.
func TestDirectOK(t *testing.T) {
	b := alignedBlock(2*directAlign, 0)
	for _, c := range []struct {
		p   []byte
		off int64
		ok  bool
	}{
		{b, 0, true},
		{b[:directAlign], directAlign, true},
		{b[1 : directAlign+1], 0, false},
		{b[:directAlign-1], 0, false},
		{b, 512, false},
		{nil, 0, false},
	} {
		if got := directOK(c.p, c.off); got != c.ok {
			t.Errorf("directOK(%d bytes at %p, off %d) = %v, want %v", len(c.p), unsafe.SliceData(c.p), c.off, got, c.ok)
		}
	}
}
