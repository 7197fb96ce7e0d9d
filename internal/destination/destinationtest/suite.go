package destinationtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/destination"
)

// Option adjusts Run.
type Option func(*suite)

// InProcessStorage tells Run that the implementation keeps committed objects
// in this process's heap (Mem, the in-memory S3 server), so the
// bounded-memory check of the streaming test cannot apply.
func InProcessStorage() Option { return func(s *suite) { s.inProcess = true } }

// LargeSize sets the size of the streaming test's object (default 48 MiB).
func LargeSize(n int64) Option { return func(s *suite) { s.large = n } }

type suite struct {
	newDest   func(t *testing.T) destination.Destination
	inProcess bool
	large     int64
}

// Run is the conformance suite of destination.Destination. newDest returns
// a fresh, empty destination for each subtest and registers its own
// cleanup. Every implementation (file, SFTP, S3, Mem) must pass it.
func Run(t *testing.T, newDest func(t *testing.T) destination.Destination, opts ...Option) {
	s := &suite{newDest: newDest, large: 48 << 20}
	for _, o := range opts {
		o(s)
	}
	t.Run("RoundTrip", s.roundTrip)
	t.Run("Empty", s.empty)
	t.Run("UncommittedInvisible", s.uncommittedInvisible)
	t.Run("AbortLeavesNothing", s.abortLeavesNothing)
	t.Run("CreateOverExisting", s.createOverExisting)
	t.Run("CommitRace", s.commitRace)
	t.Run("NotFound", s.notFound)
	t.Run("BadNames", s.badNames)
	t.Run("Finished", s.finished)
	t.Run("Cancelled", s.cancelled)
	t.Run("Concurrent", s.concurrent)
	t.Run("Sweep", s.sweep)
	t.Run("LargeStreaming", s.largeStreaming)
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Stream is a deterministic pseudo-random byte stream for tests: the same
// seed yields the same bytes, without holding them in memory.
func Stream(seed uint64) io.Reader {
	var key [32]byte
	key[0] = byte(seed)
	key[1] = byte(seed >> 8)
	return rand.NewChaCha8(key)
}

// Put writes data to name and commits it, failing the test on any error.
func Put(t *testing.T, d destination.Destination, name string, data []byte) destination.CommitInfo {
	t.Helper()
	up, err := d.Create(ctxFor(t), name)
	if err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	defer up.Abort()
	if _, err := up.Write(data); err != nil {
		t.Fatalf("Write(%q): %v", name, err)
	}
	ci, err := up.Commit()
	if err != nil {
		t.Fatalf("Commit(%q): %v", name, err)
	}
	return ci
}

// Get reads name whole, checking that Object.Size matches what was read.
func Get(t *testing.T, d destination.Destination, name string) []byte {
	t.Helper()
	o, err := d.Open(ctxFor(t), name)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatalf("read %q: %v", name, err)
	}
	if int64(len(b)) != o.Size() {
		t.Fatalf("Open(%q).Size() = %d, read %d bytes", name, o.Size(), len(b))
	}
	return b
}

func wantNotFound(t *testing.T, d destination.Destination, name string) {
	t.Helper()
	ctx := ctxFor(t)
	if _, err := d.Stat(ctx, name); !errors.Is(err, destination.ErrNotFound) {
		t.Errorf("Stat(%q) = %v, want ErrNotFound", name, err)
	}
	o, err := d.Open(ctx, name)
	if err == nil {
		o.Close()
	}
	if !errors.Is(err, destination.ErrNotFound) {
		t.Errorf("Open(%q) = %v, want ErrNotFound", name, err)
	}
}

