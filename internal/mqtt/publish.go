package mqtt

import (
	"errors"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/packet"
	"github.com/mqsight/mqsight/internal/mqtt/topic"
	"github.com/mqsight/mqsight/internal/store"
)

// handlePublish processes an inbound PUBLISH ([MQTT-3.3]).
func (c *conn) handlePublish(pk *packets.Packet) bool {
	e := c.e
	e.stats.MessagesIn.Add(1)
	qos := pk.FixedHeader.Qos
	if err := packet.ValidatePublish(pk, e.limits.TopicAliasMaximum); err != nil {
		rc, _ := packet.Reason(err)
		c.disconnect(rc)
		return false
	}
	if rt := pk.Properties.ResponseTopic; c.version == 5 && rt != "" && topic.ValidName(rt) != nil {
		c.disconnect(0x82) // [MQTT-3.3.2-14]: a Response Topic is a topic name, without wildcards
		return false
	}

	// Topic alias ([MQTT-3.3.2-7] .. [MQTT-3.3.2-12]).
	topicName := pk.TopicName
	if c.version == 5 && pk.Properties.TopicAliasFlag {
		alias := pk.Properties.TopicAlias
		if alias == 0 || alias > e.limits.TopicAliasMaximum {
			c.disconnect(0x94) // Topic Alias invalid
			return false
		}
		if topicName == "" {
			t, ok := c.inAliases[alias]
			if !ok {
				c.disconnect(0x82) // an alias never set is a Protocol Error
				return false
			}
			topicName = t
		} else {
			if c.inAliases == nil {
				c.inAliases = make(map[uint16]string)
			}
			c.inAliases[alias] = topicName
		}
	}
	if err := topic.ValidName(topicName); err != nil {
		c.disconnect(0x90) // Topic Name invalid; 3.1.1 closes ([MQTT-3.3.2-2])
		return false
	}

	// Receive Maximum of the server ([MQTT-3.3.4-9]).
	if qos > 0 && c.version == 5 && c.inflightIn.Load() >= int32(e.limits.ReceiveMaximum) {
		c.disconnect(0x93)
		return false
	}

	e.mu.Lock()
	s := c.sess
	if s == nil || s.conn != c {
		e.mu.Unlock()
		return false
	}
	// QoS 2 duplicate: already received, answer PUBREC again without
	// routing it a second time ([MQTT-4.3.3-10] method A).
	if qos == 2 {
		if _, dup := s.inQoS2[pk.PacketID]; dup {
			e.mu.Unlock()
			c.acks.complete(c.acks.reserve(packets.Pubrec, pk.PacketID), 0)
			return true
		}
	}
	cfg := e.Config()
	if !c.client.MayPublish(cfg, topicName) || (qos > 0 && !c.client.AllowPersistentMessages()) {
		e.mu.Unlock()
		return c.publishDenied(pk, 0x87)
	}
	// A store short of disk space takes no new message (store.SpaceLow):
	// the publish is refused as for a full buffer, before anything of it
	// is routed, retained or evicted for it.
	if e.store.SpaceLow() {
		e.mu.Unlock()
		e.stats.Rejected.Add(1)
		return c.publishDenied(pk, 0x97)
	}
	now := e.now()
	m := &message{
		topic:   topicName,
		payload: pk.Payload,
		qos:     qos,
		retain:  pk.FixedHeader.Retain,
		created: now,
		origin:  s.clientID,
	}
	if c.version == 5 {
		m.props = pk.Properties
		if mei := pk.Properties.MessageExpiryInterval; mei > 0 {
			m.expiry = now.Add(time.Duration(mei) * time.Second)
		}
	}
	if ttl := c.client.MaxMessageTTL(cfg, topicName); ttl > 0 { // TopicPolicy MaxMessageTimeToLive
		if limit := now.Add(time.Duration(ttl) * time.Second); m.expiry.IsZero() || m.expiry.After(limit) {
			m.expiry = limit
		}
	}
	m.id = e.mu.nextMsgID
	e.mu.nextMsgID++

	b := e.store.NewBatch()
	var res routeResult
	if qn, ok := queueName(topicName); ok {
		if c.client.MayQueue(cfg, qn, "Send") { // QueuePolicy Send
			e.sendToQueueLocked(qn, m, b, &res)
		} else {
			res.reason = 0x87
		}
	} else {
		e.routeLocked(m, b, &res)
	}
	if res.reason >= 0x80 { // quota exceeded, or a queue refusing the send
		e.mu.Unlock()
		return c.publishDenied(pk, res.reason)
	}
	if m.retain {
		e.setRetainedLocked(m, b)
	}
	var slot *ackSlot
	switch qos {
	case 1:
		slot = c.acks.reserve(packets.Puback, pk.PacketID)
	case 2:
		slot = c.acks.reserve(packets.Pubrec, pk.PacketID)
		s.inQoS2[pk.PacketID] = struct{}{}
		if s.persistent { // received for good only together with the message
			s.putState(b)
		}
	}
	if slot != nil {
		c.inflightIn.Add(1)
		if qos == 1 {
			slot.after = func() { c.inflightIn.Add(-1) }
		}
	}
	reason := byte(0)
	if res.reason == 0x10 && c.version == 5 {
		reason = 0x10
	}
	finish := func(err error) {
		if err != nil {
			b2 := e.store.NewBatch()
			for _, ent := range res.pending {
				e.removeEntryLocked(ent, b2)
			}
			e.commitIfAny(b2)
			if errors.Is(err, store.ErrDiskFull) {
				// Below half the store's reserve: the store logs when it
				// starts and stops refusing, and the client is told as
				// for a full buffer. What this publish changed in memory
				// (a retained message replaced, old messages evicted) is
				// not on disk; a restart goes by the disk.
				reason = 0x97
			} else {
				e.log.Error("store commit of publish failed", "topic", topicName, "err", err)
				reason = 0x80
			}
			if qos == 2 {
				// Not received after all: the client's next PUBLISH with
				// this packet identifier is a new message ([MQTT-4.3.3-9]).
				delete(s.inQoS2, pk.PacketID)
				if c.inflightIn.Load() > 0 {
					c.inflightIn.Add(-1)
				}
			}
		}
		e.releaseLocked(&res)
		if slot != nil {
			if err != nil && c.version != 5 {
				c.out.closeAfterFlush() // 3.1.1 has no negative acknowledgement
				return
			}
			c.acks.complete(slot, reason)
		}
	}
	if b.Count() == 0 {
		b.Discard()
		finish(nil)
		e.mu.Unlock()
		return true
	}
	c.commitPublish(b, func(err error) {
		e.mu.Lock()
		finish(err)
		e.mu.Unlock()
	})
	e.mu.Unlock()
	return true
}

