package archive

import (
	"bytes"
	"errors"
	"os"
	"runtime"
	"testing"
)

// FuzzReader feeds arbitrary bytes (seeded with the golden archive and damaged
// variants, testdata/fuzz/FuzzReader) to the reader: no panic, allocation
// bounded independent of lengths claimed in the input, and every error is
// exactly one sentinel (the input is in memory, so there are no I/O errors).
func FuzzReader(f *testing.F) {
	for _, p := range []string{goldenV2Path, goldenV1Path, goldenV2StorePath} {
		golden, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(golden)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Verify(bytes.NewReader(data), goldenPass)
		runtime.ReadMemStats(&after)
		// Fixed buffers (source 256 KiB, plaintext 64 KiB, age chunk
		// buffers) plus scrypt at the test work factor (1 MiB).
		const limit = 8 << 20
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > limit+4*uint64(len(data)) {
			t.Fatalf("allocated %d bytes for a %d-byte input", alloc, len(data))
		}
		if err == nil {
			return
		}
		n := 0
		for _, s := range sentinels {
			if errors.Is(err, s) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("error %v matches %d sentinels, want 1", err, n)
		}
	})
}

// FuzzDamage applies one fault to the golden archive and requires the exact
// classification: a flip anywhere is ErrTampered, a cut anywhere ErrTruncated.
func FuzzDamage(f *testing.F) {
	golden, err := os.ReadFile(goldenV2Path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint32(0), byte(1), false)
	f.Add(uint32(len(golden)-1), byte(0x80), false)
	f.Add(uint32(headerSize+3), byte(0x20), false)
	f.Add(uint32(len(golden)/2), byte(0), true)
	f.Add(uint32(len(golden)-trailerSize), byte(0), true)
	id := newMemoIdentity(f, goldenPass)
	f.Fuzz(func(t *testing.T, pos uint32, mask byte, cut bool) {
		i := int(pos % uint32(len(golden)))
		if cut {
			_, _, err := readAllMemo(golden[:i], id)
			assertOnly(t, err, ErrTruncated, "cut")
			return
		}
		if mask == 0 {
			mask = 1
		}
		bad := bytes.Clone(golden)
		bad[i] ^= mask
		_, _, err := readAllMemo(bad, id)
		assertOnly(t, err, ErrTampered, "flip")
	})
}
