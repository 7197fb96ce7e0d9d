package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// errBatchSpent is returned by Commit for a batch already committed or
// discarded.
var errBatchSpent = errors.New("store: batch already committed or discarded")

// CommitEvent is one entry of the commit stream (see Store.SetCommitHook):
// a committed batch, or a Clean.
type CommitEvent struct {
	// LSN is the batch's LSN. For a Clean it is the LSN of the last batch
	// before it: the empty store continues from there, and the next batch
	// gets LSN+1.
	LSN uint64
	// UID is the store's UID at this point; (UID, LSN) names one state of
	// the store. A Clean changes it.
	UID string
	// Repr is the Pebble batch representation of the logical batch,
	// including the store's meta LSN record; nil for a Clean. It is valid
	// only during the call and must not be modified; copy it to keep it.
	Repr []byte
	// Clean reports that Clean emptied the store: a consumer discards
	// everything it applied so far; the batches that follow apply to an
	// empty database.
	Clean bool
}

// CommitHook observes the commit stream; see Store.SetCommitHook.
type CommitHook func(CommitEvent)

// SetCommitHook installs fn (nil removes it). From the next group on, fn is
// called once per committed logical batch and once per Clean:
//
//   - in queue order: batches in strictly increasing, gap-free LSN order (a
//     batch that failed never reaches fn and consumes no LSN), a Clean
//     between the batches queued before it and those queued after it (a
//     Clean that failed is not reported);
//   - after the batch is durable (its group's fsync has returned) and visible
//     to reads, or the Clean is complete, and before that batch's Commit
//     returns, its CommitAsync callback runs or Clean returns;
//   - on the single commit goroutine, so fn delays every commit behind it and
//     must not call Commit, Clean or Close (that would deadlock); it may call
//     Get, Scan, LastLSN and Checkpoint.
//
// Applying the batch events' Repr in order to an empty Pebble database
// (Batch.SetRepr + Commit), and emptying it at each Clean event, reproduces
// the store's contents, apart from the format and UID meta records that Open
// and Clean write, and the LSN record between a Clean and the next batch.
// HA replication and continuous backup are built on this stream.
//
// The stream covers one open Store. A Clean that fails after it renamed
// the old store away is not reported, and the next Open finishes it; a
// restore replaces the store while it is closed. A consumer therefore
// compares the UID and LSN it holds with the store's after every Open.
func (s *Store) SetCommitHook(fn CommitHook) {
	if fn == nil {
		s.hook.Store(nil)
		return
	}
	s.hook.Store(&fn)
}

// Commit applies b atomically and durably and returns the LSN it was given.
// It blocks until b is durable (then the commit hook has seen it) or has
// failed. Concurrent commits share one fsync (see the package doc). b is
// spent afterwards, whatever the outcome.
//
// Errors: ErrClosed after Close; ErrReservedKey for a batch touching
// reserved keys; ErrDiskFull when its group would leave less than half the
// free space the store keeps (Options.MinFreeBytes); ErrFailed after a Pebble
// write failure; whatever the BeforeSync option returned. A failed batch
// is not applied.
func (s *Store) Commit(b *Batch) (uint64, error) {
	start := time.Now()
	if b.spent {
		return 0, errBatchSpent
	}
	b.spent = true
	defer b.release()
	if b.err != nil {
		return 0, fmt.Errorf("store commit: %w", b.err)
	}
	req := &commitRequest{batch: b, done: make(chan struct{})}
	if err := s.queue.push(req); err != nil {
		return 0, err
	}
	<-req.done
	if req.err != nil {
		s.stats.failed.Add(1)
		return 0, req.err
	}
	s.stats.observeLatency(time.Since(start))
	return req.lsn, nil
}

// CommitAsync queues b like Commit but does not wait: done is called once b
// is durable (after the commit hook saw it) or has failed, on the store's
// commit goroutine, in LSN order. Batches queued by one goroutine, or under
// one caller's lock, get LSNs in the order of the CommitAsync calls; queuing
// never blocks. done must be quick and must not call into the store's
// commit path (Commit, CommitAsync's wait, Clean, Close): hand work to
// another goroutine.
func (s *Store) CommitAsync(b *Batch, done func(lsn uint64, err error)) {
	start := time.Now()
	fail := func(err error) {
		s.stats.failed.Add(1)
		done(0, err)
	}
	if b.spent {
		fail(errBatchSpent)
		return
	}
	b.spent = true
	if b.err != nil {
		b.release()
		fail(fmt.Errorf("store commit: %w", b.err))
		return
	}
	req := &commitRequest{batch: b}
	req.cb = func(lsn uint64, err error) {
		b.release()
		if err != nil {
			s.stats.failed.Add(1)
		} else {
			s.stats.observeLatency(time.Since(start))
		}
		done(lsn, err)
	}
	if err := s.queue.push(req); err != nil {
		b.release()
		fail(err)
	}
}

// commitRequest is one queued Commit (batch != nil) or Clean (batch == nil).
// The commit goroutine fills lsn and err, then closes done.
type commitRequest struct {
	batch *Batch
	lsn   uint64
	err   error
	done  chan struct{}               // closed on completion (Commit, Clean)
	cb    func(lsn uint64, err error) // called on completion (CommitAsync)
}

