package mqtt

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/store"
)

// will is a client's Will Message ([MQTT-3.1.2-8] .. [MQTT-3.1.3-10]).
type will struct {
	msg   *message // created and expiry are set when it is published
	delay uint32   // v5 Will Delay Interval, seconds
	// expiryInterval is the v5 Message Expiry Interval, counted from the
	// will's publication (MQTT 5.0 §3.1.3.2.4); 0: none.
	expiryInterval uint32
	// due is when a delayed will is published; zero until the connection
	// ends. A pending will (due set) is part of a persistent session's
	// stored state, so a server restart does not cancel it.
	due time.Time
}

func newWill(pk *packets.Packet, clientID string) *will {
	p := &pk.Connect
	m := &message{
		topic:   p.WillTopic,
		payload: p.WillPayload,
		qos:     p.WillQos,
		retain:  p.WillRetain,
		origin:  clientID,
	}
	w := &will{msg: m}
	if pk.ProtocolVersion == 5 {
		m.props = p.WillProperties
		m.props.WillDelayInterval = 0
		w.delay = p.WillProperties.WillDelayInterval
		w.expiryInterval = p.WillProperties.MessageExpiryInterval
	}
	return w
}

// scheduleWillLocked publishes s's will now, or after the Will Delay
// Interval if the session outlives the connection ([MQTT-3.1.3-9]).
func (e *Engine) scheduleWillLocked(s *session) {
	w := s.will
	if w.delay == 0 || s.expiry == 0 {
		e.publishWillLocked(s, false)
		return
	}
	w.due = e.now().Add(time.Duration(w.delay) * time.Second)
	e.armWillLocked(s, time.Duration(w.delay)*time.Second)
}

// armWillLocked publishes s's pending will after d, unless the session is
// continued or ends first. A persistent session's stored state drops the
// will in the batch that publishes it.
func (e *Engine) armWillLocked(s *session, d time.Duration) {
	w := s.will
	s.willTimer = time.AfterFunc(d, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if s.will == w && s.conn == nil && !s.destroyed && !e.mu.closed {
			e.publishWillLocked(s, false)
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

// publishWillLocked routes s's will like a publish from the client. A
// persistent session's stored state loses a pending will in the batch that
// publishes it, so that a restart neither loses nor repeats the will: the
// state is rewritten without it, or deleted when the session is ending.
func (e *Engine) publishWillLocked(s *session, ending bool) {
	w := s.will
	s.will = nil
	if s.willTimer != nil {
		s.willTimer.Stop()
		s.willTimer = nil
	}
	if w == nil {
		return
	}
	m := w.msg
	m.created = e.now()
	if w.expiryInterval > 0 {
		m.expiry = m.created.Add(time.Duration(w.expiryInterval) * time.Second)
	}
	var also func(*store.Batch)
	switch {
	case !s.persistent || w.due.IsZero(): // never stored
	case ending:
		also = func(b *store.Batch) { b.Delete(store.ClientStateKey(s.clientID)) }
	default:
		also = s.putState
	}
	if !e.publishServerMessageLocked(m, also) {
		e.log.Warn("will message refused: subscription buffer full", "clientID", s.clientID, "topic", m.topic)
	}
}

// encodeWill is w as a persistent session's stored state keeps it (the
// opaque store.ClientState.Will): version 1, due (unix nanoseconds),
// delay and expiry interval, then the message as a store.Message record.
func encodeWill(w *will) []byte {
	rec := w.msg.record()
	b := make([]byte, 0, 17+len(rec.Topic)+len(rec.Payload)+len(rec.Properties)+48)
	b = append(b, willRecordV1)
	b = binary.BigEndian.AppendUint64(b, uint64(w.due.UnixNano()))
	b = binary.BigEndian.AppendUint32(b, w.delay)
	b = binary.BigEndian.AppendUint32(b, w.expiryInterval)
	return append(b, rec.Encode()...)
}

// willRecordV1 is the version byte of encodeWill's layout.
const willRecordV1 = 1

// decodeWill reverses encodeWill for the session of clientID.
func decodeWill(b []byte, clientID string) (*will, error) {
	if len(b) < 17 || b[0] != willRecordV1 {
		return nil, fmt.Errorf("will of %q: unknown record (%d bytes)", clientID, len(b))
	}
	rec, err := store.DecodeMessage(b[17:])
	if err != nil {
		return nil, fmt.Errorf("will of %q: %w", clientID, err)
	}
	m, err := messageFromRecord(&rec)
	if err != nil {
		return nil, fmt.Errorf("will of %q: %w", clientID, err)
	}
	m.stored, m.origin = false, clientID
	m.created, m.expiry = time.Time{}, time.Time{}
	return &will{
		msg:            m,
		due:            time.Unix(0, int64(binary.BigEndian.Uint64(b[1:]))),
		delay:          binary.BigEndian.Uint32(b[9:]),
		expiryInterval: binary.BigEndian.Uint32(b[13:]),
	}, nil
}

// publishServerMessageLocked routes a message the server publishes on a
// client's behalf or its own (wills, notifications) like a PUBLISH, with
// no one to acknowledge. also, if not nil, adds records to the batch that
// commits the message (or to one of its own if the message was refused).
// It reports false when a full RejectNewMessages buffer refused the
// message.
func (e *Engine) publishServerMessageLocked(m *message, also func(*store.Batch)) bool {
	m.id = e.mu.nextMsgID
	e.mu.nextMsgID++
	b := e.store.NewBatch()
	var res routeResult
	e.routeLocked(m, b, &res)
	if res.reason == 0x97 {
		b.Discard()
		if also != nil {
			b = e.store.NewBatch()
			also(b)
			e.commit(b, e.logCommitError("server-published message"))
		}
		return false
	}
	if m.retain {
		e.setRetainedLocked(m, b)
	}
	if also != nil {
		also(b)
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
