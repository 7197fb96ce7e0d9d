package mqtt

import (
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/packet"
	"github.com/mqsight/mqsight/internal/mqtt/topic"
	"github.com/mqsight/mqsight/internal/store"
)

// handleSubscribe processes SUBSCRIBE ([MQTT-3.8]) and answers SUBACK once
// the subscriptions of a persistent session are durable.
func (c *conn) handleSubscribe(pk *packets.Packet) bool {
	e := c.e
	if err := packet.ValidateSubscribe(pk); err != nil {
		rc, _ := packet.Reason(err)
		c.disconnect(rc) // e.g. [MQTT-3.8.3-3] no filters, [MQTT-3.8.3-4] NoLocal on a shared subscription
		return false
	}
	ack := &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Suback}, PacketID: pk.PacketID}
	type newSub struct {
		sub *subscription
		new bool
	}
	var added []newSub
	var releases []func(ok bool)

	e.mu.Lock()
	s := c.sess
	if s == nil || s.conn != c {
		e.mu.Unlock()
		return false
	}
	cfg := e.Config()
	b := e.store.NewBatch()
	subID := 0
	if len(pk.Properties.SubscriptionIdentifier) > 0 {
		subID = pk.Properties.SubscriptionIdentifier[0]
	}
	for _, f := range pk.Filters {
		if qn, ok := queueName(f.Filter); ok { // a consumer of a point-to-point queue
			f.Identifier = subID
			rc := byte(0x87) // QueuePolicy Receive
			if c.client.MayQueue(cfg, qn, "Receive") {
				_, rc = e.subscribeQueueLocked(s, f, qn, b)
			}
			if rc > 2 && c.version != 5 {
				rc = 0x80
			}
			ack.ReasonCodes = append(ack.ReasonCodes, rc)
			continue
		}
		rc := f.Qos
		parsed, err := topic.ParseSubscription(f.Filter)
		switch {
		case err != nil:
			rc = 0x8F // Topic Filter invalid (3.1.1: 0x80)
		case f.Qos > 2:
			rc = 0x80
		case parsed.Shared() && f.NoLocal:
			rc = 0x82 // [MQTT-3.8.3-4]: NoLocal on a shared subscription is a protocol error
		case !c.client.MaySubscribe(cfg, parsed.Filter, parsed.ShareName):
			rc = 0x87
		}
		if rc > 2 {
			if c.version != 5 {
				rc = 0x80
			}
			ack.ReasonCodes = append(ack.ReasonCodes, rc)
			continue
		}
		f.Identifier = subID
		max, discardOld := c.client.Limits(cfg, parsed.Filter, parsed.ShareName)
		notify := !parsed.Shared() && c.client.Notify(cfg, parsed.Filter)
		sub, isNew := e.subscribeLocked(s, f, parsed, bufferLimits{maxMessages: max, discardOld: discardOld}, notify, b)
		added = append(added, newSub{sub, isNew})
		// Retained messages ([MQTT-3.3.1-9], v5 Retain Handling), queued
		// now, as the subscription becomes visible to routing.
		if rh := f.RetainHandling; sub.group == nil && rh != 2 && (rh != 1 || isNew) {
			releases = append(releases, e.sendRetainedLocked(sub))
		}
		ack.ReasonCodes = append(ack.ReasonCodes, f.Qos) // granted QoS
	}
	done := make(chan struct{})
	e.commitThen(b, func(err error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		defer close(done)
		if err != nil {
			e.log.Error("store commit of subscription failed", "clientID", s.clientID, "err", err)
			for i := range ack.ReasonCodes {
				ack.ReasonCodes[i] = 0x80
			}
		}
		c.send(ack)
		for _, release := range releases {
			release(err == nil)
		}
		if err != nil {
			return
		}
		if s.conn == c {
			e.pumpLocked(s)
		}
	})
	e.mu.Unlock()
	<-done
	return true
}

