package mqtt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/mqtt/topic"
	"github.com/mqsight/mqsight/internal/store"
)

// Options configure an Engine.
type Options struct {
	// Store keeps persistent sessions, their messages and retained
	// messages. Required.
	Store *store.Store
	// Logger receives connection and error logs; never a password.
	Logger *slog.Logger
	// Policy authenticates clients and authorises their actions; nil means
	// the configuration's users (anonymous allowed) and the endpoint's
	// TopicPolicy limits (ConfigPolicy).
	Policy Policy
	// Limits tune the protocol limits the server announces.
	Limits Limits
	// Now returns the current time (tests); nil means time.Now.
	Now func() time.Time
}

// Limits are the server-side protocol limits.
type Limits struct {
	// ReceiveMaximum is how many unacknowledged QoS>0 PUBLISH packets the
	// server accepts from one client (announced in v5 CONNACK).
	ReceiveMaximum uint16
	// TopicAliasMaximum is the highest topic alias a client may use.
	TopicAliasMaximum uint16
	// MaxKeepAlive caps the client keep alive (v5 Server Keep Alive); 0 =
	// no cap.
	MaxKeepAlive uint16
	// MaxPendingBytes bounds the bytes queued for one client before QoS 0
	// deliveries to it are dropped and QoS>0 delivery pauses.
	MaxPendingBytes int
	// MaxUncommittedBytes bounds one connection's publishes waiting for
	// their store commit (see backpressure.go): at or above it, its reader
	// stops reading until commits complete. A single publish of any size
	// still passes.
	MaxUncommittedBytes int
	// MaxUncommittedBytesTotal bounds the same over all connections: above
	// it, a connection with a publish waiting for its commit reads nothing
	// more until that commit completes.
	MaxUncommittedBytesTotal int
	// MaxOutboundAliases is how many topic aliases the server assigns per
	// connection when the client allows them.
	MaxOutboundAliases uint16
	// ConnectTimeout bounds the time from accepting a connection to its
	// CONNECT (TLS handshake, WebSocket upgrade and first packet included).
	ConnectTimeout time.Duration
	// NotificationInterval is how often disconnected client notifications
	// are published (see notify.go).
	NotificationInterval time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.ReceiveMaximum == 0 {
		l.ReceiveMaximum = 1024
	}
	if l.TopicAliasMaximum == 0 {
		l.TopicAliasMaximum = 64
	}
	if l.MaxPendingBytes == 0 {
		l.MaxPendingBytes = 4 << 20
	}
	if l.MaxUncommittedBytes == 0 {
		l.MaxUncommittedBytes = 4 << 20
	}
	if l.MaxUncommittedBytesTotal == 0 {
		l.MaxUncommittedBytesTotal = 64 << 20
	}
	if l.MaxOutboundAliases == 0 {
		l.MaxOutboundAliases = 64
	}
	if l.ConnectTimeout == 0 {
		l.ConnectTimeout = 10 * time.Second
	}
	if l.NotificationInterval == 0 {
		l.NotificationInterval = time.Minute
	}
	return l
}

// Engine is the MQTT engine. Create it with New, give it a configuration
// with Apply (which starts the endpoint listeners), stop it with Close.
type Engine struct {
	store  *store.Store
	log    *slog.Logger
	policy Policy
	limits Limits
	now    func() time.Time

	cfg atomic.Pointer[config.Config]

	// mu guards routing state (see the package documentation).
	mu struct {
		sync.Mutex
		sessions  map[string]*session
		groups    map[groupKey]*sharedGroup
		retained  retainedSet
		nextMsgID uint64
		matches   topic.Matches[*session, *subscription]
		closed    bool
		// sessions with disconnected client notifications to publish
		notifyPending map[*session]struct{}
	}
	// restoredMessages counts the messages from a store backup that
	// recovery loaded (see RestoredMessages); set in New, read-only after.
	restoredMessages int
	trie             *topic.Trie[*session, *subscription]

	completions *completionQueue
	// encodeBufs pools the buffers deliveries are encoded into before
	// being copied into a connection's outbound queue.
	encodeBufs sync.Pool
	stop       chan struct{} // closed by Close: background loops end
	// closing ends as Close begins: what a connection waits for (a
	// password-check slot) stops waiting, so Close does not wait for it.
	closing      context.Context
	closingBegun context.CancelFunc
	listeners    *listenerSet
	conns        connSet
	stats        Stats
	bg           sync.WaitGroup
}

// ErrClosed is returned by operations on a closed engine.
var ErrClosed = errors.New("mqtt engine closed")

