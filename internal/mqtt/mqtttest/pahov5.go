package mqtttest

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// V5Options configure a paho.golang MQTT 5 client. The zero value gives a
// clean-start client with a generated identifier and keep alive 30 s.
type V5Options struct {
	// ClientID defaults to ClientID(tb).
	ClientID string
	// KeepSession sends Clean Start 0 and, unless Connect sets one, a
	// Session Expiry Interval of 300 s.
	KeepSession bool
	// ManualAck turns off paho's automatic acknowledgements; the test
	// acknowledges with V5Client.Paho.Ack.
	ManualAck bool
	// Connect, when non-nil, adjusts the CONNECT before it is sent
	// (properties, will, credentials).
	Connect func(*paho.Connect)
	// Recorder receives the messages; a new one when nil (so several
	// clients can share one).
	Recorder *Recorder
}

// V5Client is a connected paho.golang client whose received messages go to
// Rec. It is disconnected when the test ends.
type V5Client struct {
	Paho    *paho.Client
	Connack *paho.Connack
	Rec     *Recorder
	ID      string

	tb         testing.TB
	serverDisc chan *paho.Disconnect // the broker's DISCONNECT, if any (buffered 1)
}

// StartV5 dials addr and connects a paho.golang client, failing the test
// unless the broker accepts it.
func StartV5(tb testing.TB, addr string, opts V5Options) *V5Client {
	tb.Helper()
	c, err := DialV5(tb, addr, opts)
	if err != nil {
		tb.Fatalf("mqtttest: %v", err)
	}
	return c
}

// DialV5 is StartV5 returning the error (and the refused CONNACK in the
// client, if one came) instead of failing the test.
func DialV5(tb testing.TB, addr string, opts V5Options) (*V5Client, error) {
	id := opts.ClientID
	if id == "" {
		id = ClientID(tb)
	}
	rec := opts.Recorder
	if rec == nil {
		rec = NewRecorder()
	}
	nc, err := net.DialTimeout("tcp", addr, DefaultTimeout)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	c := &V5Client{Rec: rec, ID: id, tb: tb, serverDisc: make(chan *paho.Disconnect, 1)}
	c.Paho = paho.NewClient(paho.ClientConfig{
		ClientID: id,
		Conn:     nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				p := pr.Packet
				rec.Add(Message{
					Client: id, Topic: p.Topic, Payload: p.Payload, QoS: p.QoS,
					Dup: p.Duplicate(), Retain: p.Retain, PacketID: p.PacketID,
					Properties: p.Properties,
				})
				return true, nil
			},
		},
		OnServerDisconnect: func(d *paho.Disconnect) {
			select {
			case c.serverDisc <- d:
			default:
			}
		},
		OnClientError:              func(error) {},
		EnableManualAcknowledgment: opts.ManualAck,
		PacketTimeout:              DefaultTimeout,
	})
	cp := &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: !opts.KeepSession}
	if opts.KeepSession {
		expiry := uint32(300)
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &expiry}
	}
	if opts.Connect != nil {
		opts.Connect(cp)
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	ack, err := c.Paho.Connect(ctx, cp)
	c.Connack = ack
	if err != nil {
		_ = nc.Close()
		return c, fmt.Errorf("paho v5 connect %q to %s: %w", id, addr, err)
	}
	tb.Cleanup(func() {
		_ = c.Paho.Disconnect(&paho.Disconnect{ReasonCode: 0})
		_ = nc.Close()
	})
	return c, nil
}

// Subscribe subscribes to filter at qos and fails the test unless granted.
func (c *V5Client) Subscribe(filter string, qos byte) *paho.Suback {
	c.tb.Helper()
	return c.SubscribeWith(&paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
}

// SubscribeWith sends a prepared SUBSCRIBE and fails the test unless every
// filter is granted.
func (c *V5Client) SubscribeWith(s *paho.Subscribe) *paho.Suback {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	ack, err := c.Paho.Subscribe(ctx, s)
	if err != nil {
		c.tb.Fatalf("mqtttest: %s subscribe: %v", c.ID, err)
		return nil
	}
	for i, rc := range ack.Reasons {
		if rc >= 0x80 {
			c.tb.Fatalf("mqtttest: %s subscribe to %q refused with %#02x", c.ID, s.Subscriptions[i].Topic, rc)
		}
	}
	return ack
}

// Publish publishes and waits for the whole handshake; it fails the test
// on error. For QoS 0 the response carries no information.
func (c *V5Client) Publish(topic string, payload []byte, qos byte, retain bool) *paho.PublishResponse {
	c.tb.Helper()
	return c.PublishWith(&paho.Publish{Topic: topic, Payload: payload, QoS: qos, Retain: retain})
}

// PublishWith publishes a prepared message (with properties) and fails the
// test on error or on an error reason code.
func (c *V5Client) PublishWith(p *paho.Publish) *paho.PublishResponse {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	resp, err := c.Paho.Publish(ctx, p)
	if err != nil {
		c.tb.Fatalf("mqtttest: %s publish to %q at QoS %d: %v", c.ID, p.Topic, p.QoS, err)
		return nil
	}
	if resp != nil && resp.ReasonCode >= 0x80 {
		c.tb.Fatalf("mqtttest: %s publish to %q refused with %#02x", c.ID, p.Topic, resp.ReasonCode)
	}
	return resp
}

// ServerDisconnect waits at most d for a DISCONNECT from the broker and
// returns it, or nil if none came.
func (c *V5Client) ServerDisconnect(d time.Duration) *paho.Disconnect {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case disc := <-c.serverDisc:
		return disc
	case <-timer.C:
		return nil
	}
}

// Disconnect sends DISCONNECT with reason (0: normal, 4: with will).
func (c *V5Client) Disconnect(reason byte) error {
	return c.Paho.Disconnect(&paho.Disconnect{ReasonCode: reason})
}