// subscribeLocked adds or replaces subscription f of session s, writing its
// record into b (nil during recovery). It returns the subscription and
// whether it is new ([MQTT-3.8.4-3]: a replaced
// subscription keeps its buffered messages).
func (e *Engine) subscribeLocked(s *session, f packets.Subscription, parsed topic.Subscription, limits bufferLimits, notify bool, b *store.Batch) (*subscription, bool) {
	sub := s.subs[f.Filter]
	isNew := sub == nil
	if isNew {
		sub = &subscription{sess: s, filter: f.Filter}
		if parsed.Shared() {
			key := groupKey{parsed.Form, parsed.ShareName, parsed.Filter}
			g := e.mu.groups[key]
			if g == nil {
				g = &sharedGroup{key: key}
				g.buf = newBuffer(key.storeOwner(), true, limits)
				g.buf.group = g
				e.mu.groups[key] = g
			}
			sub.group, sub.buf = g, g.buf
			g.addMember(sub)
		} else {
			owner := string(store.SubscriptionKey(s.clientID, f.Filter))
			sub.buf = newBuffer(owner, s.persistent, limits)
			sub.buf.nextSeq = s.nextSeqAfterDetached(owner)
		}
		s.subs[f.Filter] = sub
	}
	sub.opts = f
	sub.buf.limits = limits
	sub.notify = notify && sub.group == nil
	e.trie.Subscribe(f.Filter, s, sub)
	if s.persistent && b != nil {
		rec := &store.Subscription{
			ClientID: s.clientID, Filter: f.Filter, ShareName: parsed.ShareName, QoS: f.Qos,
			NoLocal: f.NoLocal, RetainAsPublished: f.RetainAsPublished, RetainHandling: f.RetainHandling,
			SubscriptionID: uint32(f.Identifier), MaxMessages: uint32(limits.maxMessages),
		}
		if limits.discardOld {
			rec.Behavior |= behaviorDiscardOld
		}
		if sub.notify {
			rec.Behavior |= behaviorNotify
		}
		b.Put(store.SubscriptionKey(s.clientID, f.Filter), rec.Encode())
	}
	return sub, isNew
}

// Bits of store.Subscription.Behavior (engine-defined).
const (
	behaviorDiscardOld byte = 1 << 0 // MaxMessagesBehavior DiscardOldMessages
	behaviorNotify     byte = 1 << 1 // DisconnectedClientNotification
)

// handleUnsubscribe processes UNSUBSCRIBE ([MQTT-3.10]).
func (c *conn) handleUnsubscribe(pk *packets.Packet) bool {
	e := c.e
	if err := packet.ValidateUnsubscribe(pk); err != nil {
		rc, _ := packet.Reason(err)
		c.disconnect(rc)
		return false
	}
	ack := &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsuback}, PacketID: pk.PacketID}
	e.mu.Lock()
	s := c.sess
	if s == nil || s.conn != c {
		e.mu.Unlock()
		return false
	}
	b := e.store.NewBatch()
	for _, f := range pk.Filters {
		sub := s.subs[f.Filter]
		if sub == nil {
			ack.ReasonCodes = append(ack.ReasonCodes, 0x11) // No subscription existed
			continue
		}
		e.removeSubscriptionLocked(sub, b)
		ack.ReasonCodes = append(ack.ReasonCodes, 0)
	}
	done := make(chan struct{})
	e.commitThen(b, func(err error) {
		if err != nil {
			e.log.Error("store commit of unsubscribe failed", "clientID", s.clientID, "err", err)
		}
		c.send(ack)
		close(done)
	})
	e.mu.Unlock()
	<-done
	return true
}

// removeSubscriptionLocked deletes sub: from the trie, its buffer (for an
// ordinary subscription: every queued entry and every reference, while
// entries in flight to the session stay in s.inflight until acknowledged;
// for a shared one: the membership, the group when it was the last
// member), its record.
func (e *Engine) removeSubscriptionLocked(sub *subscription, b *store.Batch) {
	s := sub.sess
	e.trie.Unsubscribe(sub.filter, s)
	delete(s.subs, sub.filter)
	if s.persistent {
		b.Delete(store.SubscriptionKey(s.clientID, sub.filter))
	}
	if g := sub.group; g != nil {
		g.removeMember(s)
		// In-flight QoS 1 entries go back to the group; QoS 2 ones stay
		// with this session until completed: another member could get a
		// second copy ([MQTT-4.8.2-4]).
		for pid, ent := range s.inflight {
			if ent.buf == g.buf && ent.qos < 2 {
				delete(s.inflight, pid)
				s.takeUnsent(ent)
				g.buf.requeue(ent)
			}
		}
		if len(g.members) == 0 && !g.queue { // a queue keeps its messages
			for _, ent := range g.buf.liveEntries() {
				e.removeEntryLocked(ent, b)
			}
			delete(e.mu.groups, g.key)
		} else {
			e.kickGroupLocked(g)
		}
		return
	}
	sub.buf.detached = true
	for _, ent := range sub.buf.liveEntries() {
		if ent.state != stateQueued && s.inflight[ent.pid] == ent {
			// A delivery already started stays in the session until the
			// client completes it, also after a reconnection or a restart
			// ([MQTT-3.10.4-3], [MQTT-4.4.0-1]): its reference stays, and
			// recovery finds it without a subscription.
			continue
		}
		e.removeEntryLocked(ent, b)
	}
}

// nextSeqAfterDetached is where a new buffer for owner starts numbering
// so that its references never take the key of a delivery of an earlier,
// removed subscription with the same owner still in flight to s.
func (s *session) nextSeqAfterDetached(owner string) uint64 {
	next := uint64(1)
	for _, ent := range s.inflight {
		if ent.buf.detached && ent.buf.owner == owner {
			next = max(next, ent.seq+1)
		}
	}
	return next
}