// New builds an engine and recovers sessions, subscriptions, buffered
// messages and retained messages from the store.
func New(opts Options) (*Engine, error) {
	if opts.Store == nil {
		return nil, errors.New("mqtt: a store is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	e := &Engine{
		store:  opts.Store,
		log:    opts.Logger,
		limits: opts.Limits.withDefaults(),
		now:    opts.Now,
		trie:   topic.NewTrie[*session, *subscription](),
	}
	e.policy = opts.Policy
	if e.policy == nil {
		e.policy = ConfigPolicy{}
	}
	e.encodeBufs.New = func() any { return new(bytes.Buffer) }
	e.mu.sessions = make(map[string]*session)
	e.mu.groups = make(map[groupKey]*sharedGroup)
	e.mu.retained = newRetainedSet()
	e.mu.notifyPending = make(map[*session]struct{})
	e.mu.nextMsgID = 1
	e.conns.m = make(map[*conn]struct{})
	e.listeners = newListenerSet(e)
	e.completions = newCompletionQueue()
	if err := e.recover(); err != nil {
		return nil, fmt.Errorf("recover mqtt state from store: %w", err)
	}
	e.stop = make(chan struct{})
	e.closing, e.closingBegun = context.WithCancel(context.Background())
	e.bg.Add(2)
	go func() {
		defer e.bg.Done()
		e.completions.run()
	}()
	go func() {
		defer e.bg.Done()
		e.runNotifications(e.limits.NotificationInterval, e.stop)
	}()
	return e, nil
}

// RestoredMessages returns how many of the messages the engine loaded at
// start came from a store backup (ID at most the store's RestoredUpTo
// mark, or the record's FlagFromBackup) and are still buffered: each is
// sent with DUP=1 the first time.
func (e *Engine) RestoredMessages() int { return e.restoredMessages }

// Config returns the configuration in force.
func (e *Engine) Config() *config.Config { return e.cfg.Load() }

// Apply makes c the configuration in force: listeners of added, changed or
// removed endpoints start, restart or stop; policy values apply to new
// connections at once. It returns the errors of listeners that could not
// start (the others keep running).
func (e *Engine) Apply(c *config.Config) error {
	e.cfg.Store(c)
	e.mu.Lock()
	e.applyQueuesLocked(c)
	e.mu.Unlock()
	return e.listeners.apply(c)
}

// Close stops the listeners, closes every connection (wills of persistent
// sessions are kept for their next connection, as after a crash), and waits
// for pending store commits. The store itself is closed by its owner.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.mu.closed {
		e.mu.Unlock()
		return nil
	}
	e.mu.closed = true
	e.mu.Unlock()
	e.closingBegun()
	e.listeners.closeAll()
	e.conns.closeAll()
	e.conns.wait()
	e.mu.Lock()
	for _, s := range e.mu.sessions {
		if s.expiryTimer != nil {
			s.expiryTimer.Stop()
		}
		if s.willTimer != nil {
			s.willTimer.Stop()
		}
	}
	e.mu.Unlock()
	// A barrier commit: its callback runs after every earlier one.
	barrier := make(chan struct{})
	e.commit(e.store.NewBatch(), func(error) { close(barrier) })
	<-barrier
	close(e.stop)
	e.completions.close()
	e.bg.Wait()
	return nil
}

// commit queues b on the store. done runs on the engine's completion
// goroutine, in commit order, once b is durable (or failed). Callers may hold
// Engine.mu: queuing never blocks.
func (e *Engine) commit(b *store.Batch, done func(err error)) {
	start := e.now()
	e.store.CommitAsync(b, func(_ uint64, err error) {
		e.stats.observeCommit(e.now().Sub(start))
		e.completions.push(func() { done(err) })
	})
}

// commitThen is commit for callers that need done to run after their
// batch is durable: an empty batch costs no store write (no fsync) and done
// runs on the completion goroutine as soon as possible.
func (e *Engine) commitThen(b *store.Batch, done func(err error)) {
	if b.Count() == 0 {
		b.Discard()
		e.completions.push(func() { done(nil) })
		return
	}
	e.commit(b, done)
}

// completionQueue runs store commit callbacks on one goroutine, in order,
// so the store's commit loop never waits for Engine.mu.
type completionQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	q      []func()
	closed bool
}

func newCompletionQueue() *completionQueue {
	c := &completionQueue{}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *completionQueue) push(fn func()) {
	c.mu.Lock()
	c.q = append(c.q, fn)
	c.mu.Unlock()
	c.cond.Signal()
}

func (c *completionQueue) run() {
	var batch []func()
	for {
		c.mu.Lock()
		for len(c.q) == 0 && !c.closed {
			c.cond.Wait()
		}
		if len(c.q) == 0 && c.closed {
			c.mu.Unlock()
			return
		}
		batch, c.q = c.q, batch[:0]
		c.mu.Unlock()
		for i, fn := range batch {
			fn()
			batch[i] = nil
		}
	}
}

// close lets run return once the queue is empty.
func (c *completionQueue) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cond.Broadcast()
}
