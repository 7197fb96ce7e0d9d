package job

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Errors the admin API branches on.
var (
	// ErrBusy: a job of the same exclusion group is queued or running.
	ErrBusy = errors.New("another operation of this kind is in progress")
	// ErrNotFound: no job has this RequestID (or it was forgotten).
	ErrNotFound = errors.New("no such job")
	// ErrFinished: the job already reached a final state.
	ErrFinished = errors.New("job already finished")
	// ErrClosed: the registry is closed and starts nothing.
	ErrClosed = errors.New("job registry closed")
)

// Options configure a Registry. The zero value is usable.
type Options struct {
	// History is how many finished jobs are kept for polling (default 64).
	History int
	// Exclusive maps an op to its exclusion group: two ops with the same
	// group never run at the same time. Ops not listed run freely.
	Exclusive map[string]string
	// Now returns the current time (tests); nil means time.Now.
	Now func() time.Time
	// Finished, if set, is called with the final status of every job as
	// it ends, on the job's goroutine with no lock held, before anyone can
	// see that status (Get and Wait still report it running); hooks of
	// different jobs may run at the same time. The server logs it, so that
	// a failed job is on record after it has left the history.
	Finished func(Status)
}

// Registry runs jobs and remembers them. All methods are safe for
// concurrent use.
//
// Locking: mu guards the job map, the finished list, the busy groups and
// every job's state fields; a job's Progress has its own lock, so a Func
// never takes mu.
type Registry struct {
	opts Options
	ctx  context.Context // parent of every job's context; cancelled by Close
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu struct {
		sync.Mutex
		jobs     map[string]*job
		finished []string          // RequestIDs of finished jobs, oldest first
		busy     map[string]string // exclusion group → RequestID holding it
		closed   bool
	}
}

// NewRegistry returns an empty registry.
func NewRegistry(opts Options) *Registry {
	if opts.History <= 0 {
		opts.History = 64
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Registry{opts: opts}
	r.ctx, r.stop = context.WithCancel(context.Background())
	r.mu.jobs = make(map[string]*job)
	r.mu.busy = make(map[string]string)
	return r
}

// Start registers a job for op and runs fn on a new goroutine. It returns
// the job's first status (Queued). If op's exclusion group is held by a job
// that has not finished, Start refuses with an error wrapping ErrBusy that
// names that job's op and RequestID.
func (r *Registry) Start(op string, fn Func) (Status, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.closed {
		return Status{}, ErrClosed
	}
	group := r.opts.Exclusive[op]
	if group != "" {
		if id, ok := r.mu.busy[group]; ok {
			other := r.mu.jobs[id]
			return Status{}, fmt.Errorf("%s %s: %w", other.op, other.id, ErrBusy)
		}
	}
	ctx, cancel := context.WithCancel(r.ctx)
	j := &job{
		id: newRequestID(), op: op, group: group, cancel: cancel,
		done: make(chan struct{}), state: Queued, created: r.opts.Now(),
	}
	r.mu.jobs[j.id] = j
	if group != "" {
		r.mu.busy[group] = j.id
	}
	r.wg.Add(1)
	go r.run(ctx, j, fn)
	return j.statusLocked(), nil
}

// run executes one job and records its outcome.
func (r *Registry) run(ctx context.Context, j *job, fn Func) {
	defer r.wg.Done()
	r.mu.Lock()
	if ctx.Err() == nil {
		j.state, j.started = Running, r.opts.Now()
	}
	r.mu.Unlock()

	var (
		result map[string]any
		err    error
		ran    bool
	)
	if ctx.Err() == nil {
		result, err = safeCall(ctx, fn, &j.progress)
		ran = true
	}

	// The outcome, decided once, reported to the Finished hook with no
	// lock held (it may block on I/O), then published. A Func that
	// succeeded succeeded, even if a cancel (a shutdown) came as it
	// finished: a restore applied then is applied.
	state, errText := Succeeded, ""
	switch {
	case ran && err == nil:
	case ctx.Err() != nil:
		state, errText, result = Cancelled, "cancelled", nil
		if err != nil && !errors.Is(err, context.Canceled) {
			errText = "cancelled: " + err.Error()
		}
	default:
		state, errText, result = Failed, err.Error(), nil
	}
	r.mu.Lock()
	final := j.statusLocked()
	r.mu.Unlock()
	final.State, final.Error, final.Result, final.Finished = state, errText, result, r.opts.Now()
	if r.opts.Finished != nil {
		r.opts.Finished(final)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	j.state, j.err, j.result, j.finished = state, errText, result, final.Finished
	j.cancel()
	if j.group != "" && r.mu.busy[j.group] == j.id {
		delete(r.mu.busy, j.group)
	}
	r.mu.finished = append(r.mu.finished, j.id)
	for len(r.mu.finished) > r.opts.History {
		delete(r.mu.jobs, r.mu.finished[0])
		r.mu.finished = r.mu.finished[1:]
	}
	close(j.done)
}

// safeCall runs fn, turning a panic into an error so that one bad job
// cannot take the server down or leave its group busy forever.
func safeCall(ctx context.Context, fn Func, p *Progress) (result map[string]any, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("job panicked: %v", v)
		}
	}()
	return fn(ctx, p)
}

// Get returns the status of the job with this RequestID.
func (r *Registry) Get(id string) (Status, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	j, ok := r.mu.jobs[id]
	if !ok {
		return Status{}, ErrNotFound
	}
	return j.statusLocked(), nil
}

// List returns every remembered job, oldest first.
func (r *Registry) List() []Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Status, 0, len(r.mu.jobs))
	for _, j := range r.mu.jobs {
		out = append(out, j.statusLocked())
	}
	sort.Slice(out, func(a, b int) bool {
		if !out[a].Created.Equal(out[b].Created) {
			return out[a].Created.Before(out[b].Created)
		}
		return out[a].RequestID < out[b].RequestID
	})
	return out
}

// Cancel cancels the job's context. The job becomes Cancelled when its
// Func returns (Wait for it). Cancelling a finished job is ErrFinished.
func (r *Registry) Cancel(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	j, ok := r.mu.jobs[id]
	if !ok {
		return ErrNotFound
	}
	if j.state.Done() {
		return ErrFinished
	}
	j.cancel()
	return nil
}

// Wait blocks until the job finishes or ctx is done and returns its status.
func (r *Registry) Wait(ctx context.Context, id string) (Status, error) {
	r.mu.Lock()
	j, ok := r.mu.jobs[id]
	r.mu.Unlock()
	if !ok {
		return Status{}, ErrNotFound
	}
	select {
	case <-j.done:
	case <-ctx.Done():
		return Status{}, ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return j.statusLocked(), nil
}

// Close cancels every unfinished job, waits for their Funcs to return and
// refuses new jobs. Finished jobs stay readable.
func (r *Registry) Close() {
	r.mu.Lock()
	r.mu.closed = true
	r.mu.Unlock()
	r.stop()
	r.wg.Wait()
}
