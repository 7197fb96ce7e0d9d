package mqtt

// MQTT 5.0 conformance, sections 3.1 CONNECT and 3.2 CONNACK.

import (
	"bytes"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// v5ConnectFlagsAt is the index of the Connect Flags byte in an encoded
// CONNECT shorter than 128 bytes: header, length, "MQTT" (2+4), version.
const v5ConnectFlagsAt = 1 + 1 + 6 + 1

// v5Will gives the CONNECT a will on topic with payload (delay seconds).
func v5Will(topic, payload string, qos byte, retain bool, delay uint32) func(*mqtttest.ConnectOptions) {
	return func(o *mqtttest.ConnectOptions) {
		o.Will = &mqtttest.Will{Topic: topic, Payload: []byte(payload), QoS: qos, Retain: retain}
		o.Will.Properties.WillDelayInterval = delay
	}
}

// v5Watch connects a clean client subscribed to filter at QoS 2.
func v5Watch(t *testing.T, ts *testServer, id, filter string) *mqtttest.Conn {
	t.Helper()
	c, _ := v5Open(t, ts, id)
	c.MustSubscribe(mqtttest.Sub(filter, 2))
	return c
}

// v5RefusedConnect sends raw CONNECT bytes and requires the close, after a
// CONNACK with reason rc if the server sent one.
func v5RefusedConnect(t *testing.T, ts *testServer, raw []byte, rc byte) {
	t.Helper()
	c := v5Dial(t, ts)
	c.SendRaw(raw)
	v5ExpectClosed(t, c, packets.Connack, rc, true)
}

// v5RefusingPolicy refuses every client with its reason code.
type v5RefusingPolicy struct{ rc byte }

func (p v5RefusingPolicy) Connect(*config.Config, ConnInfo) (Client, byte) { return nil, p.rc }

func TestV5Connect(t *testing.T) {
	v5Case(t, "MQTT-3.1.0-1", func(t *testing.T, ts *testServer) {
		watch := v5Watch(t, ts, "watch", "#")
		for _, pk := range []*packets.Packet{
			{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "t", Payload: []byte("x")},
			{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}},
		} {
			c := v5Dial(t, ts)
			c.MustSend(pk)
			if pks := c.ExpectClosed(v5Close); len(pks) != 0 {
				t.Fatalf("%s before CONNECT answered with %s", mqtttest.Describe(pk), v5Describe(pks))
			}
		}
		watch.ExpectNothing(v5Quiet)
	})
	v5Case(t, "MQTT-3.1.0-2", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.MustSend(mqtttest.ConnectPacket(mqtttest.ConnectOptions{ClientID: "c", Clean: true}, mqtttest.V5))
		v5ExpectDisconnect(t, c, 0x82)
	})
	v5Case(t, "MQTT-3.1.2-1", func(t *testing.T, ts *testServer) {
		raw := v5ConnectBytes(t, mqtttest.ConnectOptions{ClientID: "c", Clean: true})
		copy(raw[4:8], "MQTX")
		v5RefusedConnect(t, ts, raw, 0x84)
	})
	v5Case(t, "MQTT-3.1.2-2", func(t *testing.T, ts *testServer) {
		raw := v5ConnectBytes(t, mqtttest.ConnectOptions{ClientID: "c", Clean: true})
		raw[8] = 6 // protocol version 6
		c := v5Dial(t, ts)
		c.SendRaw(raw)
		kind, frames := c.WaitClosed(v5Close)
		if !kind.ClosedByBroker() {
			t.Fatalf("connection %s, want closed by the server", kind)
		}
		// A server that does not speak the version may answer in the 3.1.1
		// layout (return code 0x01) or the 5.0 one (0x84).
		if len(frames) > 1 || len(frames) == 1 && (frames[0].Type() != packets.Connack || len(frames[0].Body) < 2 ||
			frames[0].Body[1] != 0x01 && frames[0].Body[1] != 0x84) {
			t.Fatalf("before the close got %v, want at most a CONNACK 0x84/0x01", frames)
		}
	})
	v5Case(t, "MQTT-3.1.2-3", func(t *testing.T, ts *testServer) {
		raw := v5ConnectBytes(t, mqtttest.ConnectOptions{ClientID: "c", Clean: true})
		raw[v5ConnectFlagsAt] |= 0x01
		v5RefusedConnect(t, ts, raw, 0x81)
	})
	v5Case(t, "MQTT-3.1.2-4", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c", v5Persistent)
		c.MustSubscribe(mqtttest.Sub("t", 1))
		v5Offline(t, ts, c)
		c, ack := v5Open(t, ts, "c", v5Expiry(60))
		if ack.SessionPresent {
			t.Fatal("Clean Start 1: Session Present 1")
		}
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("t", []byte("x"), 1, false)
		c.ExpectNothing(v5Quiet) // the old subscription is gone
	})
	v5Case(t, "MQTT-3.1.2-5", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c", v5Persistent)
		c.MustSubscribe(mqtttest.Sub("t", 1))
		v5Offline(t, ts, c)
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("t", []byte("while away"), 1, false)
		c, ack := v5Open(t, ts, "c", v5Persistent)
		if !ack.SessionPresent {
			t.Fatal("Clean Start 0 with a session: Session Present 0")
		}
		c.ExpectMessage("t", []byte("while away"))
		pub.MustPublish("t", []byte("now"), 1, false)
		c.ExpectMessage("t", []byte("now"))
	})
	v5Case(t, "MQTT-3.1.2-6", func(t *testing.T, ts *testServer) {
		c, ack := v5Open(t, ts, "c", v5Persistent)
		if ack.SessionPresent {
			t.Fatal("Clean Start 0 without a session: Session Present 1")
		}
		c.MustSubscribe(mqtttest.Sub("t", 1))
		v5Offline(t, ts, c)
		if _, ack := v5Open(t, ts, "c", v5Persistent); !ack.SessionPresent {
			t.Fatal("the session created by Clean Start 0 was not kept")
		}
	})
	v5Case(t, "MQTT-3.1.2-7", func(t *testing.T, ts *testServer) {
		watch := v5Watch(t, ts, "watch", "will/#")
		c, _ := v5Open(t, ts, "c", v5Persistent, v5Will("will/c", "gone", 1, false, 0))
		v5Offline(t, ts, c)
		watch.ExpectMessage("will/c", []byte("gone"))
	})
	v5Case(t, "MQTT-3.1.2-8", func(t *testing.T, ts *testServer) {
		watch := v5Watch(t, ts, "watch", "will/#")
		// Published once the Will Delay Interval has passed, not before.
		c, _ := v5Open(t, ts, "delayed", v5Expiry(60), v5Will("will/delayed", "late", 0, false, 1))
		closed := time.Now()
		v5Offline(t, ts, c)
		watch.ExpectNothing(500 * time.Millisecond)
		watch.ExpectWithin(packets.Publish, 3*time.Second)
		if d := time.Since(closed); d < time.Second {
			t.Fatalf("will published %v after the close, before its 1 s delay", d)
		}
		// Or when the session ends first (expiry 0 ends it at the close).
		c, _ = v5Open(t, ts, "ends", v5Will("will/ends", "now", 0, false, 30))
		v5Offline(t, ts, c)
		watch.ExpectMessage("will/ends", []byte("now"))
		// Never after DISCONNECT 0x00.
		c, _ = v5Open(t, ts, "normal", v5Will("will/normal", "no", 0, false, 0))
		c.Disconnect(0)
		c.ExpectClosed(v5Close)
		watch.ExpectNothing(v5Quiet)
	})
	v5Case(t, "MQTT-3.1.2-9", func(t *testing.T, ts *testServer) {
		// Will Flag 1 but no will properties, topic or payload follow.
		raw := v5ConnectBytes(t, mqtttest.ConnectOptions{ClientID: "c", Clean: true})
		raw[v5ConnectFlagsAt] |= 0x04
		v5RefusedConnect(t, ts, raw, 0x81)
	})
	v5Case(t, "MQTT-3.1.2-10", func(t *testing.T, ts *testServer) {
		watch := v5Watch(t, ts, "watch", "will/#")
		// Published once, then gone from the session: the session ending
		// later publishes nothing.
		c, _ := v5Open(t, ts, "c", v5Expiry(1), v5Will("will/c", "once", 0, false, 0))
		v5Offline(t, ts, c)
		watch.ExpectMessage("will/c", []byte("once"))
		// Removed by DISCONNECT 0x00: the session ending (expiry 1 s, before
		// the 5 s delay) does not publish it.
		c, _ = v5Open(t, ts, "d", v5Expiry(1), v5Will("will/d", "never", 0, false, 5))
		c.Disconnect(0)
		c.ExpectClosed(v5Close)
		watch.ExpectNothing(1500 * time.Millisecond)
	})
	for _, tc := range []struct {
		id    string
		flags byte // OR-ed into the Connect Flags without a will
	}{
		{"MQTT-3.1.2-11", 0x08}, // Will QoS 1
		{"MQTT-3.1.2-13", 0x20}, // Will Retain
	} {
		v5Case(t, tc.id, func(t *testing.T, ts *testServer) {
			raw := v5ConnectBytes(t, mqtttest.ConnectOptions{ClientID: "c", Clean: true})
			raw[v5ConnectFlagsAt] |= tc.flags
			c := v5Dial(t, ts)
			c.SendRaw(raw)
			pks := c.ExpectClosed(v5Close)
			if len(pks) > 1 || len(pks) == 1 && (pks[0].FixedHeader.Type != packets.Connack || pks[0].ReasonCode < 0x80) {
				t.Fatalf("got %s, want at most a refusing CONNACK", v5Describe(pks))
			}
		})
	}
	v5Case(t, "MQTT-3.1.2-12", func(t *testing.T, ts *testServer) {
		raw := v5ConnectBytes(t, mqtttest.ConnectOptions{ClientID: "c", Clean: true, Will: &mqtttest.Will{Topic: "w", Payload: []byte("x")}})
		raw[v5ConnectFlagsAt] |= 0x18 // Will QoS 3
		c := v5Dial(t, ts)
		c.SendRaw(raw)
		pks := c.ExpectClosed(v5Close)
		if len(pks) > 1 || len(pks) == 1 && (pks[0].FixedHeader.Type != packets.Connack || pks[0].ReasonCode < 0x80) {
			t.Fatalf("got %s, want at most a refusing CONNACK", v5Describe(pks))
		}
	})
	for _, tc := range []struct {
		id     string
		retain bool
	}{{"MQTT-3.1.2-14", false}, {"MQTT-3.1.2-15", true}} {
		v5Case(t, tc.id, func(t *testing.T, ts *testServer) {
			watch, _ := v5Open(t, ts, "watch")
			watch.MustSubscribe(packets.Subscription{Filter: "will/#", Qos: 1, RetainAsPublished: true})
			c, _ := v5Open(t, ts, "c", v5Will("will/c", "gone", 1, tc.retain, 0))
			v5Offline(t, ts, c)
			if got := watch.ExpectMessage("will/c", []byte("gone")); got.FixedHeader.Retain != tc.retain {
				t.Fatalf("will published with RETAIN %v, want %v", got.FixedHeader.Retain, tc.retain)
			}
			late := v5Watch(t, ts, "late", "will/#")
			if tc.retain {
				late.ExpectMessage("will/c", []byte("gone"))
			} else {
				late.ExpectNothing(v5Quiet)
			}
		})
	}
	// User Name and Password flags must agree with the payload.
	withUser := func(t *testing.T) []byte {
		return v5ConnectBytes(t, mqtttest.ConnectOptions{ClientID: "c", Clean: true, Username: []byte("u"), Password: []byte("p")})
	}
	for _, tc := range []struct {
		id    string
		raw   func(t *testing.T) []byte
		clear byte // flags cleared; the fields stay in the payload
	}{
		{"MQTT-3.1.2-16", func(t *testing.T) []byte {
			return v5ConnectBytes(t, mqtttest.ConnectOptions{ClientID: "c", Clean: true, Username: []byte("u")})
		}, 0x80},
		{"MQTT-3.1.2-17", func(t *testing.T) []byte {
			b := v5ConnectBytes(t, mqtttest.ConnectOptions{ClientID: "c", Clean: true})
			b[v5ConnectFlagsAt] |= 0x80
			return b
		}, 0},
		{"MQTT-3.1.2-18", withUser, 0x40},
		{"MQTT-3.1.2-19", func(t *testing.T) []byte {
			b := v5ConnectBytes(t, mqtttest.ConnectOptions{ClientID: "c", Clean: true, Username: []byte("u")})
			b[v5ConnectFlagsAt] |= 0x40
			return b
		}, 0},
	} {
		v5Case(t, tc.id, func(t *testing.T, ts *testServer) {
			raw := tc.raw(t)
			raw[v5ConnectFlagsAt] &^= tc.clear
			v5RefusedConnect(t, ts, raw, 0x81)
		})
	}
	v5Case(t, "MQTT-3.1.2-22", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c", func(o *mqtttest.ConnectOptions) { o.KeepAlive = 1 })
		start := time.Now()
		c.ExpectNothing(900 * time.Millisecond) // within the keep alive
		v5ExpectDisconnect(t, c, 0x8D)
		if d := time.Since(start); d < 1250*time.Millisecond || d > 3*time.Second {
			t.Fatalf("closed after %v, want about 1.5 x keep alive (1.5 s)", d)
		}
		// A client that keeps talking stays connected.
		c, _ = v5Open(t, ts, "d", func(o *mqtttest.ConnectOptions) { o.KeepAlive = 1 })
		for range 4 {
			time.Sleep(500 * time.Millisecond) // the client's idle time is the test's subject
			if err := c.Ping(); err != nil {
				t.Fatal(err)
			}
		}
	})
	v5Case(t, "MQTT-3.1.2-23", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "kept", v5Persistent)
		c.MustSubscribe(mqtttest.Sub("t", 1))
		v5Offline(t, ts, c)
		c, _ = v5Open(t, ts, "gone", v5Expiry(0))
		c.MustSubscribe(mqtttest.Sub("t", 1))
		v5Offline(t, ts, c)
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("t", []byte("x"), 1, false)
		kept, ack := v5Open(t, ts, "kept", v5Persistent)
		if !ack.SessionPresent {
			t.Fatal("session with expiry > 0 was not kept")
		}
		kept.ExpectMessage("t", []byte("x"))
		if _, ack := v5Open(t, ts, "gone", v5Persistent); ack.SessionPresent {
			t.Fatal("session with expiry 0 outlived its connection")
		}
	})
	v5Case(t, "MQTT-3.1.2-24", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c", func(o *mqtttest.ConnectOptions) { o.Properties.MaximumPacketSize = 100 })
		c.MustSubscribe(mqtttest.Sub("t", 1))
		pub, _ := v5Open(t, ts, "pub")
		for _, n := range []int{200, 100, 50} {
			pub.MustPublish("t", bytes.Repeat([]byte("p"), n), 0, false)
		}
		f := v5NextFrame(t, c, packets.Publish)
		if len(f.Bytes()) > 100 {
			t.Fatalf("sent a %d-byte packet to a client whose maximum is 100", len(f.Bytes()))
		}
		if pk, _ := f.Decode(mqtttest.V5); len(pk.Payload) != 50 {
			t.Fatalf("got %s, want only the 50-byte message", mqtttest.Describe(pk))
		}
		c.ExpectNothing(v5Quiet)
	})
	v5Case(t, "MQTT-3.1.2-25", func(t *testing.T, ts *testServer) {
		// Receive Maximum 1: the too-large QoS 1 message must not hold the
		// only slot, and must not come back as unacknowledged.
		opts := func(o *mqtttest.ConnectOptions) {
			v5Persistent(o)
			o.Properties.MaximumPacketSize, o.Properties.ReceiveMaximum = 100, 1
		}
		c, _ := v5Open(t, ts, "c", opts)
		c.MustSubscribe(mqtttest.Sub("t", 1))
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("t", bytes.Repeat([]byte("L"), 200), 1, false)
		pub.MustPublish("t", []byte("small"), 1, false)
		got := c.ExpectPublish()
		if string(got.Payload) != "small" {
			t.Fatalf("got %s, want the small message", mqtttest.Describe(got))
		}
		v5Offline(t, ts, c)
		c, _ = v5Open(t, ts, "c", opts)
		if again := c.ExpectPublish(); string(again.Payload) != "small" || !again.FixedHeader.Dup {
			t.Fatalf("resent %s, want only the small message with DUP", mqtttest.Describe(again))
		} else {
			c.MustAcknowledge(again)
		}
		c.ExpectNothing(v5Quiet)
	})
	v5Case(t, "MQTT-3.1.2-26", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c", func(o *mqtttest.ConnectOptions) { o.Properties.TopicAliasMaximum = 2 })
		c.MustSubscribe(mqtttest.Sub("t/#", 0))
		pub, _ := v5Open(t, ts, "pub")
		topics := []string{"t/a", "t/b", "t/c", "t/d", "t/a", "t/c"}
		for _, tp := range topics {
			pub.MustPublish(tp, []byte("x"), 0, false)
		}
		aliases := map[uint16]string{}
		for _, want := range topics {
			got := c.ExpectPublish()
			p := got.Properties
			if p.TopicAliasFlag && (p.TopicAlias == 0 || p.TopicAlias > 2) {
				t.Fatalf("Topic Alias %d beyond the client's maximum 2", p.TopicAlias)
			}
			name := got.TopicName
			if p.TopicAliasFlag {
				if name == "" {
					name = aliases[p.TopicAlias]
				} else {
					aliases[p.TopicAlias] = name
				}
			}
			if name != want {
				t.Fatalf("message for %q arrived as %q", want, name)
			}
		}
	})
	v5Case(t, "MQTT-3.1.2-27", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.MustSubscribe(mqtttest.Sub("t/#", 0))
		pub, _ := v5Open(t, ts, "pub")
		for range 3 {
			pub.MustPublish("t/a", []byte("x"), 0, false)
			if got := c.ExpectPublish(); got.Properties.TopicAliasFlag || got.TopicName != "t/a" {
				t.Fatalf("got %s with Topic Alias %d, want none", mqtttest.Describe(got), got.Properties.TopicAlias)
			}
		}
	})
	v5Case(t, "MQTT-3.1.2-28", func(t *testing.T, ts *testServer) {
		for _, rri := range []byte{0, 1} {
			_, ack := v5Open(t, ts, "c", func(o *mqtttest.ConnectOptions) { o.Properties.RequestResponseInfo = rri })
			if rri == 0 && ack.Properties.ResponseInfo != "" {
				t.Fatalf("Response Information %q sent although not requested", ack.Properties.ResponseInfo)
			}
		}
	})
	v5Case(t, "MQTT-3.1.2-29", func(t *testing.T, ts *testServer) {
		// With Request Problem Information 0, no packet other than PUBLISH,
		// CONNACK or DISCONNECT carries a Reason String or User Property.
		c, _ := v5Open(t, ts, "c", func(o *mqtttest.ConnectOptions) {
			o.Properties.RequestProblemInfo, o.Properties.RequestProblemInfoFlag = 0, true
		})
		var acks []*packets.Packet
		ack, err := c.Subscribe(mqtttest.Sub("t", 1), mqtttest.Sub("a/#/b", 1)) // the second is refused
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, ack)
		ack, err = c.Unsubscribe("never")
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, ack)
		ack, err = c.Publish("nobody", []byte("x"), 1, false) // 0x10 no matching subscribers
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, ack)
		pub := c.PublishPacket("nobody", []byte("x"), 2, false)
		c.MustSend(pub)
		ack, err = c.AwaitAck(packets.Pubrec, pub.PacketID, mqtttest.DefaultTimeout)
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, ack)
		c.MustSend(mqtttest.AckPacket(packets.Pubrel, pub.PacketID+100, 0)) // unknown: PUBCOMP 0x92
		ack, err = c.AwaitAck(packets.Pubcomp, pub.PacketID+100, mqtttest.DefaultTimeout)
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, ack)
		for _, a := range acks {
			if a.Properties.ReasonString != "" || len(a.Properties.User) > 0 {
				t.Fatalf("%s carries a Reason String or User Property", mqtttest.Describe(a))
			}
		}
	})
	v5Case(t, "MQTT-3.1.3-1", func(t *testing.T, ts *testServer) {
		// In order: accepted, every field used as what it is.
		watch := v5Watch(t, ts, "watch", "will/#")
		c, _ := v5Open(t, ts, "c", v5Will("will/c", "payload", 0, false, 0))
		v5Offline(t, ts, c)
		watch.ExpectMessage("will/c", []byte("payload"))
		// User Name before the will fields: the payload does not parse.
		var body []byte
		body = append(body, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x80|0x04|0x02, 0, 0, 0)
		body = append(body, v5Str("c2")...)
		body = append(body, v5Str("user")...)
		body = append(body, 0) // will properties
		body = append(body, v5Str("will/c2")...)
		body = append(body, v5Str("payload")...)
		v5RefusedConnect(t, ts, v5Frame(0x10, body), 0x81)
		watch.ExpectNothing(v5Quiet)
	})
	v5Case(t, "MQTT-3.1.3-2", func(t *testing.T, ts *testServer) {
		a, _ := v5Open(t, ts, "alpha", v5Persistent)
		a.MustSubscribe(mqtttest.Sub("a", 1))
		v5Offline(t, ts, a)
		b, _ := v5Open(t, ts, "beta", v5Persistent)
		b.MustSubscribe(mqtttest.Sub("b", 1))
		v5Offline(t, ts, b)
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("a", []byte("for alpha"), 1, false)
		pub.MustPublish("b", []byte("for beta"), 1, false)
		a, _ = v5Open(t, ts, "alpha", v5Persistent)
		a.ExpectMessage("a", []byte("for alpha"))
		a.ExpectNothing(v5Quiet)
	})
	v5Case(t, "MQTT-3.1.3-3", func(t *testing.T, ts *testServer) {
		// The payload ends where the Client Identifier should be.
		v5RefusedConnect(t, ts, v5Frame(0x10, []byte{0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 0, 0}), 0x81)
	})
	v5Case(t, "MQTT-3.1.3-4", func(t *testing.T, ts *testServer) {
		raw := v5Frame(0x10, append([]byte{0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 0, 0}, v5Str("id\xff")...))
		v5RefusedConnect(t, ts, raw, 0x81)
	})
	v5Case(t, "MQTT-3.1.3-5", func(t *testing.T, ts *testServer) {
		for _, id := range []string{"a", "Z9", "0123456789abcdefghijKLM"} {
			c, ack := v5Open(t, ts, id)
			if ack.Properties.AssignedClientID != "" {
				t.Fatalf("client id %q replaced by %q", id, ack.Properties.AssignedClientID)
			}
			c.Disconnect(0)
		}
	})
	v5Case(t, "MQTT-3.1.3-6", func(t *testing.T, ts *testServer) {
		seen := map[string]bool{}
		for range 5 {
			_, ack := v5Open(t, ts, "")
			id := ack.Properties.AssignedClientID
			if id == "" || seen[id] {
				t.Fatalf("assigned client id %q is empty or not unique (%v)", id, seen)
			}
			seen[id] = true
		}
	})
	v5Case(t, "MQTT-3.1.3-7", func(t *testing.T, ts *testServer) {
		c, ack := v5Open(t, ts, "", v5Persistent)
		id := ack.Properties.AssignedClientID
		if id == "" {
			t.Fatal("no Assigned Client Identifier for an empty client id")
		}
		c.MustSubscribe(mqtttest.Sub("t", 1))
		v5Offline(t, ts, c)
		// The session was created under the assigned id.
		if _, ack := v5Open(t, ts, id, v5Persistent); !ack.SessionPresent {
			t.Fatalf("no session under the assigned id %q", id)
		}
	})
	v5Case(t, "MQTT-3.1.3-8", func(t *testing.T, ts *testServer) {
		c := v5Dial(t, ts)
		c.MustSend(mqtttest.ConnectPacket(mqtttest.ConnectOptions{ClientID: "refused", Clean: true}, mqtttest.V5))
		v5ExpectClosed(t, c, packets.Connack, 0x85, false)
	}, func(ts *testServer) { ts.opts.Policy = v5RefusingPolicy{0x85} })
	v5Case(t, "MQTT-3.1.3-9", func(t *testing.T, ts *testServer) {
		watch := v5Watch(t, ts, "watch", "will/#")
		c, _ := v5Open(t, ts, "c", v5Persistent, v5Will("will/c", "x", 0, false, 1))
		v5Offline(t, ts, c)
		v5Open(t, ts, "c", v5Persistent)
		watch.ExpectNothing(1500 * time.Millisecond)
	})
	v5Case(t, "MQTT-3.1.3-10", func(t *testing.T, ts *testServer) {
		watch := v5Watch(t, ts, "watch", "will/#")
		users := []packets.UserProperty{{Key: "k", Val: "2"}, {Key: "a", Val: "1"}, {Key: "k", Val: "0"}}
		c, _ := v5Open(t, ts, "c", v5Will("will/c", "x", 0, false, 0), func(o *mqtttest.ConnectOptions) {
			o.Will.Properties.User = users
		})
		v5Offline(t, ts, c)
		got := watch.ExpectMessage("will/c", []byte("x"))
		if len(got.Properties.User) != len(users) {
			t.Fatalf("will user properties %v, want %v", got.Properties.User, users)
		}
		for i := range users {
			if got.Properties.User[i] != users[i] {
				t.Fatalf("will user properties %v, want %v in order", got.Properties.User, users)
			}
		}
	})
	v5Case(t, "MQTT-3.1.3-11", func(t *testing.T, ts *testServer) {
		var body []byte
		body = append(body, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02|0x04, 0, 0, 0)
		body = append(body, v5Str("c")...)
		body = append(body, 0)
		body = append(body, v5Str("will/\xc0")...)
		body = append(body, v5Str("x")...)
		v5RefusedConnect(t, ts, v5Frame(0x10, body), 0x81)
	})
	v5Case(t, "MQTT-3.1.3-12", func(t *testing.T, ts *testServer) {
		var body []byte
		body = append(body, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02|0x80, 0, 0, 0)
		body = append(body, v5Str("c")...)
		body = append(body, v5Str("user\xed\xbf\xbf")...)
		v5RefusedConnect(t, ts, v5Frame(0x10, body), 0x81)
	})
	v5Case(t, "MQTT-3.1.4-1", func(t *testing.T, ts *testServer) {
		ok := v5ConnectBytes(t, mqtttest.ConnectOptions{ClientID: "c", Clean: true})
		for _, raw := range [][]byte{
			ok[:len(ok)-1],                        // truncated by one byte, framed as such
			append(append([]byte{}, ok...), 0xff), // one byte too many
		} {
			body := raw[2:]
			v5RefusedConnect(t, ts, v5Frame(0x10, body), 0x81)
		}
		// Receive Maximum 0 is a Protocol Error.
		body := append([]byte{0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 0, 3, 0x21, 0, 0}, v5Str("c")...)
		v5RefusedConnect(t, ts, v5Frame(0x10, body), 0x82)
	})
	v5Case(t, "MQTT-3.1.4-2", func(t *testing.T, ts *testServer) {
		c := v5Dial(t, ts)
		c.MustSend(mqtttest.ConnectPacket(mqtttest.ConnectOptions{ClientID: "c", Clean: true,
			Username: []byte("nobody"), Password: []byte("wrong")}, mqtttest.V5))
		v5ExpectClosed(t, c, packets.Connack, 0x86, false)
	})
	v5Case(t, "MQTT-3.1.4-3", func(t *testing.T, ts *testServer) {
		old, _ := v5Open(t, ts, "same")
		v5Open(t, ts, "same")
		v5ExpectDisconnect(t, old, 0x8E)
	})
	v5Case(t, "MQTT-3.1.4-4", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c", v5Persistent)
		c.MustSubscribe(mqtttest.Sub("t", 1))
		v5Offline(t, ts, c)
		if _, ack := v5Open(t, ts, "c", v5Persistent); !ack.SessionPresent {
			t.Fatal("Clean Start 0: existing session not resumed")
		}
		if _, ack := v5Open(t, ts, "c", v5Expiry(3600)); ack.SessionPresent {
			t.Fatal("Clean Start 1: existing session not discarded")
		}
	})
	v5Case(t, "MQTT-3.1.4-5", func(t *testing.T, ts *testServer) {
		c := v5Dial(t, ts)
		ack, err := c.Connect(mqtttest.ConnectOptions{ClientID: "c", Clean: true})
		if err != nil || ack.ReasonCode != 0 {
			t.Fatalf("CONNACK %v, %v: want reason 0x00", ack, err)
		}
	})
	v5Case(t, "MQTT-3.1.4-6", func(t *testing.T, ts *testServer) {
		// A refused CONNECT followed at once by a retained PUBLISH and a
		// SUBSCRIBE: neither is processed.
		raw := v5ConnectBytes(t, mqtttest.ConnectOptions{ClientID: "c", Clean: true, Username: []byte("nobody"), Password: []byte("x")})
		c := v5Dial(t, ts)
		for _, pk := range []*packets.Packet{c.PublishPacket("after/refusal", []byte("x"), 0, true), c.SubscribePacket(mqtttest.Sub("#", 0))} {
			b, err := mqtttest.Encode(pk, mqtttest.V5)
			if err != nil {
				t.Fatal(err)
			}
			raw = append(raw, b...)
		}
		c.SendRaw(raw)
		v5ExpectClosed(t, c, packets.Connack, 0x86, false)
		late := v5Watch(t, ts, "late", "after/#")
		late.ExpectNothing(v5Quiet)
	})
}

