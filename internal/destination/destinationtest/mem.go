package destinationtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/mqsight/mqsight/internal/destination"
)

// ErrInjected is returned by Mem's fault knobs.
var ErrInjected = errors.New("injected destination fault")

// Faults are the fault knobs of Mem. The zero value injects nothing. They
// apply to uploads created after SetFaults.
type Faults struct {
	// FailWrites makes a Write fail with ErrInjected once the upload
	// would hold more than FailAfter bytes (FailAfter 0: the first
	// non-empty write fails). The bytes up to FailAfter are accepted.
	FailWrites bool
	FailAfter  int64
	// FailCommit makes Commit fail with ErrInjected; the object does not
	// appear and the temporary data is discarded.
	FailCommit bool
	// Gate, if not nil, makes each Write block on it (see Gate).
	Gate *Gate
}

// Gate holds writers until released, so a test can act while an upload is
// in flight. Reached is closed when the first Write is blocked; Release lets
// every blocked and future Write through. A blocked Write also returns when
// the upload's context is done.
type Gate struct {
	reachedOnce sync.Once
	reached     chan struct{}
	releaseOnce sync.Once
	release     chan struct{}
}

// NewGate returns a gate that holds writers until Release.
func NewGate() *Gate {
	return &Gate{reached: make(chan struct{}), release: make(chan struct{})}
}

// Reached is closed once a Write is blocked on the gate.
func (g *Gate) Reached() <-chan struct{} { return g.reached }

// Release opens the gate for good. It is idempotent.
func (g *Gate) Release() { g.releaseOnce.Do(func() { close(g.release) }) }

func (g *Gate) wait(ctx context.Context) error {
	select {
	case <-g.release:
		return nil
	default:
	}
	g.reachedOnce.Do(func() { close(g.reached) })
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Mem is an in-memory destination.Destination: a real implementation with
// the same visibility rules as the others (uploads invisible until Commit,
// no replacement of an existing name), plus fault knobs. It is safe for
// concurrent use; mu guards everything in the mu struct.
type Mem struct {
	mu struct {
		sync.Mutex
		objects map[string]memObject
		partial map[string]memPartial // by temporary name
		faults  Faults
	}
}

// memPartial is an upload in flight.
type memPartial struct {
	size    int64
	modTime time.Time
}

type memObject struct {
	data    []byte
	modTime time.Time
}

var (
	_ destination.Destination = (*Mem)(nil)
	_ destination.Sweeper     = (*Mem)(nil)
)

// NewMem returns an empty Mem without faults.
func NewMem() *Mem {
	m := &Mem{}
	m.mu.objects = make(map[string]memObject)
	m.mu.partial = make(map[string]memPartial)
	return m
}

// SetFaults replaces the fault knobs for uploads created from now on.
func (m *Mem) SetFaults(f Faults) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.faults = f
}