func (s *suite) roundTrip(t *testing.T) {
	d := s.newDest(t)
	ctx := ctxFor(t)
	const size = 5<<20 + 123
	data := make([]byte, size)
	io.ReadFull(Stream(1), data)
	up, err := d.Create(ctx, "store.age")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer up.Abort()
	// Odd chunk sizes cross every internal buffer boundary.
	chunks := []int{1, 7, 4096, 32*1024 + 1, 65537, 1 << 20}
	for off, i := 0, 0; off < size; i++ {
		n := min(chunks[i%len(chunks)], size-off)
		w, err := up.Write(data[off : off+n])
		if err != nil || w != n {
			t.Fatalf("Write at %d: %d, %v", off, w, err)
		}
		off += n
	}
	ci, err := up.Commit()
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if ci.Size != size {
		t.Errorf("CommitInfo.Size = %d, want %d", ci.Size, size)
	}
	info, err := d.Stat(ctx, "store.age")
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if info.Size != size || info.Name != "store.age" {
		t.Errorf("Stat = %+v, want size %d", info, size)
	}
	got := Get(t, d, "store.age")
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("SHA-256 of the object read back differs from what was written")
	}
	if err := d.Remove(ctx, "store.age"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	wantNotFound(t, d, "store.age")
}

func (s *suite) empty(t *testing.T) {
	d := s.newDest(t)
	ci := Put(t, d, "empty", nil)
	if ci.Size != 0 {
		t.Errorf("CommitInfo.Size = %d", ci.Size)
	}
	if got := Get(t, d, "empty"); len(got) != 0 {
		t.Errorf("read %d bytes from an empty object", len(got))
	}
}

