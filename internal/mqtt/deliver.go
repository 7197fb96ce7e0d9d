package mqtt

import (
	"bytes"
	"errors"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/packet"
	"github.com/mqsight/mqsight/internal/mqtt/topic"
	"github.com/mqsight/mqsight/internal/store"
)

// routeResult is what routing one message decided.
type routeResult struct {
	reason  byte     // 0 success; 0x10 no matching subscribers; 0x97 quota exceeded
	pending []*entry // durable entries that become deliverable after commit
	touched []*session
	groups  []*sharedGroup
}

// routeLocked puts m into the buffer of every matching subscription. For a
// QoS>0 message that would overflow a QoS>0 subscription whose policy is
// RejectNewMessages, nothing is enqueued anywhere and reason is 0x97. Store
// writes go into b. The caller commits b and then marks res.pending ready.
func (e *Engine) routeLocked(m *message, b *store.Batch, res *routeResult) {
	mt := &e.mu.matches
	e.trie.Match(m.topic, mt)

	// First pass: refuse before changing anything.
	if m.qos > 0 {
		for _, sb := range mt.Subscribers {
			sub := sb.Value
			if sub.opts.NoLocal && sub.sess.clientID == m.origin {
				continue
			}
			if min(m.qos, sub.opts.Qos) > 0 && sub.buf.full() && !sub.buf.limits.discardOld {
				sub.buf.rejected++
				e.stats.Rejected.Add(1)
				res.reason = 0x97
			}
		}
		for _, g := range mt.Groups {
			grp := e.mu.groups[groupKey{g.Form, g.Name, g.Filter}]
			if grp != nil && grp.buf.full() && !grp.buf.limits.discardOld && maxMemberQoS(g.Members) > 0 {
				grp.buf.rejected++
				e.stats.Rejected.Add(1)
				res.reason = 0x97
			}
		}
		if res.reason != 0 {
			return
		}
	}
	if len(mt.Subscribers) == 0 && len(mt.Groups) == 0 {
		res.reason = 0x10 // No matching subscribers (v5 PUBACK)
		return
	}
	for _, sb := range mt.Subscribers {
		sub := sb.Value
		if sub.opts.NoLocal && sub.sess.clientID == m.origin { // [MQTT-3.8.3-3]
			continue
		}
		qos := min(m.qos, sub.opts.Qos)
		retain := sub.opts.RetainAsPublished && m.retain // [MQTT-3.3.1-12], [MQTT-3.3.1-13]
		if qos == 0 && e.deliverNowLocked(sub, m, retain) {
			continue
		}
		if ent := e.enqueueLocked(sub.buf, m, qos, sub.buf.durable && qos > 0, b, res); ent != nil {
			ent.retainFlag = retain
			res.touched = append(res.touched, sub.sess)
			if sub.notify && sub.sess.conn == nil {
				e.noteArrivalLocked(sub.sess, m.topic)
			}
		}
	}
	for _, g := range mt.Groups {
		grp := e.mu.groups[groupKey{g.Form, g.Name, g.Filter}]
		if grp == nil {
			continue
		}
		qos := min(m.qos, maxMemberQoS(g.Members))
		if e.enqueueLocked(grp.buf, m, qos, qos > 0 && grp.durable(), b, res) != nil {
			res.groups = append(res.groups, grp)
		}
	}
}

func maxMemberQoS(ms []topic.Member[*session, *subscription]) byte {
	var q byte
	for _, m := range ms {
		q = max(q, m.Value.opts.Qos)
	}
	return q
}

// releaseLocked makes the durable entries of a committed route
// deliverable and lets the sessions and groups it touched send.
func (e *Engine) releaseLocked(res *routeResult) {
	for _, ent := range res.pending {
		ent.ready = true
	}
	for _, s := range res.touched {
		e.pumpLocked(s)
	}
	for _, g := range res.groups {
		e.kickGroupLocked(g)
	}
}

// enqueueLocked adds m to buf, applying DiscardOldMessages or dropping a
// QoS 0 message for a full buffer. Durable entries get a store reference in
// b and are not ready until b commits.
func (e *Engine) enqueueLocked(buf *buffer, m *message, qos byte, durable bool, b *store.Batch, res *routeResult) *entry {
	if buf.full() {
		if !buf.limits.discardOld {
			buf.dropped++ // a QoS 0 message for a full RejectNewMessages buffer
			e.stats.Dropped.Add(1)
			return nil
		}
		// DiscardOldMessages: drop the oldest down to 95% of MaxMessages.
		target := buf.limits.maxMessages * 95 / 100
		if target >= buf.limits.maxMessages {
			target = buf.limits.maxMessages - 1
		}
		for _, old := range buf.oldestQueued(buf.live - target) {
			buf.dropped++
			e.stats.Dropped.Add(1)
			e.removeEntryLocked(old, b)
		}
		if buf.full() { // everything left is in flight
			buf.dropped++
			e.stats.Dropped.Add(1)
			return nil
		}
	}
	ent := buf.push(m, qos)
	if durable {
		if !m.stored {
			m.stored = true
			b.Put(store.MessageKey(m.id), m.record().Encode())
		}
		m.refs++
		ent.durable = true
		ent.ready = false
		b.Put(buf.refKey(ent.seq), (&store.Reference{MessageID: m.id}).Encode())
		res.pending = append(res.pending, ent)
	}
	return ent
}

