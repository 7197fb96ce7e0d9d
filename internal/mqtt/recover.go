package mqtt

import (
	"fmt"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/topic"
	"github.com/mqsight/mqsight/internal/store"
)

// recover rebuilds the engine's state from the store: persistent sessions
// (offline), their subscriptions and buffered messages in order, shared
// groups, retained messages. Records that refer to something missing are
// deleted and logged. Sessions whose expiry passed while the server was
// down are ended.
func (e *Engine) recover() error {
	st := e.store
	now := e.now()
	cleanup := st.NewBatch()
	msgs := make(map[uint64]*message)
	var maxID uint64
	// Messages up to restored came from a restored backup: their first
	// delivery carries DUP=1, as if their records had FlagFromBackup; new
	// messages get IDs above it.
	restored, err := st.RestoredUpTo()
	if err != nil {
		return err
	}

	err = st.Scan(store.KindPrefix(store.KindMessage), func(k, v []byte) error {
		rec, err := store.DecodeMessage(v)
		if err != nil {
			return fmt.Errorf("message record: %w", err)
		}
		m, err := messageFromRecord(&rec)
		if err != nil {
			return err
		}
		if m.id <= restored {
			m.fromBackup = true
		}
		msgs[m.id] = m
		maxID = max(maxID, m.id)
		return nil
	})
	if err != nil {
		return err
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	err = st.Scan(store.KindPrefix(store.KindClientState), func(k, v []byte) error {
		cs, err := store.DecodeClientState(v)
		if err != nil {
			return fmt.Errorf("client state record: %w", err)
		}
		s := newSession(cs.ClientID)
		s.persistent = true
		s.version = cs.ProtocolVersion
		s.expiry = cs.SessionExpiry
		s.receiveMax = 65535
		s.owner, s.ownerKnown = cs.Owner, cs.OwnerKnown
		for _, id := range cs.InboundQoS2 {
			s.inQoS2[id] = struct{}{}
		}
		if cs.Disconnected != 0 {
			s.disconnected = time.Unix(0, cs.Disconnected)
			if len(cs.Will) > 0 {
				w, err := decodeWill(cs.Will, cs.ClientID)
				if err != nil {
					return err
				}
				s.will = w
			}
		} else {
			s.disconnected = now // it was connected when the server stopped
		}
		e.mu.sessions[s.clientID] = s
		return nil
	})
	if err != nil {
		return err
	}

	buffers := make(map[string]*buffer)      // store owner → buffer
	owners := make(map[string]*subscription) // store owner → ordinary subscription
	err = st.Scan(store.KindPrefix(store.KindSubscription), func(k, v []byte) error {
		rec, err := store.DecodeSubscription(v)
		if err != nil {
			return fmt.Errorf("subscription record: %w", err)
		}
		s := e.mu.sessions[rec.ClientID]
		if qn, ok := queueName(rec.Filter); ok && s != nil {
			e.joinQueueLocked(s, packets.Subscription{Filter: rec.Filter, Qos: rec.QoS,
				Identifier: int(rec.SubscriptionID)}, e.ensureQueueLocked(qn), nil)
			return nil
		}
		parsed, perr := topic.ParseSubscription(rec.Filter)
		if s == nil || perr != nil {
			e.log.Warn("deleting orphaned subscription record", "clientID", rec.ClientID, "filter", rec.Filter)
			cleanup.Delete(k)
			return nil
		}
		f := packets.Subscription{
			Filter: rec.Filter, Qos: rec.QoS, NoLocal: rec.NoLocal, RetainAsPublished: rec.RetainAsPublished,
			RetainHandling: rec.RetainHandling, Identifier: int(rec.SubscriptionID),
		}
		limits := bufferLimits{maxMessages: int(rec.MaxMessages), discardOld: rec.Behavior&behaviorDiscardOld != 0}
		if limits.maxMessages == 0 {
			limits = defaultLimits
		}
		sub, _ := e.subscribeLocked(s, f, parsed, limits, rec.Behavior&behaviorNotify != 0, nil)
		buffers[sub.buf.owner] = sub.buf
		if sub.group == nil {
			owners[sub.buf.owner] = sub
		}
		return nil
	})
	if err != nil {
		return err
	}

	detached := make(map[string]*buffer) // store owner → buffer of a removed subscription
	err = st.Scan(store.KindPrefix(store.KindReference), func(k, v []byte) error {
		owner, seq, err := store.ParseRefKey(k)
		if err != nil {
			return fmt.Errorf("reference key: %w", err)
		}
		ref, err := store.DecodeReference(v)
		if err != nil {
			return fmt.Errorf("reference record: %w", err)
		}
		buf, m := buffers[owner], msgs[ref.MessageID]
		if buf == nil && m != nil && ref.State != store.RefQueued {
			if e.recoverDetachedLocked(owner, seq, ref, m, detached) {
				return nil
			}
		}
		if buf == nil || m == nil {
			e.log.Warn("deleting orphaned message reference", "message", ref.MessageID, "bufferFound", buf != nil)
			cleanup.Delete(k)
			return nil
		}
		consumer, ok := e.consumerOf(ref)
		if !ok {
			e.log.Info("dropping a shared QoS 2 delivery whose member's session ended", "clientID", ref.Consumer, "message", ref.MessageID)
			cleanup.Delete(k)
			return nil
		}
		m.refs++
		ent := &entry{seq: seq, msg: m, ready: true, durable: true, pid: ref.PacketID}
		ent.state = entryState(ref.State)
		// Sent before, or restored from a store backup (it may have been
		// delivered since the backup): the next send carries DUP=1.
		ent.dup = ent.state != stateQueued || m.fromBackup
		if g := buf.group; g != nil {
			if consumer != nil {
				ent.qos = 2
				if consumer.adoptInflight(ent) { // it stays with its member ([MQTT-4.8.2-4])
					buf.appendRecovered(ent)
					return nil
				}
				e.log.Warn("shared QoS 2 delivery without a usable packet identifier returns to its group",
					"clientID", ref.Consumer, "message", ref.MessageID, "packetID", ent.pid)
			}
			ent.qos = min(m.qos, maxSubQoS(g.members))
			ent.state, ent.pid = stateQueued, 0 // other in-flight shared entries return to the group
			buf.appendRecovered(ent)
			return nil
		}
		sub := owners[owner]
		ent.qos = min(m.qos, sub.opts.Qos)
		if ent.state != stateQueued && ref.QoS != 0 {
			// In flight: resent with the QoS it went out with, which a
			// subscription replaced since may no longer grant.
			ent.qos = ref.QoS
		}
		ent.retainFlag = sub.opts.RetainAsPublished && m.retain
		buf.appendRecovered(ent)
		if ent.state != stateQueued && !sub.sess.adoptInflight(ent) {
			buf.requeue(ent)
		}
		return nil
	})
	if err != nil {
		return err
	}

	err = st.Scan(store.KindPrefix(store.KindQueueEntry), func(k, v []byte) error {
		name, seq, err := store.ParseQueueEntryKey(k)
		if err != nil {
			return fmt.Errorf("queue entry key: %w", err)
		}
		ref, err := store.DecodeReference(v)
		if err != nil {
			return fmt.Errorf("queue entry record: %w", err)
		}
		m := msgs[ref.MessageID]
		if m == nil {
			e.log.Warn("deleting queue entry of a missing message", "queue", name, "message", ref.MessageID)
			cleanup.Delete(k)
			return nil
		}
		consumer, ok := e.consumerOf(ref)
		if !ok {
			e.log.Info("dropping a queue's QoS 2 delivery whose consumer's session ended", "queue", name, "clientID", ref.Consumer, "message", ref.MessageID)
			cleanup.Delete(k)
			return nil
		}
		m.refs++
		q := e.ensureQueueLocked(name)
		// In-flight entries go back to the queue, marked as sent before, and
		// so are restored ones (see the subscription references); a QoS 2
		// delivery stays with its consumer, as a shared subscription's does.
		ent := &entry{seq: seq, msg: m, qos: m.qos, ready: true, durable: true,
			dup: ref.State != store.RefQueued || m.fromBackup}
		if consumer != nil {
			ent.state, ent.pid, ent.qos = entryState(ref.State), ref.PacketID, 2
			if !consumer.adoptInflight(ent) {
				e.log.Warn("queue QoS 2 delivery without a usable packet identifier returns to its queue",
					"queue", name, "clientID", ref.Consumer, "message", ref.MessageID, "packetID", ref.PacketID)
				ent.state, ent.pid, ent.qos = stateQueued, 0, m.qos
			}
		}
		q.buf.appendRecovered(ent)
		return nil
	})
	if err != nil {
		return err
	}

	err = st.Scan(store.KindPrefix(store.KindRetained), func(k, v []byte) error {
		name, err := store.ParseRetainedKey(k)
		if err != nil {
			return fmt.Errorf("retained key: %w", err)
		}
		r, err := store.DecodeRetained(v)
		if err != nil {
			return fmt.Errorf("retained record: %w", err)
		}
		m := msgs[r.MessageID]
		if m == nil {
			cleanup.Delete(k)
			return nil
		}
		m.refs++
		e.mu.retained.put(name, m)
		return nil
	})
	if err != nil {
		return err
	}

	for id, m := range msgs {
		switch {
		case m.refs == 0:
			cleanup.Delete(store.MessageKey(id))
		case m.fromBackup:
			e.restoredMessages++
		}
	}
	e.mu.nextMsgID = max(maxID, restored) + 1

	for _, s := range e.mu.sessions {
		if s.expiry != maxExpiry {
			left := s.disconnected.Add(time.Duration(s.expiry) * time.Second).Sub(now)
			if left <= 0 && s.will != nil {
				// The will is owed: the expiry timer publishes it and ends
				// the session once the engine runs.
				e.startExpiryLocked(s, 0)
				continue
			}
			if left <= 0 {
				e.destroySessionLocked(s, cleanup)
				continue
			}
			e.startExpiryLocked(s, left)
		}
		if s.will != nil { // a pending delayed will: due now or later
			e.armWillLocked(s, max(s.will.due.Sub(now), 0))
		}
	}
	if cleanup.Count() > 0 {
		if _, err := st.Commit(cleanup); err != nil {
			return fmt.Errorf("commit recovery cleanup: %w", err)
		}
	} else {
		cleanup.Discard()
	}
	return nil
}

// recoverDetachedLocked puts back in flight to its session a delivery
// whose ordinary subscription was removed while it was in flight (see
// removeSubscriptionLocked), in a detached buffer for its owner (kept in
// buffers). It reports false when the reference is an orphan after all:
// no such session, or its packet identifier unusable.
func (e *Engine) recoverDetachedLocked(owner string, seq uint64, ref store.Reference, m *message, buffers map[string]*buffer) bool {
	clientID, _, err := store.ParseSubscriptionKey([]byte(owner))
	if err != nil {
		return false // a shared group's owner: its group is gone
	}
	s := e.mu.sessions[clientID]
	if s == nil {
		return false
	}
	ent := &entry{seq: seq, msg: m, ready: true, durable: true, dup: true, pid: ref.PacketID,
		state: entryState(ref.State), qos: ref.QoS}
	switch {
	case ent.qos != 0: // the QoS it went out with
	case ent.state == statePubrecd:
		ent.qos = 2
	default:
		// Written by store format 2, which did not record the QoS; the
		// granted QoS went with the subscription's record. The PUBLISH
		// was sent with at most the message's QoS; resending with that
		// QoS never leaves a QoS 2 exchange the client started unfinished.
		ent.qos = m.qos
	}
	if !s.adoptInflight(ent) {
		e.log.Warn("dropping a delivery in flight from a removed subscription: its packet identifier is taken",
			"clientID", clientID, "message", ref.MessageID, "packetID", ref.PacketID)
		return false
	}
	buf := buffers[owner]
	if buf == nil {
		buf = newBuffer(owner, true, defaultLimits)
		buf.detached = true
		buffers[owner] = buf
	}
	m.refs++
	buf.appendRecovered(ent)
	return true
}

// consumerOf returns the session that the shared-group or queue QoS 2
// delivery recorded in ref is in flight to (nil when ref names none). ok
// is false when it names a consumer whose session has ended: the delivery
// then goes to nobody else ([MQTT-4.8.2-5]).
func (e *Engine) consumerOf(ref store.Reference) (s *session, ok bool) {
	if ref.Consumer == "" || ref.State == store.RefQueued {
		return nil, true
	}
	s = e.mu.sessions[ref.Consumer]
	return s, s != nil
}

func maxSubQoS(subs []*subscription) byte {
	var q byte
	for _, s := range subs {
		q = max(q, s.opts.Qos)
	}
	return q
}