// Names lists the committed objects, sorted.
func (m *Mem) Names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.mu.objects))
	for n := range m.mu.objects {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Partials lists the temporary names of uploads neither committed nor
// aborted, sorted. A test asserts it is empty after an abort.
func (m *Mem) Partials() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.mu.partial))
	for n := range m.mu.partial {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Create implements destination.Destination.
func (m *Mem) Create(ctx context.Context, name string) (destination.Upload, error) {
	if err := destination.CheckName(name); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.mu.objects[name]; ok {
		return nil, fmt.Errorf("create %s: %w", name, destination.ErrExists)
	}
	tmp := destination.TempName(name)
	m.mu.partial[tmp] = memPartial{modTime: time.Now()}
	return &memUpload{m: m, ctx: ctx, name: name, tmp: tmp, faults: m.mu.faults}, nil
}

// Open implements destination.Destination. The object reads a snapshot.
func (m *Mem) Open(ctx context.Context, name string) (destination.Object, error) {
	if err := destination.CheckName(name); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.mu.objects[name]
	if !ok {
		return nil, fmt.Errorf("open %s: %w", name, destination.ErrNotFound)
	}
	return &memReader{Reader: bytes.NewReader(o.data), size: int64(len(o.data))}, nil
}

// Stat implements destination.Destination.
func (m *Mem) Stat(ctx context.Context, name string) (destination.Info, error) {
	if err := destination.CheckName(name); err != nil {
		return destination.Info{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.mu.objects[name]
	if !ok {
		return destination.Info{}, fmt.Errorf("stat %s: %w", name, destination.ErrNotFound)
	}
	return destination.Info{Name: name, Size: int64(len(o.data)), ModTime: o.modTime}, nil
}

// Remove implements destination.Destination.
func (m *Mem) Remove(ctx context.Context, name string) error {
	if err := destination.CheckName(name); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.mu.objects[name]; !ok {
		return fmt.Errorf("remove %s: %w", name, destination.ErrNotFound)
	}
	delete(m.mu.objects, name)
	return nil
}

// Sweep implements destination.Sweeper: it forgets uploads in flight last
// written before cutoff; their Commit then fails.
func (m *Mem) Sweep(ctx context.Context, cutoff time.Time) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var removed []string
	for name, p := range m.mu.partial {
		if p.modTime.Before(cutoff) {
			delete(m.mu.partial, name)
			removed = append(removed, name)
		}
	}
	sort.Strings(removed)
	return removed, nil
}

type memReader struct {
	*bytes.Reader
	size int64
}

func (r *memReader) Size() int64  { return r.size }
func (r *memReader) Close() error { return nil }

// memUpload accumulates bytes privately; only Commit publishes them.
type memUpload struct {
	m      *Mem
	ctx    context.Context
	name   string
	tmp    string
	faults Faults
	buf    bytes.Buffer
	done   bool
	err    error
}

func (u *memUpload) Write(p []byte) (int, error) {
	if u.done {
		return 0, fmt.Errorf("write %s: %w", u.name, destination.ErrClosed)
	}
	if u.err != nil {
		return 0, u.err
	}
	if err := u.ctx.Err(); err != nil {
		u.err = fmt.Errorf("write %s: %w", u.name, err)
		return 0, u.err
	}
	if g := u.faults.Gate; g != nil && len(p) > 0 {
		if err := g.wait(u.ctx); err != nil {
			u.err = fmt.Errorf("write %s: %w", u.name, err)
			return 0, u.err
		}
	}
	n := len(p)
	if u.faults.FailWrites && int64(u.buf.Len()+len(p)) > u.faults.FailAfter && len(p) > 0 {
		n = int(u.faults.FailAfter - int64(u.buf.Len()))
		u.err = fmt.Errorf("write %s after %d bytes: %w", u.name, u.faults.FailAfter, ErrInjected)
	}
	u.buf.Write(p[:n])
	u.m.mu.Lock()
	if _, ok := u.m.mu.partial[u.tmp]; ok { // not swept
		u.m.mu.partial[u.tmp] = memPartial{size: int64(u.buf.Len()), modTime: time.Now()}
	}
	u.m.mu.Unlock()
	return n, u.err
}

func (u *memUpload) Commit() (destination.CommitInfo, error) {
	if u.done {
		return destination.CommitInfo{}, fmt.Errorf("commit %s: %w", u.name, destination.ErrClosed)
	}
	u.done = true
	u.m.mu.Lock()
	defer u.m.mu.Unlock()
	_, present := u.m.mu.partial[u.tmp]
	delete(u.m.mu.partial, u.tmp)
	switch {
	case !present:
		return destination.CommitInfo{}, fmt.Errorf("commit %s: temporary object %s was swept: %w", u.name, u.tmp, destination.ErrNotFound)
	case u.err != nil:
		return destination.CommitInfo{}, fmt.Errorf("commit %s after failed write: %w", u.name, u.err)
	case u.ctx.Err() != nil:
		return destination.CommitInfo{}, fmt.Errorf("commit %s: %w", u.name, u.ctx.Err())
	case u.faults.FailCommit:
		return destination.CommitInfo{}, fmt.Errorf("commit %s: %w", u.name, ErrInjected)
	}
	if _, ok := u.m.mu.objects[u.name]; ok {
		return destination.CommitInfo{}, fmt.Errorf("commit %s: %w", u.name, destination.ErrExists)
	}
	u.m.mu.objects[u.name] = memObject{data: u.buf.Bytes(), modTime: time.Now()}
	return destination.CommitInfo{Name: u.name, Size: int64(u.buf.Len()), Synced: true}, nil
}

func (u *memUpload) Abort() error {
	if u.done {
		return nil
	}
	u.done = true
	u.m.mu.Lock()
	delete(u.m.mu.partial, u.tmp)
	u.m.mu.Unlock()
	u.buf = bytes.Buffer{}
	return nil
}

var _ io.Writer = (*memUpload)(nil)