// dropEntryLocked discards ent undelivered (expired, or too large for its
// client), counts it as dropped, and commits b with its removal.
func (e *Engine) dropEntryLocked(ent *entry, b *store.Batch) {
	ent.buf.dropped++
	e.stats.Dropped.Add(1)
	e.removeEntryLocked(ent, b)
	e.commitIfAny(b)
}

// removeEntryLocked takes ent out of its buffer and, if it was durable,
// deletes its reference (and the message with its last reference) in b.
func (e *Engine) removeEntryLocked(ent *entry, b *store.Batch) {
	if ent.removed {
		return
	}
	if ent.consumer != nil && ent.state != stateQueued {
		delete(ent.consumer.inflight, ent.pid)
		ent.consumer.takeUnsent(ent)
	}
	if ent.durable {
		e.dropRefLocked(ent, b)
	}
	ent.buf.remove(ent)
}

// dropRefLocked deletes ent's store reference and makes it non-durable.
func (e *Engine) dropRefLocked(ent *entry, b *store.Batch) {
	ent.durable = false
	b.DeleteSized(ent.buf.refKey(ent.seq), 0)
	e.derefLocked(ent.msg, b)
}

// derefLocked drops one durable reference to m, deleting the message
// record with the last one.
func (e *Engine) derefLocked(m *message, b *store.Batch) {
	m.refs--
	if m.refs <= 0 && m.stored {
		m.stored = false
		b.DeleteSized(store.MessageKey(m.id), 0)
	}
}

// pumpLocked sends what session s may send now: QoS 0 entries always,
// QoS>0 entries while its Receive Maximum and outbound queue allow, taking
// one entry per subscription in turn.
func (e *Engine) pumpLocked(s *session) {
	c := s.conn
	if c == nil || !c.connacked || c.out.isClosing() {
		return
	}
	if !e.sendUnsentLocked(s) {
		return
	}
	now := e.now()
	for progress := true; progress; {
		progress = false
		for _, sub := range s.subs {
			if sub.group != nil {
				continue
			}
			ent := sub.buf.nextQueued()
			if ent == nil {
				continue
			}
			if ent.qos > 0 && (!s.windowOpen() || c.out.full()) {
				return
			}
			if e.deliverLocked(s, ent, now) {
				progress = true
			}
		}
		for _, sub := range s.subs {
			if sub.group == nil {
				continue
			}
			ent := sub.buf.nextQueued()
			if ent == nil {
				continue
			}
			q := min(ent.qos, sub.opts.Qos) // [MQTT-4.8.2-3]
			if q > 0 && (!s.windowOpen() || c.out.full()) {
				return
			}
			ent.qos = q
			if e.deliverLocked(s, ent, now) {
				progress = true
			}
		}
	}
}

// deliverLocked sends ent to s (whose window allows it) or discards it
// (expired, too large). It reports false only when nothing changed.
func (e *Engine) deliverLocked(s *session, ent *entry, now time.Time) bool {
	b := e.store.NewBatch()
	if ent.msg.expired(now) {
		e.dropEntryLocked(ent, b)
		return true
	}
	if ent.qos == 0 {
		switch e.writePublishLocked(s, ent) {
		case written:
			ent.buf.delivered++
		case connClosing:
			b.Discard()
			return false // stays queued for the session's next connection
		default:
			ent.buf.dropped++
			e.stats.Dropped.Add(1)
		}
		e.removeEntryLocked(ent, b)
		e.commitIfAny(b)
		return true
	}
	pid := s.allocPID()
	if pid == 0 {
		return false
	}
	ent.state, ent.pid, ent.consumer = stateSent, pid, s
	ent.buf.inflight++
	s.sendSeq++
	ent.sendSeq = s.sendSeq
	s.inflight[pid] = ent
	switch e.writePublishLocked(s, ent) {
	case connClosing:
		// Never sent: it waits, queued, for the session's next connection
		// (a persistent session's acknowledged messages must not be lost
		// while its old connection flushes).
		delete(s.inflight, pid)
		ent.state, ent.pid, ent.consumer = stateQueued, 0, nil
		ent.buf.inflight--
		b.Discard()
		return false
	case notWritten:
		// Too large for the client ([MQTT-3.1.2-25]): discarded as if sent.
		e.dropEntryLocked(ent, b)
		return true
	}
	if ent.durable {
		b.Put(ent.buf.refKey(ent.seq), ent.inflightRef().Encode())
		e.commitIfAny(b)
	}
	return true
}

