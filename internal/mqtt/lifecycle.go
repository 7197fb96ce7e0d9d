package mqtt

import (
	"sort"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/store"
)

// detach ends c's hold on its session once the connection is gone.
func (c *conn) detach() {
	c.e.mu.Lock()
	c.e.detachLocked(c, c.normalClose)
	c.e.mu.Unlock()
}

// detachLocked separates c from its session. normal is true after a
// DISCONNECT with reason 0x00, which discards the will ([MQTT-3.1.2-10]).
func (e *Engine) detachLocked(c *conn, normal bool) {
	if c.closed {
		return
	}
	c.closed = true
	s := c.sess
	if s == nil {
		return
	}
	e.stats.ConnectionsActive.Add(-1)
	if s.conn != c {
		return
	}
	s.conn = nil
	s.resetUnsent() // still in flight: resendInflightLocked sorts them again
	s.disconnected = e.now()
	b := e.store.NewBatch()

	// In-flight QoS 1 entries of shared groups go back to their group for
	// other members; QoS 2 ones, like the session's own entries, wait for
	// its return ([MQTT-4.8.2-4]).
	for pid, ent := range s.inflight {
		if ent.buf != nil && ent.consumer == s && e.isGroupBuffer(ent.buf) && ent.qos < 2 {
			delete(s.inflight, pid)
			ent.buf.requeue(ent)
			e.kickGroupBufferLocked(ent.buf)
		}
	}

	// Engine.Close is not the client going away: as after a crash, no will.
	if s.will != nil && !normal && !e.mu.closed {
		e.scheduleWillLocked(s)
	} else {
		s.will = nil
	}

	switch {
	case s.expiry == 0:
		e.destroySessionLocked(s, b)
	default:
		if s.persistent {
			s.putState(b)
		}
		if s.expiry != maxExpiry {
			e.startExpiryLocked(s, time.Duration(s.expiry)*time.Second)
		}
	}
	if b.Count() > 0 {
		e.commit(b, e.logCommitError("session disconnect"))
	} else {
		b.Discard()
	}
}

// startExpiryLocked arms the timer that ends an offline session.
func (e *Engine) startExpiryLocked(s *session, d time.Duration) {
	s.expiryTimer = time.AfterFunc(d, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if s.conn != nil || s.destroyed || e.mu.closed {
			return
		}
		b := e.store.NewBatch()
		e.destroySessionLocked(s, b)
		e.commit(b, e.logCommitError("session expiry"))
	})
}

// destroySessionLocked ends session s: its subscriptions, buffered
// messages and stored state are deleted (in b).
func (e *Engine) destroySessionLocked(s *session, b *store.Batch) {
	if s.destroyed {
		return
	}
	if s.will != nil && s.conn == nil {
		// The session ends before the will delay elapsed ([MQTT-3.1.3-9]).
		e.publishWillLocked(s, true)
	}
	s.destroyed = true
	if s.expiryTimer != nil {
		s.expiryTimer.Stop()
		s.expiryTimer = nil
	}
	s.resetUnsent()
	for pid, ent := range s.inflight {
		switch {
		case e.isGroupBuffer(ent.buf) && ent.qos == 2:
			e.removeEntryLocked(ent, b) // never sent to another member ([MQTT-4.8.2-5])
		case e.isGroupBuffer(ent.buf):
			ent.buf.requeue(ent)
			e.kickGroupBufferLocked(ent.buf)
		case ent.buf.detached:
			e.removeEntryLocked(ent, b) // its subscription is gone already
		}
		delete(s.inflight, pid)
	}
	for _, sub := range s.subs {
		e.removeSubscriptionLocked(sub, b)
	}
	if s.persistent {
		b.Delete(store.ClientStateKey(s.clientID))
	}
	if e.mu.sessions[s.clientID] == s {
		delete(e.mu.sessions, s.clientID)
	}
}