func (s *suite) uncommittedInvisible(t *testing.T) {
	d := s.newDest(t)
	ctx := ctxFor(t)
	up, err := d.Create(ctx, "pending")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer up.Abort()
	if _, err := up.Write(bytes.Repeat([]byte("x"), 100_000)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	wantNotFound(t, d, "pending")
	if _, err := up.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if got := Get(t, d, "pending"); len(got) != 100_000 {
		t.Errorf("read %d bytes, want 100000", len(got))
	}
}

func (s *suite) abortLeavesNothing(t *testing.T) {
	d := s.newDest(t)
	ctx := ctxFor(t)
	up, err := d.Create(ctx, "aborted")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := io.CopyN(up, Stream(2), 1<<20); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := up.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	wantNotFound(t, d, "aborted")
	// The name is free again, and a second Abort is harmless.
	if err := up.Abort(); err != nil {
		t.Errorf("second Abort: %v", err)
	}
	Put(t, d, "aborted", []byte("second try"))
	if got := Get(t, d, "aborted"); string(got) != "second try" {
		t.Errorf("got %q", got)
	}
}

func (s *suite) createOverExisting(t *testing.T) {
	d := s.newDest(t)
	Put(t, d, "taken", []byte("original"))
	up, err := d.Create(ctxFor(t), "taken")
	if !errors.Is(err, destination.ErrExists) {
		if up != nil {
			up.Abort()
		}
		t.Fatalf("Create over an existing name = %v, want ErrExists", err)
	}
	if got := Get(t, d, "taken"); string(got) != "original" {
		t.Errorf("existing object changed to %q", got)
	}
}

func (s *suite) commitRace(t *testing.T) {
	d := s.newDest(t)
	ctx := ctxFor(t)
	first, err := d.Create(ctx, "race")
	if err != nil {
		t.Fatalf("Create first: %v", err)
	}
	defer first.Abort()
	second, err := d.Create(ctx, "race")
	if err != nil {
		t.Fatalf("Create second (nothing committed yet): %v", err)
	}
	defer second.Abort()
	first.Write([]byte("first"))
	second.Write([]byte("second"))
	if _, err := first.Commit(); err != nil {
		t.Fatalf("Commit first: %v", err)
	}
	if _, err := second.Commit(); !errors.Is(err, destination.ErrExists) {
		t.Errorf("Commit second over the first = %v, want ErrExists", err)
	}
	if got := Get(t, d, "race"); string(got) != "first" {
		t.Errorf("object = %q, want the first upload's", got)
	}
}

func (s *suite) notFound(t *testing.T) {
	d := s.newDest(t)
	wantNotFound(t, d, "missing")
	if err := d.Remove(ctxFor(t), "missing"); !errors.Is(err, destination.ErrNotFound) {
		t.Errorf("Remove(missing) = %v, want ErrNotFound", err)
	}
}

func (s *suite) badNames(t *testing.T) {
	d := s.newDest(t)
	ctx := ctxFor(t)
	for _, name := range []string{"", "..", "../escape", "a/b", ".hidden", destination.TempName("x")} {
		if up, err := d.Create(ctx, name); !errors.Is(err, destination.ErrBadURL) {
			if up != nil {
				up.Abort()
			}
			t.Errorf("Create(%q) = %v, want ErrBadURL", name, err)
		}
		if _, err := d.Stat(ctx, name); !errors.Is(err, destination.ErrBadURL) {
			t.Errorf("Stat(%q) = %v, want ErrBadURL", name, err)
		}
		if o, err := d.Open(ctx, name); !errors.Is(err, destination.ErrBadURL) {
			if o != nil {
				o.Close()
			}
			t.Errorf("Open(%q) = %v, want ErrBadURL", name, err)
		}
		if err := d.Remove(ctx, name); !errors.Is(err, destination.ErrBadURL) {
			t.Errorf("Remove(%q) = %v, want ErrBadURL", name, err)
		}
	}
}

func (s *suite) finished(t *testing.T) {
	d := s.newDest(t)
	up, err := d.Create(ctxFor(t), "done")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	up.Write([]byte("data"))
	if _, err := up.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if _, err := up.Write([]byte("more")); !errors.Is(err, destination.ErrClosed) {
		t.Errorf("Write after Commit = %v, want ErrClosed", err)
	}
	if _, err := up.Commit(); !errors.Is(err, destination.ErrClosed) {
		t.Errorf("second Commit = %v, want ErrClosed", err)
	}
	if err := up.Abort(); err != nil {
		t.Errorf("Abort after Commit = %v, want nil", err)
	}
	if got := Get(t, d, "done"); string(got) != "data" {
		t.Errorf("object = %q after Abort following Commit", got)
	}
	up2, err := d.Create(ctxFor(t), "aborted")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	up2.Abort()
	if _, err := up2.Write([]byte("x")); !errors.Is(err, destination.ErrClosed) {
		t.Errorf("Write after Abort = %v, want ErrClosed", err)
	}
	if _, err := up2.Commit(); !errors.Is(err, destination.ErrClosed) {
		t.Errorf("Commit after Abort = %v, want ErrClosed", err)
	}
	wantNotFound(t, d, "aborted")
}

func (s *suite) cancelled(t *testing.T) {
	d := s.newDest(t)
	ctx, cancel := context.WithCancel(ctxFor(t))
	up, err := d.Create(ctx, "cancelled")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer up.Abort()
	if _, err := up.Write([]byte("before")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	cancel()
	_, werr := up.Write([]byte("after"))
	_, cerr := up.Commit()
	if cerr == nil {
		t.Fatalf("Commit after the upload's context was cancelled succeeded (write error: %v)", werr)
	}
	if !errors.Is(cerr, context.Canceled) && !errors.Is(werr, context.Canceled) {
		t.Errorf("errors after cancel do not wrap context.Canceled: write %v, commit %v", werr, cerr)
	}
	wantNotFound(t, d, "cancelled")
	// Create with a done context fails at once.
	if up, err := d.Create(ctx, "never"); err == nil {
		up.Abort()
		t.Errorf("Create with a cancelled context succeeded")
	}
}

func (s *suite) concurrent(t *testing.T) {
	d := s.newDest(t)
	const n = 4
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sums := make([][32]byte, n)
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprintf("obj-%d", i)
			up, err := d.Create(ctxFor(t), name)
			if err != nil {
				errs <- err
				return
			}
			defer up.Abort()
			h := sha256.New()
			if _, err := io.CopyN(io.MultiWriter(up, h), Stream(uint64(10+i)), int64(256<<10+i)); err != nil {
				errs <- err
				return
			}
			h.Sum(sums[i][:0])
			if _, err := up.Commit(); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent upload: %v", err)
	}
	for i := range n {
		if got := sha256.Sum256(Get(t, d, fmt.Sprintf("obj-%d", i))); got != sums[i] {
			t.Errorf("obj-%d: SHA-256 differs", i)
		}
	}
}

// sweep checks destination.Sweeper, when implemented: only temporary
// objects older than the cutoff go, committed objects stay, and the swept
// upload cannot commit.
func (s *suite) sweep(t *testing.T) {
	d := s.newDest(t)
	sw, ok := d.(destination.Sweeper)
	if !ok {
		t.Skipf("%T does not implement destination.Sweeper", d)
	}
	ctx := ctxFor(t)
	Put(t, d, "kept", []byte("committed"))
	// An upload whose process "died": neither committed nor aborted.
	crashed, err := d.Create(ctx, "crashed")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer crashed.Abort()
	if _, err := io.CopyN(crashed, Stream(5), 2<<20); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if removed, err := sw.Sweep(ctx, time.Now().Add(-time.Hour)); err != nil || len(removed) != 0 {
		t.Fatalf("Sweep with an old cutoff = %v, %v; want nothing removed", removed, err)
	}
	removed, err := sw.Sweep(ctx, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if len(removed) != 1 {
		t.Fatalf("Sweep removed %v, want the one temporary object", removed)
	}
	if final, ok := destination.IsTempName(removed[0]); !ok || final != "crashed" {
		t.Errorf("Sweep removed %q, not the temporary object of \"crashed\"", removed[0])
	}
	if _, err := crashed.Commit(); err == nil {
		t.Errorf("Commit of a swept upload succeeded")
	}
	wantNotFound(t, d, "crashed")
	if got := Get(t, d, "kept"); string(got) != "committed" {
		t.Errorf("committed object changed by Sweep: %q", got)
	}
}

// heapLive returns the live heap after a full collection.
func heapLive() uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// memCheckWriter samples the live heap once, when crossing at bytes.
type memCheckWriter struct {
	w       io.Writer
	n, at   int64
	sampled uint64
}

func (m *memCheckWriter) Write(p []byte) (int, error) {
	n, err := m.w.Write(p)
	if m.n < m.at && m.n+int64(n) >= m.at {
		m.sampled = heapLive()
	}
	m.n += int64(n)
	return n, err
}

func (s *suite) largeStreaming(t *testing.T) {
	d := s.newDest(t)
	ctx := ctxFor(t)
	size := s.large
	base := heapLive()
	up, err := d.Create(ctx, "large")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer up.Abort()
	h := sha256.New()
	mw := &memCheckWriter{w: up, at: size * 3 / 4}
	// Write in 64 KiB pieces, as a streaming archive writer would.
	buf := make([]byte, 64<<10)
	src := io.LimitReader(Stream(3), size)
	if _, err := io.CopyBuffer(io.MultiWriter(mw, h), struct{ io.Reader }{src}, buf); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if _, err := up.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if !s.inProcess {
		// Bounded memory: well under half the object may be live while
		// three quarters of it have been written.
		if grew := int64(mw.sampled) - int64(base); grew > size/2 {
			t.Errorf("live heap grew by %d bytes while streaming %d: the upload buffers the object", grew, size)
		}
	}
	o, err := d.Open(ctx, "large")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer o.Close()
	rh := sha256.New()
	n, err := io.Copy(rh, o)
	if err != nil || n != size || o.Size() != size {
		t.Fatalf("read back %d of %d bytes (Size %d): %v", n, size, o.Size(), err)
	}
	if !bytes.Equal(rh.Sum(nil), h.Sum(nil)) {
		t.Fatalf("SHA-256 of the large object read back differs from what was written")
	}
}
