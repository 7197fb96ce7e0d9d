package mqtt

import (
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// will is a client's Will Message ([MQTT-3.1.2-8] .. [MQTT-3.1.3-10]).
type will struct {
	msg   *message
	delay uint32 // v5 Will Delay Interval, seconds
}

func newWill(pk *packets.Packet, clientID string, now time.Time) *will {
	p := &pk.Connect
	m := &message{
		topic:   p.WillTopic,
		payload: p.WillPayload,
		qos:     p.WillQos,
		retain:  p.WillRetain,
		created: now,
		origin:  clientID,
	}
	w := &will{msg: m}
	if pk.ProtocolVersion == 5 {
		m.props = p.WillProperties
		m.props.WillDelayInterval = 0
		if mei := p.WillProperties.MessageExpiryInterval; mei > 0 {
			m.expiry = now.Add(time.Duration(mei) * time.Second)
		}
		w.delay = p.WillProperties.WillDelayInterval
	}
	return w
}

// scheduleWillLocked publishes s's will now, or after the Will Delay
// Interval if the session outlives the connection ([MQTT-3.1.3-9]).
func (e *Engine) scheduleWillLocked(s *session) {
	w := s.will
	if w.delay == 0 || s.expiry == 0 {
		e.publishWillLocked(s)
		return
	}
	s.willTimer = time.AfterFunc(time.Duration(w.delay)*time.Second, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if s.will == w && s.conn == nil && !e.mu.closed {
			e.publishWillLocked(s)
		}
	})
}

// cancelWillLocked drops a pending delayed will (the client reconnected).
func (e *Engine) cancelWillLocked(s *session) {
	if s.willTimer != nil {
		s.willTimer.Stop()
		s.willTimer = nil
	}
	s.will = nil
}

// publishWillLocked routes s's will like a publish from the client.
func (e *Engine) publishWillLocked(s *session) {
	w := s.will
	s.will = nil
	if s.willTimer != nil {
		s.willTimer.Stop()
		s.willTimer = nil
	}
	if w == nil {
		return
	}
	if !e.publishServerMessageLocked(w.msg) {
		e.log.Warn("will message refused: subscription buffer full", "clientID", s.clientID, "topic", w.msg.topic)
	}
}

// publishServerMessageLocked routes a message the server publishes on a
// client's behalf or its own (wills, notifications) like a PUBLISH, with
// no one to acknowledge. It reports false when a full RejectNewMessages
// buffer refused it.
func (e *Engine) publishServerMessageLocked(m *message) bool {
	m.id = e.mu.nextMsgID
	e.mu.nextMsgID++
	b := e.store.NewBatch()
	var res routeResult
	e.routeLocked(m, b, &res)
	if res.reason == 0x97 {
		b.Discard()
		return false
	}
	if m.retain {
		e.setRetainedLocked(m, b)
	}
	if b.Count() == 0 {
		b.Discard()
		e.releaseLocked(&res)
		return true
	}
	e.commit(b, func(err error) {
		if err != nil {
			e.log.Error("store commit of a server-published message failed", "topic", m.topic, "err", err)
		}
		e.mu.Lock()
		e.releaseLocked(&res)
		e.mu.Unlock()
	})
	return true
}
