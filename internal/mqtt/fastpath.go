package mqtt

import (
	"github.com/mochi-mqtt/server/v2/packets"
)

// deliverNowLocked is the QoS 0 fast path of routing: the QoS 0 copy of m
// for the ordinary subscription sub is written to its session's connection
// at once, without becoming a buffer entry and without a pass over the
// session's subscriptions, when the session is online and nothing in the
// subscription's buffer waits to be sent (every live entry is already in
// flight). Order per subscription is kept: the buffered path would send m
// next as well. Counters move as on the buffered path (enqueued, then
// delivered, or dropped when the outbound queue is full). It reports false
// when m must take the buffered path. The caller holds Engine.mu.
func (e *Engine) deliverNowLocked(sub *subscription, m *message, retain bool) bool {
	s := sub.sess
	c := s.conn
	buf := sub.buf
	if c == nil || !c.connacked || buf.live != buf.inflight || sub.group != nil {
		return false
	}
	if !m.expiry.IsZero() && m.expired(e.now()) {
		return false // the buffered path counts and discards it
	}
	ent := entry{buf: buf, msg: m, retainFlag: retain, ready: true}
	buf.enqueued++
	if e.writePublishLocked(s, &ent) == written {
		buf.delivered++
	} else {
		buf.dropped++
		e.stats.Dropped.Add(1)
	}
	return true
}

// qos0WireLocked returns the wire bytes of pk, a QoS 0 PUBLISH of m for
// protocol version v (3 or 4, which carry no per-subscriber properties), so
// a message delivered to many subscribers is encoded once: the first
// variant (version, RETAIN) encoded is kept on the message and shared by
// every later delivery of that variant; other variants are encoded afresh.
// A retained message keeps no copy (it may live for long). The returned
// bytes must not be modified. The caller holds Engine.mu.
func (m *message) qos0WireLocked(pk *packets.Packet, v byte) ([]byte, error) {
	key := v << 1
	if pk.FixedHeader.Retain {
		key |= 1
	}
	if m.wire != nil && m.wireKey == key {
		return m.wire, nil
	}
	b, err := encode(pk, v, 0)
	if err != nil {
		return nil, err
	}
	if m.wire == nil && !m.retain {
		m.wire, m.wireKey = b, key
	}
	return b, nil
}
