package mqtt

import (
	"sync/atomic"
	"time"
)

// Stats are the engine's counters, updated atomically on the hot path and
// read by monitoring (admin API, Prometheus).
type Stats struct {
	ConnectionsTotal  atomic.Uint64 // accepted CONNECTs
	ConnectionsActive atomic.Int64
	ConnectsRefused   atomic.Uint64
	MessagesIn        atomic.Uint64 // PUBLISH packets received
	MessagesOut       atomic.Uint64 // PUBLISH packets sent (redeliveries included)
	BytesIn           atomic.Uint64
	BytesOut          atomic.Uint64
	Dropped           atomic.Uint64 // messages discarded from buffers, all causes
	Rejected          atomic.Uint64 // publishes refused for a full buffer
	Commits           atomic.Uint64
	CommitNanos       atomic.Uint64 // total store commit latency seen by the engine
	CommitMaxNanos    atomic.Uint64
	// UncommittedBytes is what the publishes waiting for their store
	// commit cost now (backpressure.go); ReadersPaused counts the
	// connections whose reader waits for their commits now, ReadPauses
	// how often a reader started waiting.
	UncommittedBytes atomic.Int64
	ReadersPaused    atomic.Int64
	ReadPauses       atomic.Uint64
}

func (s *Stats) observeCommit(d time.Duration) {
	s.Commits.Add(1)
	n := uint64(d)
	s.CommitNanos.Add(n)
	for {
		cur := s.CommitMaxNanos.Load()
		if n <= cur || s.CommitMaxNanos.CompareAndSwap(cur, n) {
			return
		}
	}
}

// Counters is a snapshot of Stats.
type Counters struct {
	ConnectionsTotal  uint64
	ConnectionsActive int64
	ConnectsRefused   uint64
	MessagesIn        uint64
	MessagesOut       uint64
	BytesIn           uint64
	BytesOut          uint64
	Dropped           uint64
	Rejected          uint64
	Commits           uint64
	CommitAvg         time.Duration
	CommitMax         time.Duration
	UncommittedBytes  int64
	ReadersPaused     int64
	ReadPauses        uint64
	Sessions          int
	Subscriptions     int
	Retained          int
}

// Counters returns a snapshot of the engine's counters.
func (e *Engine) Counters() Counters {
	s := &e.stats
	c := Counters{
		ConnectionsTotal:  s.ConnectionsTotal.Load(),
		ConnectionsActive: s.ConnectionsActive.Load(),
		ConnectsRefused:   s.ConnectsRefused.Load(),
		MessagesIn:        s.MessagesIn.Load(),
		MessagesOut:       s.MessagesOut.Load(),
		BytesIn:           s.BytesIn.Load(),
		BytesOut:          s.BytesOut.Load(),
		Dropped:           s.Dropped.Load(),
		Rejected:          s.Rejected.Load(),
		Commits:           s.Commits.Load(),
		CommitMax:         time.Duration(s.CommitMaxNanos.Load()),
		UncommittedBytes:  s.UncommittedBytes.Load(),
		ReadersPaused:     s.ReadersPaused.Load(),
		ReadPauses:        s.ReadPauses.Load(),
	}
	if c.Commits > 0 {
		c.CommitAvg = time.Duration(s.CommitNanos.Load() / c.Commits)
	}
	e.mu.Lock()
	c.Sessions = len(e.mu.sessions)
	c.Retained = e.mu.retained.len()
	e.mu.Unlock()
	c.Subscriptions = e.trie.Len()
	return c
}

// SubscriptionStats describes one subscription's buffer for monitoring.
type SubscriptionStats struct {
	ClientID    string
	Filter      string
	ShareName   string
	Durable     bool
	Buffered    int    // messages waiting or in flight
	Inflight    int    // sent, not yet acknowledged
	Enqueued    uint64 // messages added since start
	Delivered   uint64
	Dropped     uint64 // discarded: DiscardOldMessages, expiry, oversize, slow consumer
	Rejected    uint64 // publishes refused because this buffer was full
	MaxMessages int
}

// Subscriptions returns the per-subscription counters.
func (e *Engine) Subscriptions() []SubscriptionStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []SubscriptionStats
	for _, s := range e.mu.sessions {
		for _, sub := range s.subs {
			b := sub.buf
			st := SubscriptionStats{
				ClientID: s.clientID, Filter: sub.filter, Durable: s.persistent,
				Buffered: b.live, Inflight: b.inflight, Enqueued: b.enqueued,
				Delivered: b.delivered, Dropped: b.dropped, Rejected: b.rejected,
				MaxMessages: b.limits.maxMessages,
			}
			if sub.group != nil {
				st.ShareName = sub.group.key.name
			}
			out = append(out, st)
		}
	}
	return out
}