// inflightRef is the store reference of ent in flight (to ent.consumer,
// in ent.state). A shared group's or queue's QoS 2 entry names its
// consumer: the delivery must be completed with that client and no other,
// also after a restart ([MQTT-4.8.2-4], [MQTT-4.8.2-5]).
func (ent *entry) inflightRef() *store.Reference {
	ref := &store.Reference{MessageID: ent.msg.id, State: byte(ent.state), PacketID: ent.pid, QoS: ent.qos}
	if ent.qos == 2 && ent.buf.group != nil {
		ref.Consumer = ent.consumer.clientID
	}
	return ref
}

// commitIfAny commits b if it holds anything and releases it otherwise.
func (e *Engine) commitIfAny(b *store.Batch) {
	if b.Count() > 0 {
		e.commit(b, e.logCommitError("delivery"))
		return
	}
	b.Discard()
}

// writeResult is what writePublishLocked did.
type writeResult uint8

const (
	written     writeResult = iota
	notWritten              // too large for the client, or a QoS 0 packet over the outbound bound: discard it
	connClosing             // the connection is closing: keep the entry for the next connection
)

// writePublishLocked encodes and queues the PUBLISH for ent.
func (e *Engine) writePublishLocked(s *session, ent *entry) writeResult {
	c := s.conn
	m := ent.msg
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{
			Type:   packets.Publish,
			Qos:    ent.qos,
			Retain: ent.retainFlag,
			// [MQTT-3.3.1-1]: DUP only on a re-delivery, which includes the
			// first send of an entry restored from a store backup; never on
			// QoS 0 ([MQTT-3.3.1-2]).
			Dup: ent.qos > 0 && ent.dup,
		},
		TopicName: m.topic,
		Payload:   m.payload,
	}
	if ent.qos > 0 {
		pk.PacketID = ent.pid
	}
	var newAlias bool
	if c.version == 5 {
		pk.Properties = m.publishProps(e.now())
		if sub := e.subscriptionOf(s, ent); sub != nil && sub.opts.Identifier > 0 {
			pk.Properties.SubscriptionIdentifier = []int{sub.opts.Identifier} // [MQTT-3.3.4-3]
		}
		newAlias = c.outboundAlias(&pk)
	}
	var buf []byte
	var err error
	if ent.qos == 0 && c.version != 5 {
		buf, err = m.qos0WireLocked(&pk, c.version) // encoded once for all subscribers
	} else {
		eb := e.encodeBufs.Get().(*bytes.Buffer)
		defer e.encodeBufs.Put(eb)
		buf, err = encodeInto(eb, &pk, c.version, s.maxPacket) // appendPacket copies it
	}
	if err != nil {
		if !errors.Is(err, packet.ErrTooLarge) {
			e.log.Error("encode publish", "topic", m.topic, "err", err)
		}
		return notWritten
	}
	switch c.out.appendPacket(buf, ent.qos == 0) {
	case refusedClosed:
		return connClosing
	case refusedFull:
		return notWritten
	}
	if newAlias { // the client learns an alias only from a PUBLISH it receives
		c.setOutboundAlias(m.topic, pk.Properties.TopicAlias)
	}
	ent.dup = true
	e.stats.MessagesOut.Add(1)
	e.stats.BytesOut.Add(uint64(len(buf)))
	return written
}

// subscriptionOf returns the subscription of s through which ent is
// delivered.
func (e *Engine) subscriptionOf(s *session, ent *entry) *subscription {
	for _, sub := range s.subs {
		if sub.buf == ent.buf {
			return sub
		}
	}
	return nil
}

// outboundAlias replaces the topic with an alias the client allowed
// (v5 Topic Alias Maximum), assigning aliases to the first topics sent. It
// reports a newly assigned alias, which the caller records with
// setOutboundAlias only once the PUBLISH carrying it was queued.
func (c *conn) outboundAlias(pk *packets.Packet) (newAlias bool) {
	if c.clientAliases == 0 {
		return false
	}
	if a, ok := c.outAliases[pk.TopicName]; ok {
		pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = a, true
		pk.TopicName = ""
		return false
	}
	limit := min(c.clientAliases, c.e.limits.MaxOutboundAliases)
	if uint16(len(c.outAliases)) >= limit {
		return false
	}
	a := uint16(len(c.outAliases) + 1)
	pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = a, true
	return true
}