func TestV5Connack(t *testing.T) {
	v5Case(t, "MQTT-3.2.0-1", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c", v5Persistent)
		c.MustSubscribe(mqtttest.Sub("t", 1))
		v5Offline(t, ts, c)
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("t", []byte("queued"), 1, false)
		c = v5Dial(t, ts)
		o := mqtttest.ConnectOptions{ClientID: "c"}
		v5Persistent(&o)
		c.MustSend(mqtttest.ConnectPacket(o, mqtttest.V5))
		c.Expect(packets.Connack) // strictly the first packet
		c.Expect(packets.Publish)
	})
	v5Case(t, "MQTT-3.2.0-2", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.MustSend(mqtttest.ConnectPacket(mqtttest.ConnectOptions{ClientID: "c", Clean: true}, mqtttest.V5))
		v5ExpectDisconnect(t, c, 0x82) // and no second CONNACK
	})
	v5Case(t, "MQTT-3.2.2-1", func(t *testing.T, ts *testServer) {
		c := v5Dial(t, ts)
		c.MustSend(mqtttest.ConnectPacket(mqtttest.ConnectOptions{ClientID: "c", Clean: true}, mqtttest.V5))
		if f := v5NextFrame(t, c, packets.Connack); f.Body[0]&0xfe != 0 {
			t.Fatalf("Connect Acknowledge Flags %#02x: bits 7-1 set", f.Body[0])
		}
	})
	v5Case(t, "MQTT-3.2.2-2", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c", v5Persistent)
		v5Offline(t, ts, c)
		if _, ack := v5Open(t, ts, "c", v5Expiry(60)); ack.SessionPresent || ack.ReasonCode != 0 {
			t.Fatalf("Clean Start 1: %s, want Session Present 0, reason 0", mqtttest.Describe(ack))
		}
	})
	v5Case(t, "MQTT-3.2.2-3", func(t *testing.T, ts *testServer) {
		c, ack := v5Open(t, ts, "c", v5Persistent)
		if ack.SessionPresent {
			t.Fatal("no session existed: Session Present 1")
		}
		v5Offline(t, ts, c)
		if _, ack := v5Open(t, ts, "c", v5Persistent); !ack.SessionPresent || ack.ReasonCode != 0 {
			t.Fatalf("session existed: %s, want Session Present 1, reason 0", mqtttest.Describe(ack))
		}
	})
	v5Case(t, "MQTT-3.2.2-6", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c", v5Persistent)
		v5Offline(t, ts, c)
		c = v5Dial(t, ts)
		o := mqtttest.ConnectOptions{ClientID: "c", Username: []byte("nobody"), Password: []byte("x")}
		v5Persistent(&o)
		ack, err := c.Connect(o)
		if err != nil || ack.ReasonCode == 0 || ack.SessionPresent {
			t.Fatalf("CONNACK %v, %v: want a refusal with Session Present 0", ack, err)
		}
	})
	v5Case(t, "MQTT-3.2.2-7", func(t *testing.T, ts *testServer) {
		for _, o := range []mqtttest.ConnectOptions{
			{ClientID: "c", Clean: true, Username: []byte("nobody"), Password: []byte("x")}, // 0x86
			{ClientID: "c", Clean: true, Properties: packets.Properties{AuthenticationMethod: "SCRAM-SHA-1"}},
		} {
			c := v5Dial(t, ts)
			ack, err := c.Connect(o)
			if err != nil || ack.ReasonCode < 0x80 {
				t.Fatalf("CONNACK %v, %v: want a refusal", ack, err)
			}
			c.ExpectClosed(v5Close)
		}
	})
	v5Case(t, "MQTT-3.2.2-8", func(t *testing.T, ts *testServer) {
		defined := map[byte]bool{0x00: true, 0x80: true, 0x81: true, 0x82: true, 0x83: true, 0x84: true, 0x85: true,
			0x86: true, 0x87: true, 0x88: true, 0x89: true, 0x8A: true, 0x8C: true, 0x90: true, 0x95: true, 0x97: true,
			0x99: true, 0x9A: true, 0x9B: true, 0x9C: true, 0x9D: true, 0x9F: true}
		flagsOff := v5ConnectBytes(t, mqtttest.ConnectOptions{ClientID: "c", Clean: true})
		flagsOff[v5ConnectFlagsAt] |= 1
		for _, raw := range [][]byte{
			v5ConnectBytes(t, mqtttest.ConnectOptions{ClientID: "c", Clean: true}),
			v5ConnectBytes(t, mqtttest.ConnectOptions{ClientID: "c", Clean: true, Username: []byte("nobody"), Password: []byte("x")}),
			v5ConnectBytes(t, mqtttest.ConnectOptions{ClientID: "c", Clean: true, Properties: packets.Properties{AuthenticationMethod: "X"}}),
			v5ConnectBytes(t, mqtttest.ConnectOptions{ClientID: "c", Clean: true, Will: &mqtttest.Will{Topic: "w/#", Payload: []byte("x")}}),
			flagsOff,
		} {
			c := v5Dial(t, ts)
			c.SendRaw(raw)
			ack, err := c.NextFrame(mqtttest.DefaultTimeout)
			if err != nil {
				continue // closed without CONNACK, as allowed for a malformed CONNECT
			}
			if ack.Type() != packets.Connack || !defined[ack.Body[1]] {
				t.Fatalf("CONNACK reason %#02x is not a Connect Reason Code", ack.Body[1])
			}
		}
	})
	v5Case(t, "MQTT-3.2.2-9", func(t *testing.T, ts *testServer) {
		// mqsight supports QoS 2: no Maximum QoS in CONNACK, QoS 2 works.
		c, ack := v5Open(t, ts, "c")
		if ack.Properties.MaximumQosFlag {
			t.Fatalf("CONNACK states Maximum QoS %d although QoS 2 is supported", ack.Properties.MaximumQos)
		}
		c.MustSubscribe(mqtttest.Sub("t", 2))
		c.MustPublish("t", []byte("x"), 2, false)
		if got := c.ExpectMessage("t", []byte("x")); got.FixedHeader.Qos != 2 {
			t.Fatalf("delivered at QoS %d, want 2", got.FixedHeader.Qos)
		}
	})
	v5Case(t, "MQTT-3.2.2-10", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		ack := c.MustSubscribe(mqtttest.Sub("a", 0), mqtttest.Sub("b", 1), mqtttest.Sub("c", 2))
		if !bytes.Equal(ack.ReasonCodes, []byte{0, 1, 2}) {
			t.Fatalf("SUBACK %s, want granted 0 1 2", mqtttest.Describe(ack))
		}
	})
	v5Case(t, "MQTT-3.2.2-12", func(t *testing.T, ts *testServer) {
		// Will QoS 2 is within mqsight's capability: accepted, published at QoS 2.
		watch := v5Watch(t, ts, "watch", "will/#")
		c, _ := v5Open(t, ts, "c", v5Will("will/c", "x", 2, false, 0))
		v5Offline(t, ts, c)
		if got := watch.ExpectMessage("will/c", []byte("x")); got.FixedHeader.Qos != 2 {
			t.Fatalf("will delivered at QoS %d, want 2", got.FixedHeader.Qos)
		}
	})
	v5Case(t, "MQTT-3.2.2-13", func(t *testing.T, ts *testServer) {
		// Retain is supported: no Retain Available 0, a retained will is accepted.
		c, ack := v5Open(t, ts, "c", v5Will("will/c", "x", 1, true, 0))
		if ack.Properties.RetainAvailableFlag && ack.Properties.RetainAvailable == 0 {
			t.Fatal("CONNACK says retain is not available")
		}
		v5Offline(t, ts, c)
		late := v5Watch(t, ts, "late", "will/#")
		late.ExpectMessage("will/c", []byte("x"))
	})
	v5Case(t, "MQTT-3.2.2-16", func(t *testing.T, ts *testServer) {
		_, ack := v5Open(t, ts, "")
		id := ack.Properties.AssignedClientID
		if id == "" {
			t.Fatal("no Assigned Client Identifier")
		}
		// Not the id of an existing session: a persistent session of that
		// id made later is new.
		if _, ack := v5Open(t, ts, id+"x", v5Persistent); ack.SessionPresent {
			t.Fatal("unexpected session")
		}
		_, ack2 := v5Open(t, ts, "")
		if ack2.Properties.AssignedClientID == id {
			t.Fatalf("assigned %q twice", id)
		}
	})
	for _, id := range []string{"MQTT-3.2.2-19", "MQTT-3.2.2-20"} {
		v5Case(t, id, func(t *testing.T, ts *testServer) {
			const max = 16
			for _, o := range []mqtttest.ConnectOptions{
				{ClientID: "c", Clean: true, Username: []byte("nobody"), Password: []byte("x")},
				{ClientID: "c", Clean: true, Properties: packets.Properties{AuthenticationMethod: "X"}},
			} {
				o.Properties.MaximumPacketSize = max
				c := v5Dial(t, ts)
				c.MustSend(mqtttest.ConnectPacket(o, mqtttest.V5))
				f := v5NextFrame(t, c, packets.Connack)
				pk, _ := f.Decode(mqtttest.V5)
				if len(f.Bytes()) > max || pk.Properties.ReasonString != "" || len(pk.Properties.User) > 0 {
					t.Fatalf("CONNACK of %d bytes %s exceeds Maximum Packet Size %d", len(f.Bytes()), mqtttest.Describe(pk), max)
				}
			}
		})
	}
	v5Case(t, "MQTT-3.2.2-22", func(t *testing.T, ts *testServer) {
		c, ack := v5Open(t, ts, "c", func(o *mqtttest.ConnectOptions) { o.KeepAlive = 1 })
		if ack.Properties.ServerKeepAliveFlag {
			t.Skip("server sets Server Keep Alive")
		}
		start := time.Now()
		c.ExpectClosed(v5Close)
		if d := time.Since(start); d < time.Second {
			t.Fatalf("closed after %v: the client's keep alive of 1 s was not used", d)
		}
	})
}
