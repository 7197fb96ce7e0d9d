package mqtt

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/store"
)

// message is one application message as the engine holds it. Its fields are
// immutable after creation and it is shared by every buffer entry that
// refers to it; refs is guarded by Engine.mu.
type message struct {
	id      uint64 // store message id; 0 until assigned
	topic   string
	payload []byte
	qos     byte // QoS it was published with
	retain  bool // RETAIN flag as published
	props   packets.Properties
	created time.Time
	expiry  time.Time // zero: never expires
	origin  string    // publishing client ID ("" for wills of unknown origin)

	// fromBackup marks a message restored from a store backup: the first
	// send of each buffered entry of it carries DUP=1, because it may have
	// been delivered since the backup. A retained message is sent to a new
	// subscription as a new delivery (RETAIN=1, DUP=0), restored or not.
	fromBackup bool

	// Guarded by Engine.mu.
	stored bool // a store.MessageKey record exists or is being committed
	refs   int  // durable references (buffer refs + retained slot)
	// wire is the QoS 0 PUBLISH of this message for MQTT 3.1/3.1.1 as
	// encoded for the first such delivery, with wireKey naming its variant
	// (see qos0WireLocked); immutable once set.
	wire    []byte
	wireKey byte
}

// expired reports whether the message's expiry has passed at now.
func (m *message) expired(now time.Time) bool {
	return !m.expiry.IsZero() && !now.Before(m.expiry)
}

// publishProps returns the v5 properties a PUBLISH of m carries, without
// per-subscriber ones (subscription identifiers, topic alias), with the
// Message Expiry Interval set to the time remaining ([MQTT-3.3.2-6]).
func (m *message) publishProps(now time.Time) packets.Properties {
	p := m.props
	p.SubscriptionIdentifier = nil
	p.TopicAlias, p.TopicAliasFlag = 0, false
	if !m.expiry.IsZero() {
		// At least 1: a message in flight is resent after its expiry
		// ([MQTT-4.3.3-7]), and a negative interval must not wrap.
		p.MessageExpiryInterval = 1
		if left := m.expiry.Sub(now); left > time.Second {
			p.MessageExpiryInterval = uint32(min((left+time.Second-1)/time.Second, math.MaxUint32))
		}
	} else {
		p.MessageExpiryInterval = 0
	}
	return p
}

// record encodes m for the store.
func (m *message) record() *store.Message {
	rec := &store.Message{
		ID:      m.id,
		Topic:   m.topic,
		Payload: m.payload,
		QoS:     m.qos,
		Retain:  m.retain,
		Created: m.created.UnixNano(),
	}
	if !m.expiry.IsZero() {
		rec.Expiry = m.expiry.UnixNano()
	}
	if m.fromBackup {
		rec.Flags |= store.FlagFromBackup
	}
	rec.Properties = encodeProps(m.props)
	return rec
}

// messageFromRecord rebuilds a message from its store record.
func messageFromRecord(rec *store.Message) (*message, error) {
	m := &message{
		id:         rec.ID,
		topic:      rec.Topic,
		payload:    rec.Payload,
		qos:        rec.QoS,
		retain:     rec.Retain,
		created:    time.Unix(0, rec.Created),
		fromBackup: rec.Flags&store.FlagFromBackup != 0,
		stored:     true,
	}
	if rec.Expiry != 0 {
		m.expiry = time.Unix(0, rec.Expiry)
	}
	if len(rec.Properties) > 0 {
		p, err := decodeProps(rec.Properties)
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", rec.ID, err)
		}
		m.props = p
	}
	return m, nil
}

// encodeProps serialises the properties a message keeps (v5 PUBLISH
// properties) in the MQTT v5 wire form, which the store treats as opaque.
func encodeProps(p packets.Properties) []byte {
	p.SubscriptionIdentifier = nil
	p.TopicAlias, p.TopicAliasFlag = 0, false
	p.MessageExpiryInterval = 0 // expiry is kept as an absolute time
	if reflect.ValueOf(&p).Elem().IsZero() {
		return nil // every 3.1.1 message: skip the encoder's walk of every property
	}
	var b bytes.Buffer
	// AllowResponseInfo: mochi leaves Response Topic and Correlation Data
	// out without it, and they must survive ([MQTT-3.3.2-15], [MQTT-3.3.2-16]).
	p.Encode(packets.Publish, packets.Mods{AllowResponseInfo: true}, &b, 0)
	if b.Len() <= 1 { // just the zero length prefix
		return nil
	}
	return b.Bytes()
}

func decodeProps(b []byte) (packets.Properties, error) {
	var p packets.Properties
	if _, err := p.Decode(packets.Publish, bytes.NewBuffer(b)); err != nil {
		return p, fmt.Errorf("decode message properties: %w", err)
	}
	return p, nil
}