// unpersistSessionLocked turns a persistent session into a memory-only one
// (a v5 client reconnected with Session Expiry Interval 0).
func (e *Engine) unpersistSessionLocked(s *session, b *store.Batch) {
	for _, sub := range s.subs {
		b.Delete(store.SubscriptionKey(s.clientID, sub.filter))
		if sub.group != nil {
			continue
		}
		sub.buf.durable = false
		sub.buf.each(func(ent *entry) bool {
			if ent.durable {
				e.dropRefLocked(ent, b)
			}
			return true
		})
	}
	for _, ent := range s.inflight {
		if ent.buf.detached && ent.durable {
			e.dropRefLocked(ent, b)
		}
	}
	b.Delete(store.ClientStateKey(s.clientID))
}

// resendInflightLocked resends, in their original order and with their
// packet identifiers, the messages and PUBRELs a reconnecting client had
// not acknowledged ([MQTT-4.4.0-1]), within its Receive Maximum; the rest
// wait in s.unsent, still in flight to this session, until acknowledgements
// open the window (pumpLocked). None goes back to a queue: a shared QoS 2
// delivery must stay with this member ([MQTT-4.8.2-4]), and any message
// sent again under a new identifier could be a second copy for a client
// that has the first.
func (e *Engine) resendInflightLocked(s *session) {
	s.resetUnsent()
	if len(s.inflight) == 0 {
		return
	}
	ents := make([]*entry, 0, len(s.inflight))
	for _, ent := range s.inflight {
		ents = append(ents, ent)
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].sendSeq < ents[j].sendSeq })
	budget := s.receiveMax
	for _, ent := range ents {
		switch {
		case ent.state == statePubrecd:
			budget--
			s.conn.acks.complete(s.conn.acks.reserve(packets.Pubrel, ent.pid), 0)
		case budget > 0:
			budget--
			e.resendLocked(s, ent)
		default:
			s.addUnsent(ent)
		}
	}
}

// resendLocked sends ent, in flight to s, again. A message now too large
// for the client is discarded as if sent, as deliverLocked does
// ([MQTT-3.1.2-25]); otherwise it would hold a window slot for good. It
// reports false when the connection is closing (ent stays in flight for
// the next connection).
func (e *Engine) resendLocked(s *session, ent *entry) bool {
	switch e.writePublishLocked(s, ent) {
	case connClosing:
		return false
	case notWritten:
		e.dropEntryLocked(ent, e.store.NewBatch())
	}
	return true
}

// sendUnsentLocked sends what s.unsent holds while the window allows,
// oldest first. It reports false when the window or the connection's
// output is full, so the caller sends nothing newer.
func (e *Engine) sendUnsentLocked(s *session) bool {
	for len(s.unsent) > 0 {
		ent := s.unsent[0]
		if !ent.unsent {
			s.unsent = s.unsent[1:] // acknowledged or removed meanwhile
			continue
		}
		if !s.windowOpen() || s.conn.out.full() {
			return false
		}
		s.unsent = s.unsent[1:]
		s.takeUnsent(ent)
		if !e.resendLocked(s, ent) {
			return false // still in flight: resent at the next connection
		}
	}
	s.unsent = nil
	return true
}

// logCommitError returns a commit callback that logs a failure.
func (e *Engine) logCommitError(what string) func(error) {
	return func(err error) {
		if err != nil {
			e.log.Error("store commit failed", "op", what, "err", err)
		}
	}
}

// handleDisconnect processes the client's DISCONNECT ([MQTT-3.14]).
func (c *conn) handleDisconnect(pk *packets.Packet) bool {
	if c.version == 5 && pk.Properties.SessionExpiryIntervalFlag {
		e := c.e
		e.mu.Lock()
		s := c.sess
		if s == nil || s.conn != c { // taken over: the session is another connection's
			e.mu.Unlock()
			return false
		}
		if s.expiry == 0 && pk.Properties.SessionExpiryInterval > 0 {
			e.mu.Unlock()
			c.disconnect(0x82) // [MQTT-3.14.2-2]
			return false
		}
		// The policy's cap applies here as at CONNECT.
		s.expiry = min(pk.Properties.SessionExpiryInterval, c.client.MaxSessionExpiry())
		e.mu.Unlock()
	}
	// 0x04 Disconnect with Will Message keeps the will ([MQTT-3.14.4-3]).
	c.normalClose = pk.ReasonCode != 0x04
	return false
}
