package job

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"sync"
	"time"
)

// State is where a job is in its life. The order is fixed:
// Queued → Running → one of Succeeded, Failed, Cancelled.
type State string

// The states of a job.
const (
	Queued    State = "queued"
	Running   State = "running"
	Succeeded State = "succeeded"
	Failed    State = "failed"
	Cancelled State = "cancelled"
)

// Done reports whether s is a final state.
func (s State) Done() bool { return s == Succeeded || s == Failed || s == Cancelled }

// Func is the work of one job. It must return soon after ctx is done
// (Cancel, Registry.Close); the job is then Cancelled whatever it returns.
// The result map is reported as the job's Result when it succeeds; it must
// not hold secrets and the Func must not change it after returning.
type Func func(ctx context.Context, p *Progress) (result map[string]any, err error)

// Progress is how a running Func reports what it is doing. Its methods are
// safe for concurrent use and cheap enough to call per chunk of bytes.
type Progress struct {
	mu         sync.Mutex
	step       string
	bytesDone  int64
	bytesTotal int64
}

// SetStep names the current step ("checkpoint", "upload", ...).
func (p *Progress) SetStep(step string) {
	p.mu.Lock()
	p.step = step
	p.mu.Unlock()
}

// SetTotal sets the number of bytes the job expects to process (0: unknown).
func (p *Progress) SetTotal(total int64) {
	p.mu.Lock()
	p.bytesTotal = total
	p.mu.Unlock()
}

// Add counts n more bytes done.
func (p *Progress) Add(n int64) {
	p.mu.Lock()
	p.bytesDone += n
	p.mu.Unlock()
}

func (p *Progress) snapshot() (step string, done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.step, p.bytesDone, p.bytesTotal
}

// Status is a snapshot of one job. Times are zero until they happen.
type Status struct {
	RequestID  string
	Op         string
	State      State
	Step       string
	BytesDone  int64
	BytesTotal int64
	Created    time.Time
	Started    time.Time
	Finished   time.Time
	Result     map[string]any // set when Succeeded
	Error      string         // set when Failed or Cancelled
}

// job is one registered job. Its fields after progress are guarded by
// Registry.mu; progress has its own lock.
type job struct {
	id       string
	op       string
	group    string // exclusion group; "" for none
	progress Progress
	cancel   context.CancelFunc
	done     chan struct{} // closed when the job reaches a final state

	state    State
	created  time.Time
	started  time.Time
	finished time.Time
	result   map[string]any
	err      string
}

// statusLocked snapshots j; the caller holds Registry.mu.
func (j *job) statusLocked() Status {
	step, done, total := j.progress.snapshot()
	return Status{
		RequestID: j.id, Op: j.op, State: j.state,
		Step: step, BytesDone: done, BytesTotal: total,
		Created: j.created, Started: j.started, Finished: j.finished,
		Result: j.result, Error: j.err,
	}
}

// newRequestID returns 128 random bits, base64url without padding (22
// characters, safe in a URL path segment).
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