// publishDenied answers a publish that was refused with reason rc (0x87
// not authorized, 0x97 quota exceeded): v5 acknowledges QoS>0 with the
// reason; 3.1.1 cannot, so QoS>0 closes the connection (as MessageSight
// does) and QoS 0 is dropped.
func (c *conn) publishDenied(pk *packets.Packet, rc byte) bool {
	qos := pk.FixedHeader.Qos
	if qos == 0 {
		return true
	}
	if c.version != 5 {
		return false
	}
	typ := byte(packets.Puback)
	if qos == 2 {
		typ = packets.Pubrec
	}
	slot := c.acks.reserve(typ, pk.PacketID)
	c.acks.complete(slot, rc)
	return true
}

// handlePubrel completes an inbound QoS 2 exchange with PUBCOMP.
func (c *conn) handlePubrel(pk *packets.Packet) bool {
	e := c.e
	e.mu.Lock()
	s := c.sess
	if s == nil || s.conn != c { // taken over
		e.mu.Unlock()
		return false
	}
	_, known := s.inQoS2[pk.PacketID]
	delete(s.inQoS2, pk.PacketID)
	rc := byte(0)
	if !known {
		if c.version == 5 {
			rc = 0x92 // Packet Identifier not found
		}
	} else if c.inflightIn.Load() > 0 {
		c.inflightIn.Add(-1)
	}
	slot := c.acks.reserve(packets.Pubcomp, pk.PacketID)
	b := e.store.NewBatch()
	if known && s.persistent {
		// PUBCOMP only once the identifier is released on disk: the client
		// may reuse it for a new message right after.
		s.putState(b)
	}
	e.commitThen(b, func(err error) {
		if err != nil {
			// No PUBCOMP: the identifier is still received on disk, so it
			// stays so here too, and the connection closes; the client
			// sends the PUBREL again when it reconnects ([MQTT-4.4.0-1]),
			// and that one is committed afresh. A PUBCOMP now would let
			// the client reuse the identifier for a new message that a
			// restart to the disk's state would take for a duplicate.
			// Also when a new connection took the session over meanwhile:
			// its CONNACK follows this callback (commit order), so the
			// PUBREL it resends finds the identifier.
			e.log.Error("store commit of PUBREL failed; closing the connection", "clientID", s.clientID, "err", err)
			e.mu.Lock()
			if known && !s.destroyed {
				s.inQoS2[pk.PacketID] = struct{}{}
			}
			e.mu.Unlock()
			c.out.closeAfterFlush()
			return
		}
		c.acks.complete(slot, rc)
	})
	e.mu.Unlock()
	return true
}