// setOutboundAlias records that the client now knows alias for topic.
func (c *conn) setOutboundAlias(topic string, alias uint16) {
	if c.outAliases == nil {
		c.outAliases = make(map[string]uint16)
	}
	c.outAliases[topic] = alias
}

// handleAck processes PUBACK, PUBREC and PUBCOMP from the client.
func (e *Engine) handleAck(c *conn, pid uint16, typ byte, reason byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := c.sess
	if s == nil || s.conn != c {
		return
	}
	ent := s.inflight[pid]
	if ent == nil {
		if typ == packets.Pubrec {
			// Answer so the client can finish; v5: not found.
			rc := byte(0)
			if c.version == 5 {
				rc = 0x92
			}
			c.acks.complete(c.acks.reserve(packets.Pubrel, pid), rc)
		}
		return
	}
	b := e.store.NewBatch()
	switch {
	case typ == packets.Puback && ent.qos == 1 && ent.state == stateSent,
		typ == packets.Pubcomp && ent.qos == 2 && ent.state == statePubrecd,
		typ == packets.Pubrec && ent.qos == 2 && ent.state == stateSent && reason >= 0x80:
		ent.buf.delivered++
		e.removeEntryLocked(ent, b)
	case typ == packets.Pubrec && ent.qos == 2 && ent.state == stateSent:
		s.takeUnsent(ent) // the client had it from an earlier connection
		ent.state = statePubrecd
		// PUBRELs leave in PUBREC order ([MQTT-4.6.0-4]) through the
		// connection's ordered acknowledgements.
		slot := c.acks.reserve(packets.Pubrel, pid)
		if !ent.durable {
			c.acks.complete(slot, 0)
			break
		}
		// PUBREL only once the new state is on disk: once the client has
		// it, the PUBLISH must never be sent again ([MQTT-4.3.3-6]), which
		// a restart to the older state would do.
		b.Put(ent.buf.refKey(ent.seq), ent.inflightRef().Encode())
		e.commitThen(b, func(err error) {
			if err != nil {
				// No PUBREL: the disk still says the PUBLISH was sent, so
				// that is what the entry says again, and the connection
				// closes; the client gets the PUBLISH again (DUP) when it
				// reconnects, answers PUBREC again, and that one is
				// committed afresh. Also when a new connection took the
				// session over meanwhile: its CONNACK, and so the resending
				// of what is in flight, follows this callback (commit
				// order), so it resends the PUBLISH, not a PUBREL.
				e.log.Error("store commit of PUBREC failed; closing the connection", "clientID", s.clientID, "err", err)
				e.mu.Lock()
				if ent.state == statePubrecd && !ent.removed {
					ent.state = stateSent
				}
				e.mu.Unlock()
				c.out.closeAfterFlush()
				return
			}
			c.acks.complete(slot, 0)
		})
		return
	default:
		return // an ack of the wrong kind for this packet id: ignore
	}
	e.commitIfAny(b)
	if ent.removed {
		e.pumpLocked(s)
		if e.isGroupBuffer(ent.buf) {
			e.kickGroupBufferLocked(ent.buf)
		}
	}
}

// isGroupBuffer reports whether buf belongs to a shared group.
func (e *Engine) isGroupBuffer(buf *buffer) bool { return buf.group != nil }

// kickGroupBufferLocked lets the members of buf's group take entries.
func (e *Engine) kickGroupBufferLocked(buf *buffer) {
	if buf.group != nil {
		e.kickGroupLocked(buf.group)
	}
}

// kickGroupLocked offers the group's queued entries to its online members
// in turn (round robin), each taking what its window allows.
func (e *Engine) kickGroupLocked(g *sharedGroup) {
	n := len(g.members)
	if n == 0 {
		return
	}
	now := e.now()
	for progress := true; progress; {
		progress = false
		for i := range n {
			sub := g.members[(g.next+i)%n]
			s := sub.sess
			if s.conn == nil || !s.conn.connacked || s.conn.out.isClosing() {
				continue
			}
			ent := g.buf.nextQueued()
			if ent == nil {
				return
			}
			// The group holds the entry at its members' highest QoS; each
			// member gets it at most at its own granted QoS ([MQTT-4.8.2-3]).
			q := min(ent.qos, sub.opts.Qos)
			if q > 0 && (!s.windowOpen() || s.conn.out.full() || s.unsentN > 0) {
				continue // (messages waiting in s.unsent go first, through pumpLocked)
			}
			ent.qos = q
			g.next = (g.next + i + 1) % n
			if e.deliverLocked(s, ent, now) {
				progress = true
			}
			break
		}
	}
}
