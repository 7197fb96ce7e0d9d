package mqtttest

import (
	"fmt"

	"github.com/mochi-mqtt/server/v2/packets"
)

// ConnectOptions describe a CONNECT packet. The zero value is a 3.1.1/5
// CONNECT with an empty client identifier, clean session/start 0, keep
// alive 0 and no will, user name or password.
type ConnectOptions struct {
	ClientID string
	// Clean is Clean Session (3.1.1) or Clean Start (5).
	Clean     bool
	KeepAlive uint16
	// Username and Password are sent, with their flags set, when non-nil.
	Username []byte
	Password []byte
	// Will, when non-nil, sets the Will Flag and carries the will message.
	Will *Will
	// Properties are the MQTT 5 CONNECT properties (ignored for 3.1.1).
	// Set SessionExpiryIntervalFlag with SessionExpiryInterval.
	Properties packets.Properties
}

// Will is a will message in a CONNECT packet.
type Will struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	// Properties are the MQTT 5 will properties (Will Delay Interval, ...).
	Properties packets.Properties
}

// ConnectPacket builds the CONNECT packet that opts describe, for tests
// that alter it before sending (a wrong protocol name, say).
func ConnectPacket(opts ConnectOptions, version byte) *packets.Packet {
	pk := &packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: version,
		Properties:      opts.Properties,
		Connect: packets.ConnectParams{
			ClientIdentifier: opts.ClientID,
			Clean:            opts.Clean,
			Keepalive:        opts.KeepAlive,
		},
	}
	if opts.Username != nil {
		pk.Connect.UsernameFlag = true
		pk.Connect.Username = opts.Username
	}
	if opts.Password != nil {
		pk.Connect.PasswordFlag = true
		pk.Connect.Password = opts.Password
	}
	if w := opts.Will; w != nil {
		pk.Connect.WillFlag = true
		pk.Connect.WillTopic = w.Topic
		pk.Connect.WillPayload = w.Payload
		pk.Connect.WillQos = w.QoS
		pk.Connect.WillRetain = w.Retain
		pk.Connect.WillProperties = w.Properties
	}
	return pk
}

// Connect sends the CONNECT that opts describe and returns the CONNACK,
// whatever its reason code; an error means no CONNACK came (another packet
// did, the connection closed, or DefaultTimeout passed).
func (c *Conn) Connect(opts ConnectOptions) (*packets.Packet, error) {
	if err := c.Send(ConnectPacket(opts, c.version)); err != nil {
		return nil, err
	}
	pk, err := c.Next(DefaultTimeout)
	if err != nil {
		return nil, fmt.Errorf("waiting for CONNACK: %w", err)
	}
	if pk.FixedHeader.Type != packets.Connack {
		return nil, fmt.Errorf("expected CONNACK, got %s", Describe(pk))
	}
	return pk, nil
}

// MustConnect is Connect that fails the test unless the broker accepts the
// connection (CONNACK reason/return code 0).
func (c *Conn) MustConnect(opts ConnectOptions) *packets.Packet {
	c.tb.Helper()
	ack, err := c.Connect(opts)
	if err != nil {
		c.tb.Fatalf("mqtttest: connect %q: %v", opts.ClientID, err)
		return nil
	}
	if ack.ReasonCode != 0 {
		c.tb.Fatalf("mqtttest: connect %q refused: %s", opts.ClientID, Describe(ack))
		return nil
	}
	return ack
}

// Sub is a shorthand for one subscription at a QoS.
func Sub(filter string, qos byte) packets.Subscription {
	return packets.Subscription{Filter: filter, Qos: qos}
}

// SubscribePacket builds a SUBSCRIBE with a fresh packet identifier.
func (c *Conn) SubscribePacket(subs ...packets.Subscription) *packets.Packet {
	return &packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1},
		PacketID:    c.NextID(),
		Filters:     subs,
	}
}

// Subscribe subscribes and returns the SUBACK (whatever its reason codes).
func (c *Conn) Subscribe(subs ...packets.Subscription) (*packets.Packet, error) {
	return c.SubscribeWith(c.SubscribePacket(subs...))
}

// SubscribeWith sends a prepared SUBSCRIBE (with MQTT 5 properties such as
// a subscription identifier, say) and waits for its SUBACK.
func (c *Conn) SubscribeWith(pk *packets.Packet) (*packets.Packet, error) {
	if pk.PacketID == 0 {
		pk.PacketID = c.NextID()
	}
	if err := c.Send(pk); err != nil {
		return nil, err
	}
	return c.AwaitAck(packets.Suback, pk.PacketID, DefaultTimeout)
}

// MustSubscribe subscribes and fails the test unless every filter was
// granted (SUBACK codes below 0x80).
func (c *Conn) MustSubscribe(subs ...packets.Subscription) *packets.Packet {
	c.tb.Helper()
	ack, err := c.Subscribe(subs...)
	if err != nil {
		c.tb.Fatalf("mqtttest: subscribe: %v", err)
		return nil
	}
	if len(ack.ReasonCodes) != len(subs) {
		c.tb.Fatalf("mqtttest: subscribe to %d filters: %s", len(subs), Describe(ack))
		return nil
	}
	for i, rc := range ack.ReasonCodes {
		if rc >= 0x80 {
			c.tb.Fatalf("mqtttest: subscribe to %q refused: %s", subs[i].Filter, Describe(ack))
			return nil
		}
	}
	return ack
}

// Unsubscribe unsubscribes from filters and returns the UNSUBACK.
func (c *Conn) Unsubscribe(filters ...string) (*packets.Packet, error) {
	pk := &packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe, Qos: 1},
		PacketID:    c.NextID(),
	}
	for _, f := range filters {
		pk.Filters = append(pk.Filters, packets.Subscription{Filter: f})
	}
	if err := c.Send(pk); err != nil {
		return nil, err
	}
	return c.AwaitAck(packets.Unsuback, pk.PacketID, DefaultTimeout)
}

