package mqtt

import "github.com/mqsight/mqsight/internal/store"

// entryState is where an entry is in its delivery.
type entryState uint8

const (
	stateQueued  entryState = iota // waiting to be sent
	stateSent                      // PUBLISH sent, waiting for PUBACK / PUBREC
	statePubrecd                   // QoS 2: PUBREC received, PUBREL sent, waiting for PUBCOMP
)

// entry is one message in one buffer. Guarded by Engine.mu.
type entry struct {
	buf   *buffer
	seq   uint64 // position in the buffer; the store ref key's sequence
	msg   *message
	qos   byte // QoS it is delivered with: min(published, granted)
	state entryState

	// ready is false while the store batch that makes the entry durable is
	// being committed; a buffer never delivers at or past an entry that is
	// not ready.
	ready bool
	// durable: a store reference exists (or is being committed).
	durable bool
	// dup: the entry was sent before, so the next send carries DUP=1.
	dup bool
	// retainFlag: deliver with RETAIN=1 (a retained message sent because of
	// a new subscription, or retain-as-published).
	retainFlag bool
	removed    bool

	pid      uint16   // packet identifier while sent or pubrecd
	consumer *session // session the entry is in flight to (sent, pubrecd)
	sendSeq  uint64   // order of first send within the consumer session
	// unsent: in the consumer's unsent list, not yet resent on its
	// current connection (session.unsent).
	unsent bool
}

// buffer is an ordered list of entries: one per subscription, or one per
// shared-subscription group. Guarded by Engine.mu.
//
// Invariant: entries[head:] holds every live entry in seq order (removed
// entries may remain until compaction); live counts the entries that are
// not removed; inflight counts those in stateSent or statePubrecd.
type buffer struct {
	owner    string       // store reference owner key
	durable  bool         // new QoS>0 entries of an ordinary subscription are durable
	group    *sharedGroup // the shared group owning this buffer, if any
	queue    string       // for a queue's buffer: the queue name (store.QueueEntryKey)
	entries  []*entry
	head     int
	scan     int // entries[head:scan] hold no queued entry (a search hint)
	nextSeq  uint64
	live     int
	inflight int

	limits bufferLimits

	// detached: the ordinary subscription owning this buffer was removed;
	// it holds only deliveries still in flight to the session, which stay
	// durable under the owner's references until completed.
	detached bool

	// counters for monitoring (Engine.mu)
	enqueued  uint64
	delivered uint64 // acknowledged (or sent, for QoS 0)
	dropped   uint64 // discarded by DiscardOldMessages, expiry or limits
	rejected  uint64 // publishes refused because the buffer was full
}

// bufferLimits bound a buffer (from the matching TopicPolicy or
// SubscriptionPolicy).
type bufferLimits struct {
	maxMessages int
	discardOld  bool // DiscardOldMessages; false = RejectNewMessages
}

// defaultLimits are MessageSight's defaults.
var defaultLimits = bufferLimits{maxMessages: 5000}

func newBuffer(owner string, durable bool, limits bufferLimits) *buffer {
	return &buffer{owner: owner, durable: durable, limits: limits, nextSeq: 1}
}

// refKey is the store key of the reference of entry seq.
func (b *buffer) refKey(seq uint64) []byte {
	if b.queue != "" {
		return store.QueueEntryKey(b.queue, seq)
	}
	return store.RefKey(b.owner, seq)
}

// full reports whether adding one more entry would exceed MaxMessages.
func (b *buffer) full() bool { return b.live >= b.limits.maxMessages }

// push appends a new entry. The caller has checked the limits.
func (b *buffer) push(m *message, qos byte) *entry {
	e := &entry{buf: b, seq: b.nextSeq, msg: m, qos: qos, ready: true}
	b.nextSeq++
	b.entries = append(b.entries, e)
	b.live++
	b.enqueued++
	return e
}

// appendRecovered appends an entry read back from the store, which must
// come in seq order.
func (b *buffer) appendRecovered(e *entry) {
	e.buf = b
	b.entries = append(b.entries, e)
	b.live++
	if e.seq >= b.nextSeq {
		b.nextSeq = e.seq + 1
	}
	if e.state != stateQueued {
		b.inflight++
	}
}

// remove marks e removed and compacts the head. It does not touch the store.
func (b *buffer) remove(e *entry) {
	if e.removed {
		return
	}
	if e.state != stateQueued {
		b.inflight--
	}
	e.removed = true
	e.consumer = nil
	b.live--
	b.compact()
}

func (b *buffer) compact() {
	for b.head < len(b.entries) && b.entries[b.head].removed {
		b.entries[b.head] = nil
		b.head++
	}
	if b.head == len(b.entries) {
		b.entries, b.head, b.scan = b.entries[:0], 0, 0
		return
	}
	// Reclaim space once the dead prefix dominates.
	if b.head > 1024 && b.head*2 > len(b.entries) {
		n := copy(b.entries, b.entries[b.head:])
		clear(b.entries[n:])
		b.entries, b.head, b.scan = b.entries[:n], 0, 0
	}
	// Removals from the middle leave holes; rebuild when they dominate.
	if len(b.entries)-b.head > 64 && b.live*4 < len(b.entries)-b.head {
		kept := b.entries[:0]
		for _, e := range b.entries[b.head:] {
			if !e.removed {
				kept = append(kept, e)
			}
		}
		clear(b.entries[len(kept):])
		b.entries, b.head, b.scan = kept, 0, 0
	}
}

// each calls fn for live entries in order until fn returns false.
func (b *buffer) each(fn func(*entry) bool) {
	for _, e := range b.entries[b.head:] {
		if e.removed {
			continue
		}
		if !fn(e) {
			return
		}
	}
}

// nextQueued returns the first queued entry, or nil. It returns nil if a
// queued entry that is not yet ready comes first: delivery never overtakes
// an entry still being committed.
func (b *buffer) nextQueued() *entry {
	i := max(b.scan, b.head)
	for ; i < len(b.entries); i++ {
		e := b.entries[i]
		if e.removed || e.state != stateQueued {
			continue
		}
		b.scan = i
		if e.ready {
			return e
		}
		return nil
	}
	b.scan = i
	return nil
}

// requeue puts an in-flight entry back to queued (its consumer went away);
// it will be sent again with DUP=1.
func (b *buffer) requeue(e *entry) {
	if e.state != stateQueued {
		b.inflight--
	}
	e.state, e.pid, e.consumer = stateQueued, 0, nil
	e.dup = true
	b.scan = b.head
}

// oldestQueued returns up to n of the oldest queued entries (for
// DiscardOldMessages), skipping entries in flight.
func (b *buffer) oldestQueued(n int) []*entry {
	var out []*entry
	b.each(func(e *entry) bool {
		if e.state == stateQueued && e.ready {
			out = append(out, e)
		}
		return len(out) < n
	})
	return out
}

// liveEntries returns a copy of the live entries in order, for callers
// that remove entries while walking.
func (b *buffer) liveEntries() []*entry {
	out := make([]*entry, 0, b.live)
	b.each(func(e *entry) bool {
		out = append(out, e)
		return true
	})
	return out
}
