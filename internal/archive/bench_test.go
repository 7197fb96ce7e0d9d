package archive

import (
	"bytes"
	"crypto/sha256"
	"io"
	"testing"
)

// Throughput of one 64 MiB entry (a typical Pebble sstable is smaller; the
// per-entry overhead is a few dozen bytes). scrypt runs once per archive and
// is kept at the test work factor here; at DefaultWorkFactor it adds a fixed
// ~0.5-1 s per file, independent of size. Compare MB/s with
// BenchmarkCopyBaseline (a memory copy, what `cp` costs from page cache) and
// BenchmarkSHA256Baseline (one of the two digests each side computes).

const benchEntrySize = 64 << 20

var benchData = func() []byte {
	b := make([]byte, benchEntrySize)
	patternReader{}.Read(b)
	return b
}

// memSink copies what it is given into a fixed buffer, like a page cache.
type memSink struct{ buf []byte }

func (m *memSink) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		n := copy(m.buf, p)
		p = p[n:]
	}
	return total, nil
}

func writeBenchArchive(b *testing.B, data []byte, dst io.Writer) {
	w, err := NewWriter(dst, testPass, KindStore, testOpts)
	if err != nil {
		b.Fatal(err)
	}
	if err := w.WriteManifest(testManifest(KindStore)); err != nil {
		b.Fatal(err)
	}
	ew, err := w.CreateEntry("000001.sst", 0o644, int64(len(data)))
	if err != nil {
		b.Fatal(err)
	}
	for p := data; len(p) > 0; {
		n := min(len(p), 1<<20)
		if _, err := ew.Write(p[:n]); err != nil {
			b.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkWriter(b *testing.B) {
	data := benchData()
	sink := &memSink{buf: make([]byte, 1<<20)}
	b.SetBytes(benchEntrySize)
	b.ReportAllocs()
	for b.Loop() {
		writeBenchArchive(b, data, sink)
	}
}

func BenchmarkReader(b *testing.B) {
	var buf bytes.Buffer
	writeBenchArchive(b, benchData(), &buf)
	archive := buf.Bytes()
	sink := &memSink{buf: make([]byte, 1<<20)}
	b.SetBytes(benchEntrySize)
	b.ReportAllocs()
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(archive), testPass)
		if err != nil {
			b.Fatal(err)
		}
		_, er, err := r.Next()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(sink, er, make([]byte, 1<<20)); err != nil {
			b.Fatal(err)
		}
		if err := r.Verify(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCopyBaseline(b *testing.B) {
	data := benchData()
	sink := &memSink{buf: make([]byte, 1<<20)}
	buf := make([]byte, 1<<20)
	b.SetBytes(benchEntrySize)
	for b.Loop() {
		if _, err := io.CopyBuffer(sink, struct{ io.Reader }{bytes.NewReader(data)}, buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSHA256Baseline(b *testing.B) {
	data := benchData()
	b.SetBytes(benchEntrySize)
	for b.Loop() {
		sha256.Sum256(data)
	}
}