// PublishPacket builds a PUBLISH; for QoS 1 and 2 it carries a fresh
// packet identifier.
func (c *Conn) PublishPacket(topic string, payload []byte, qos byte, retain bool) *packets.Packet {
	pk := &packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: retain},
		TopicName:   topic,
		Payload:     payload,
	}
	if qos > 0 {
		pk.PacketID = c.NextID()
	}
	return pk
}

// Publish publishes with the whole handshake of its QoS and returns the
// last acknowledgement: nil for QoS 0, the PUBACK for QoS 1, the PUBCOMP for
// QoS 2 (or the PUBREC when it carries an error reason code, since the
// exchange ends there).
func (c *Conn) Publish(topic string, payload []byte, qos byte, retain bool) (*packets.Packet, error) {
	return c.PublishWith(c.PublishPacket(topic, payload, qos, retain))
}

// PublishWith runs the handshake for a prepared PUBLISH (with MQTT 5
// properties, a chosen packet identifier or the DUP flag, say). A QoS > 0
// packet without a packet identifier gets a fresh one.
func (c *Conn) PublishWith(pk *packets.Packet) (*packets.Packet, error) {
	qos := pk.FixedHeader.Qos
	if qos > 0 && pk.PacketID == 0 {
		pk.PacketID = c.NextID()
	}
	if err := c.Send(pk); err != nil {
		return nil, err
	}
	switch qos {
	case 0:
		return nil, nil
	case 1:
		return c.AwaitAck(packets.Puback, pk.PacketID, DefaultTimeout)
	}
	rec, err := c.AwaitAck(packets.Pubrec, pk.PacketID, DefaultTimeout)
	if err != nil {
		return nil, err
	}
	if rec.ReasonCode >= 0x80 {
		return rec, nil
	}
	if err := c.Send(AckPacket(packets.Pubrel, pk.PacketID, 0)); err != nil {
		return nil, err
	}
	return c.AwaitAck(packets.Pubcomp, pk.PacketID, DefaultTimeout)
}

// MustPublish is Publish that fails the test on error or on an error reason
// code in the acknowledgement.
func (c *Conn) MustPublish(topic string, payload []byte, qos byte, retain bool) *packets.Packet {
	c.tb.Helper()
	ack, err := c.Publish(topic, payload, qos, retain)
	if err != nil {
		c.tb.Fatalf("mqtttest: publish to %q at QoS %d: %v", topic, qos, err)
		return nil
	}
	if ack != nil && ack.ReasonCode >= 0x80 {
		c.tb.Fatalf("mqtttest: publish to %q at QoS %d refused: %s", topic, qos, Describe(ack))
		return nil
	}
	return ack
}

// AckPacket builds a PUBACK, PUBREC, PUBREL or PUBCOMP for packet
// identifier id with an MQTT 5 reason code (ignored by 3.1.1 encoding).
func AckPacket(typ byte, id uint16, reason byte) *packets.Packet {
	pk := &packets.Packet{
		FixedHeader: packets.FixedHeader{Type: typ},
		PacketID:    id,
		ReasonCode:  reason,
	}
	if typ == packets.Pubrel {
		pk.FixedHeader.Qos = 1
	}
	return pk
}

// Acknowledge completes the receiver's side of a PUBLISH the broker sent:
// nothing for QoS 0, PUBACK for QoS 1, and for QoS 2 PUBREC, then the
// broker's PUBREL, then PUBCOMP.
func (c *Conn) Acknowledge(pub *packets.Packet) error {
	id := pub.PacketID
	switch pub.FixedHeader.Qos {
	case 0:
		return nil
	case 1:
		return c.Send(AckPacket(packets.Puback, id, 0))
	}
	if err := c.Send(AckPacket(packets.Pubrec, id, 0)); err != nil {
		return err
	}
	if _, err := c.AwaitAck(packets.Pubrel, id, DefaultTimeout); err != nil {
		return err
	}
	return c.Send(AckPacket(packets.Pubcomp, id, 0))
}

// MustAcknowledge is Acknowledge that fails the test on error.
func (c *Conn) MustAcknowledge(pub *packets.Packet) {
	c.tb.Helper()
	if err := c.Acknowledge(pub); err != nil {
		c.tb.Fatalf("mqtttest: acknowledge %s: %v", Describe(pub), err)
	}
}

// Ping sends PINGREQ and waits for PINGRESP.
func (c *Conn) Ping() error {
	if err := c.Send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}}); err != nil {
		return err
	}
	_, err := c.AwaitType(packets.Pingresp, DefaultTimeout)
	return err
}

// Disconnect sends DISCONNECT with an MQTT 5 reason code (ignored for
// 3.1.1). It does not close the connection: the broker should.
func (c *Conn) Disconnect(reason byte) error {
	return c.Send(&packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Disconnect},
		ReasonCode:  reason,
	})
}

// ExpectMessage reads the next packet, requires a PUBLISH on topic with
// payload, and acknowledges it. It returns the PUBLISH for checks of its
// flags and properties.
func (c *Conn) ExpectMessage(topic string, payload []byte) *packets.Packet {
	c.tb.Helper()
	pub := c.ExpectPublish()
	if pub == nil {
		return nil
	}
	if pub.TopicName != topic || string(pub.Payload) != string(payload) {
		c.tb.Fatalf("mqtttest: expected PUBLISH topic=%q payload=%s, got %s", topic, shortBytes(payload), Describe(pub))
		return nil
	}
	c.MustAcknowledge(pub)
	return pub
}