// complete releases the request's waiter.
func (r *commitRequest) complete() {
	if r.cb != nil {
		r.cb(r.lsn, r.err)
		return
	}
	close(r.done)
}

// commitQueue hands requests from callers to the commit goroutine.
type commitQueue struct {
	wake chan struct{} // capacity 1: "pending may be non-empty"

	mu struct {
		sync.Mutex
		pending []*commitRequest
		closed  bool
	}
}

func (q *commitQueue) init() { q.wake = make(chan struct{}, 1) }

// push queues r, or returns ErrClosed once the queue is closed.
func (q *commitQueue) push(r *commitRequest) error {
	q.mu.Lock()
	if q.mu.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	q.mu.pending = append(q.mu.pending, r)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

// take blocks until requests are pending and returns all of them in queue
// order, or returns nil once the queue is closed and drained.
func (q *commitQueue) take() []*commitRequest {
	for {
		q.mu.Lock()
		if len(q.mu.pending) > 0 {
			reqs := q.mu.pending
			q.mu.pending = nil
			q.mu.Unlock()
			return reqs
		}
		closed := q.mu.closed
		q.mu.Unlock()
		if closed {
			return nil
		}
		<-q.wake
	}
}

// close refuses further pushes; requests already queued are still taken.
func (q *commitQueue) close() {
	q.mu.Lock()
	q.mu.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// commitLoop is the commit goroutine: it drains the queue into groups (one
// Pebble batch and one fsync each) and runs Clean requests in queue order,
// so a Clean sits between the batches queued before it and those after it.
//
// failed is owned by this goroutine: once a Pebble write fails, every later
// batch fails with it until a Clean succeeds.
func (s *Store) commitLoop() {
	defer close(s.loopDone)
	var failed error
	for {
		reqs := s.queue.take()
		if reqs == nil {
			return
		}
		for len(reqs) > 0 {
			if reqs[0].batch == nil {
				reqs[0].err = s.clean()
				if reqs[0].err == nil {
					failed = nil
					if hook := s.hook.Load(); hook != nil {
						(*hook)(CommitEvent{LSN: s.lastLSN.Load(), UID: s.UID(), Clean: true})
					}
				}
				reqs[0].complete()
				reqs = reqs[1:]
				continue
			}
			n, size := 0, 0
			for n < len(reqs) && reqs[n].batch != nil && (n == 0 || size+reqs[n].batch.Len() <= s.opts.MaxGroupBytes) {
				size += reqs[n].batch.Len()
				n++
			}
			if failed == nil {
				failed = s.commitGroup(reqs[:n], size)
			} else {
				finish(reqs[:n], failed)
			}
			reqs = reqs[n:]
		}
	}
}

// finish fails every request of a group with err.
func finish(group []*commitRequest, err error) {
	for _, r := range group {
		r.lsn, r.err = 0, err
		r.complete()
	}
}

// commitGroup gives each batch of group the next LSN, writes them as one
// synced Pebble batch, reports them to the hook and releases their callers.
// It returns a non-nil error (wrapping ErrFailed) if Pebble failed, after
// which the store must not write again.
func (s *Store) commitGroup(group []*commitRequest, size int) error {
	if !s.space.admits(size) {
		finish(group, fmt.Errorf("store commit: %w", s.space.diskFullError()))
		return nil
	}
	if s.opts.BeforeSync != nil {
		if err := s.opts.BeforeSync(); err != nil {
			finish(group, fmt.Errorf("store commit: before sync: %w", err))
			return nil
		}
	}
	// The commit goroutine reads mu.db without the lock (see Store).
	if s.mu.db == nil { // a failed Clean left no database
		err := fmt.Errorf("%w: no database", ErrFailed)
		finish(group, err)
		return err
	}
	g := s.mu.db.NewBatchWithSize(size + 32*len(group))
	lsn := s.lastLSN.Load()
	var lsnBuf [8]byte
	for _, r := range group {
		lsn++
		r.lsn = lsn
		binary.BigEndian.PutUint64(lsnBuf[:], lsn)
		_ = r.batch.pb.Set([]byte(metaLSNKey), lsnBuf[:], nil)
		if err := g.Apply(r.batch.pb, nil); err != nil {
			_ = g.Close()
			err = fmt.Errorf("%w: build group: %w", ErrFailed, err)
			finish(group, err)
			return err
		}
	}
	err := g.Commit(pebble.Sync)
	_ = g.Close()
	if err != nil {
		err = fmt.Errorf("%w: commit: %w", ErrFailed, err)
		s.opts.Logger.Error("store commit failed; refusing further commits", "err", err)
		finish(group, err)
		return err
	}
	s.lastLSN.Store(lsn)
	s.space.check(size)
	s.stats.observeGroup(len(group))
	if hook := s.hook.Load(); hook != nil {
		uid := s.UID()
		for _, r := range group {
			(*hook)(CommitEvent{LSN: r.lsn, UID: uid, Repr: r.batch.pb.Repr()})
		}
	}
	for _, r := range group {
		r.complete()
	}
	return nil
}
