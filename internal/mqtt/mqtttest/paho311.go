package mqtttest

import (
	"fmt"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// V311Options configure a paho.mqtt.golang MQTT 3.1.1 client. The zero
// value gives a clean-session client with a generated identifier, keep
// alive 30 s and no automatic reconnection.
type V311Options struct {
	// ClientID defaults to ClientID(tb).
	ClientID string
	// KeepSession sends Clean Session 0.
	KeepSession bool
	// Options, when non-nil, adjusts the client options before connecting
	// (will, credentials, manual acknowledgement, ...).
	Options func(*mqtt.ClientOptions)
	// Recorder receives the messages; a new one when nil.
	Recorder *Recorder
}

// V311Client is a connected paho.mqtt.golang client whose received messages
// go to Rec. It is disconnected when the test ends.
type V311Client struct {
	Paho mqtt.Client
	Rec  *Recorder
	ID   string

	tb testing.TB
}

// StartV311 connects a paho.mqtt.golang client to addr, failing the test
// unless the broker accepts it.
func StartV311(tb testing.TB, addr string, opts V311Options) *V311Client {
	tb.Helper()
	c, err := DialV311(tb, addr, opts)
	if err != nil {
		tb.Fatalf("mqtttest: %v", err)
	}
	return c
}

// DialV311 is StartV311 returning the error instead of failing the test.
func DialV311(tb testing.TB, addr string, opts V311Options) (*V311Client, error) {
	id := opts.ClientID
	if id == "" {
		id = ClientID(tb)
	}
	rec := opts.Recorder
	if rec == nil {
		rec = NewRecorder()
	}
	o := mqtt.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetClientID(id).
		SetProtocolVersion(4).
		SetCleanSession(!opts.KeepSession).
		SetKeepAlive(30 * time.Second).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(DefaultTimeout).
		SetWriteTimeout(DefaultTimeout).
		SetOrderMatters(true).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			rec.Add(Message{
				Client: id, Topic: m.Topic(), Payload: m.Payload(), QoS: m.Qos(),
				Dup: m.Duplicate(), Retain: m.Retained(), PacketID: m.MessageID(),
			})
		})
	if opts.Options != nil {
		opts.Options(o)
	}
	c := &V311Client{Paho: mqtt.NewClient(o), Rec: rec, ID: id, tb: tb}
	if err := wait311(c.Paho.Connect()); err != nil {
		return nil, fmt.Errorf("paho 3.1.1 connect %q to %s: %w", id, addr, err)
	}
	tb.Cleanup(func() { c.Paho.Disconnect(50) })
	return c, nil
}

// wait311 waits for a paho.mqtt.golang token, bounded by DefaultTimeout.
func wait311(tok mqtt.Token) error {
	if !tok.WaitTimeout(DefaultTimeout) {
		return fmt.Errorf("no answer within %v", DefaultTimeout)
	}
	return tok.Error()
}

// Subscribe subscribes to filter at qos (messages go to Rec) and fails the
// test unless the broker grants it.
func (c *V311Client) Subscribe(filter string, qos byte) {
	c.tb.Helper()
	tok := c.Paho.Subscribe(filter, qos, nil)
	if err := wait311(tok); err != nil {
		c.tb.Fatalf("mqtttest: %s subscribe to %q: %v", c.ID, filter, err)
		return
	}
	if st, ok := tok.(*mqtt.SubscribeToken); ok {
		if granted, ok := st.Result()[filter]; ok && granted >= 0x80 {
			c.tb.Fatalf("mqtttest: %s subscribe to %q refused (return code %#02x)", c.ID, filter, granted)
		}
	}
}

// Publish publishes and waits for the whole handshake of its QoS; it fails
// the test on error.
func (c *V311Client) Publish(topic string, payload []byte, qos byte, retain bool) {
	c.tb.Helper()
	if err := wait311(c.Paho.Publish(topic, qos, retain, payload)); err != nil {
		c.tb.Fatalf("mqtttest: %s publish to %q at QoS %d: %v", c.ID, topic, qos, err)
	}
}
