package mqtt

// MQTT 5.0 conformance: one subtest per server-applicable normative
// statement, named by its id ([MQTT-x.y.z-n] → "MQTT-x.y.z-n"), listed in
// docs/mqtt-conformance.md. Every subtest runs against a server of its own,
// so subtests run in parallel. This file holds the shared helpers and
// sections 1.5 (data representation) and 2 (control packet format).

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

const (
	// v5Quiet is how long a v5 conformance test waits to prove an absence.
	v5Quiet = 100 * time.Millisecond
	// v5Close bounds the wait for the server to close a connection.
	v5Close = 3 * time.Second
)

// v5Case runs fn as a parallel subtest named after a statement id, with a
// server of its own.
func v5Case(t *testing.T, id string, fn func(t *testing.T, ts *testServer), setup ...func(*testServer)) {
	t.Helper()
	t.Run(id, func(t *testing.T) {
		t.Parallel()
		fn(t, startServer(t, setup...))
	})
}

// v5Dial opens a raw MQTT 5 connection to ts without sending anything.
func v5Dial(t *testing.T, ts *testServer) *mqtttest.Conn {
	t.Helper()
	return mqtttest.Dial(t, ts.addr, mqtttest.V5)
}

// v5Open dials ts and connects with Clean Start 1 as id (opts may change
// the CONNECT first); it returns the connection and the CONNACK.
func v5Open(t *testing.T, ts *testServer, id string, opts ...func(*mqtttest.ConnectOptions)) (*mqtttest.Conn, *packets.Packet) {
	t.Helper()
	o := mqtttest.ConnectOptions{ClientID: id, Clean: true}
	for _, f := range opts {
		f(&o)
	}
	c := v5Dial(t, ts)
	return c, c.MustConnect(o)
}

// v5Persistent makes the CONNECT keep its session for an hour and resume
// an existing one (Clean Start 0).
func v5Persistent(o *mqtttest.ConnectOptions) {
	o.Clean = false
	o.Properties.SessionExpiryInterval, o.Properties.SessionExpiryIntervalFlag = 3600, true
}

// v5Expiry sets the Session Expiry Interval of the CONNECT.
func v5Expiry(secs uint32) func(*mqtttest.ConnectOptions) {
	return func(o *mqtttest.ConnectOptions) {
		o.Properties.SessionExpiryInterval, o.Properties.SessionExpiryIntervalFlag = secs, true
	}
}

// v5ReceiveMax sets the Receive Maximum of the CONNECT.
func v5ReceiveMax(n uint16) func(*mqtttest.ConnectOptions) {
	return func(o *mqtttest.ConnectOptions) { o.Properties.ReceiveMaximum = n }
}

// v5Resume sets Clean Start 0.
func v5Resume(o *mqtttest.ConnectOptions) { o.Clean = false }

// v5ExpectClosed requires the server to close c, after sending exactly one
// packet of type typ with reason code rc (a CONNACK or DISCONNECT), unless
// optional is set: then the packet may be missing, but if any packet came it
// must be that one.
func v5ExpectClosed(t *testing.T, c *mqtttest.Conn, typ, rc byte, optional bool) {
	t.Helper()
	pks := c.ExpectClosed(v5Close)
	if len(pks) == 0 && optional {
		return
	}
	if len(pks) != 1 || pks[0].FixedHeader.Type != typ || pks[0].ReasonCode != rc {
		var got []string
		for _, pk := range pks {
			got = append(got, mqtttest.Describe(pk))
		}
		t.Fatalf("before the close got %v, want only %s reason %#02x", got, mqtttest.TypeName(typ), rc)
	}
	if typ == packets.Connack && pks[0].SessionPresent {
		t.Fatalf("refusing CONNACK with Session Present 1 [MQTT-3.2.2-6]")
	}
}

// v5ExpectDisconnect requires DISCONNECT with reason rc and then the close.
func v5ExpectDisconnect(t *testing.T, c *mqtttest.Conn, rc byte) {
	t.Helper()
	v5ExpectClosed(t, c, packets.Disconnect, rc, false)
}

// v5ConnectBytes encodes a CONNECT for opts so a test can patch it.
func v5ConnectBytes(t *testing.T, o mqtttest.ConnectOptions) []byte {
	t.Helper()
	b, err := mqtttest.Encode(mqtttest.ConnectPacket(o, mqtttest.V5), mqtttest.V5)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// v5Frame frames a body as a control packet with first byte h.
func v5Frame(h byte, body []byte) []byte {
	var b bytes.Buffer
	b.WriteByte(h)
	n := len(body)
	for {
		eb := byte(n % 128)
		n /= 128
		if n > 0 {
			eb |= 0x80
		}
		b.WriteByte(eb)
		if n == 0 {
			break
		}
	}
	b.Write(body)
	return b.Bytes()
}

// v5Str is an MQTT length-prefixed string or binary field holding s as is
// (valid UTF-8 or not).
func v5Str(s string) []byte {
	return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...)
}

// v5RawPublish builds a QoS 0 PUBLISH whose topic bytes and property block
// (without its length) are written as given.
func v5RawPublish(topic string, props []byte, payload string) []byte {
	body := v5Str(topic)
	body = append(body, byte(len(props)))
	body = append(body, props...)
	body = append(body, payload...)
	return v5Frame(0x30, body)
}

// v5NextFrame returns the next frame from c, which must have type typ.
func v5NextFrame(t *testing.T, c *mqtttest.Conn, typ byte) mqtttest.Frame {
	t.Helper()
	f, err := c.NextFrame(mqtttest.DefaultTimeout)
	if err != nil {
		t.Fatalf("waiting for %s: %v", mqtttest.TypeName(typ), err)
	}
	if f.Type() != typ {
		t.Fatalf("got %s, want %s", f, mqtttest.TypeName(typ))
	}
	return f
}

// v5SubPacket builds a SUBSCRIBE with a subscription identifier (0: none).
func v5SubPacket(c *mqtttest.Conn, subID int, subs ...packets.Subscription) *packets.Packet {
	pk := c.SubscribePacket(subs...)
	if subID > 0 {
		pk.Properties.SubscriptionIdentifier = []int{subID}
	}
	return pk
}

func TestV5DataRepresentation(t *testing.T) {
	// Each malformed string is a Malformed Packet: DISCONNECT 0x81, close.
	for _, tc := range []struct{ id, topic string }{
		{"MQTT-1.5.4-1", "a/\xed\xa0\x80"}, // U+D800 encoded as UTF-8
		{"MQTT-1.5.4-2", "a/\x00b"},
	} {
		v5Case(t, tc.id, func(t *testing.T, ts *testServer) {
			sub, _ := v5Open(t, ts, "sub")
			sub.MustSubscribe(mqtttest.Sub("#", 0))
			c, _ := v5Open(t, ts, "pub")
			c.SendRaw(v5RawPublish(tc.topic, nil, "x"))
			v5ExpectDisconnect(t, c, 0x81)
			sub.ExpectNothing(v5Quiet)
		})
	}
	v5Case(t, "MQTT-1.5.4-3", func(t *testing.T, ts *testServer) {
		sub, _ := v5Open(t, ts, "sub")
		bom := "a/\uFEFFb"
		sub.MustSubscribe(mqtttest.Sub(bom, 1))
		c, _ := v5Open(t, ts, "pub")
		c.MustPublish(bom, []byte("x"), 1, false)
		if got := sub.ExpectPublish(); got.TopicName != bom {
			t.Fatalf("topic %q, want %q with its BOM kept", got.TopicName, bom)
		}
		c.MustPublish("a/b", []byte("y"), 1, false) // the BOM is not skipped when matching
		sub.ExpectNothing(v5Quiet)
	})
	v5Case(t, "MQTT-1.5.5-1", func(t *testing.T, ts *testServer) {
		// Read the server's bytes directly: every Remaining Length must use
		// the fewest bytes (a 300-byte PUBLISH needs 2, a CONNACK 1).
		nc, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		c := v5Dial(t, ts) // only to encode with the kit
		out := v5ConnectBytes(t, mqtttest.ConnectOptions{ClientID: "vbi", Clean: true})
		for _, pk := range []*packets.Packet{
			c.SubscribePacket(mqtttest.Sub("t", 0)),
			c.PublishPacket("t", bytes.Repeat([]byte("p"), 300), 0, false),
		} {
			b, err := mqtttest.Encode(pk, mqtttest.V5)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b...)
		}
		nc.SetDeadline(time.Now().Add(mqtttest.DefaultTimeout))
		nc.Write(out)
		br := bufio.NewReader(nc)
		for _, want := range []byte{packets.Connack, packets.Suback, packets.Publish} {
			h, err := br.ReadByte()
			if err != nil {
				t.Fatal(err)
			}
			var value, n int
			for {
				b, err := br.ReadByte()
				if err != nil {
					t.Fatal(err)
				}
				value |= int(b&0x7f) << (7 * n)
				n++
				if b&0x80 == 0 {
					break
				}
			}
			minimal := 1
			for v := value; v >= 128; v /= 128 {
				minimal++
			}
			if h>>4 != want || n != minimal {
				t.Fatalf("%s: Remaining Length %d in %d bytes, want type %s in %d bytes", mqtttest.TypeName(h>>4), value, n, mqtttest.TypeName(want), minimal)
			}
			if _, err := io.CopyN(io.Discard, br, int64(value)); err != nil {
				t.Fatal(err)
			}
		}
	})
	v5Case(t, "MQTT-1.5.7-1", func(t *testing.T, ts *testServer) {
		for _, pair := range [][2]string{{"k\xff", "v"}, {"k", "v\x00"}} {
			c, _ := v5Open(t, ts, "pub")
			props := append([]byte{0x26}, v5Str(pair[0])...)
			props = append(props, v5Str(pair[1])...)
			c.SendRaw(v5RawPublish("t", props, "x"))
			v5ExpectDisconnect(t, c, 0x81)
		}
		// A well-formed pair goes through.
		sub, _ := v5Open(t, ts, "sub")
		sub.MustSubscribe(mqtttest.Sub("t", 0))
		c, _ := v5Open(t, ts, "pub")
		props := append([]byte{0x26}, v5Str("k")...)
		props = append(props, v5Str("v")...)
		c.SendRaw(v5RawPublish("t", props, "x"))
		if got := sub.ExpectPublish(); len(got.Properties.User) != 1 || got.Properties.User[0] != (packets.UserProperty{Key: "k", Val: "v"}) {
			t.Fatalf("user properties %v, want k=v", got.Properties.User)
		}
	})
}

func TestV5PacketFormat(t *testing.T) {
	v5Case(t, "MQTT-2.1.3-1", func(t *testing.T, ts *testServer) {
		// Fixed-header flags other than the listed ones are malformed.
		for _, raw := range [][]byte{
			{0xC1, 0x00},                      // PINGREQ with flags 0001
			{0x80, 0x06, 0, 1, 0, 0, 0x61, 0}, // SUBSCRIBE with flags 0000
			{0xA0, 0x06, 0, 1, 0, 0, 1, 0x61}, // UNSUBSCRIBE with flags 0000
			{0x60, 0x02, 0, 1},                // PUBREL with flags 0000
			{0xE1, 0x00},                      // DISCONNECT with flags 0001
		} {
			c, _ := v5Open(t, ts, "c")
			c.SendRaw(raw)
			t.Logf("sent % x", raw)
			v5ExpectDisconnect(t, c, 0x81)
		}
	})
	v5Case(t, "MQTT-2.2.1-2", func(t *testing.T, ts *testServer) {
		sub, _ := v5Open(t, ts, "sub")
		sub.MustSubscribe(mqtttest.Sub("t", 2))
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("t", []byte("hello"), 0, false)
		f := v5NextFrame(t, sub, packets.Publish)
		// topic (2+1) | property length (1) | payload: no packet identifier.
		if f.Flags()&0x06 != 0 || len(f.Body) != 3+1+5 {
			t.Fatalf("QoS 0 PUBLISH % x carries more than topic, properties and payload", f.Bytes())
		}
	})
	v5Case(t, "MQTT-2.2.1-4", func(t *testing.T, ts *testServer) {
		sub, _ := v5Open(t, ts, "sub")
		sub.MustSubscribe(mqtttest.Sub("t", 2))
		pub, _ := v5Open(t, ts, "pub")
		seen := map[uint16]bool{}
		for i := range 6 {
			pub.MustPublish("t", []byte("m"), byte(1+i%2), false)
			got := sub.ExpectPublish()
			if got.PacketID == 0 || seen[got.PacketID] {
				t.Fatalf("packet identifier %d is zero or still in use (%v)", got.PacketID, seen)
			}
			seen[got.PacketID] = true // never acknowledged: all stay in use
		}
	})
	v5Case(t, "MQTT-2.2.1-5", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.MustSubscribe(mqtttest.Sub("t", 2))
		p1 := c.PublishPacket("t", []byte("1"), 1, false)
		p1.PacketID = 4242
		if ack, err := c.PublishWith(p1); err != nil || ack.PacketID != 4242 {
			t.Fatalf("PUBACK %v, %v: want id 4242", ack, err)
		}
		c.ExpectPublish()
		p2 := c.PublishPacket("t", []byte("2"), 2, false)
		p2.PacketID = 777
		c.MustSend(p2)
		if _, err := c.AwaitAck(packets.Pubrec, 777, mqtttest.DefaultTimeout); err != nil {
			t.Fatal(err)
		}
		c.MustSend(mqtttest.AckPacket(packets.Pubrel, 777, 0))
		if _, err := c.AwaitAck(packets.Pubcomp, 777, mqtttest.DefaultTimeout); err != nil {
			t.Fatal(err)
		}
		// The server's PUBREL carries the identifier of its own PUBLISH.
		got := c.ExpectPublish()
		if got.FixedHeader.Qos != 2 {
			t.Fatalf("got %s, want the QoS 2 delivery", mqtttest.Describe(got))
		}
		c.MustSend(mqtttest.AckPacket(packets.Pubrec, got.PacketID, 0))
		if rel := c.Expect(packets.Pubrel); rel.PacketID != got.PacketID {
			t.Fatalf("PUBREL id %d, want %d", rel.PacketID, got.PacketID)
		}
	})
	v5Case(t, "MQTT-2.2.1-6", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		sub := c.SubscribePacket(mqtttest.Sub("t", 1))
		sub.PacketID = 31000
		c.MustSend(sub)
		if ack := c.Expect(packets.Suback); ack.PacketID != 31000 {
			t.Fatalf("SUBACK id %d, want 31000", ack.PacketID)
		}
		c.MustSend(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe}, PacketID: 31001,
			Filters: []packets.Subscription{{Filter: "t"}}})
		if ack := c.Expect(packets.Unsuback); ack.PacketID != 31001 {
			t.Fatalf("UNSUBACK id %d, want 31001", ack.PacketID)
		}
	})
	v5Case(t, "MQTT-2.2.2-1", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.MustSend(c.SubscribePacket(mqtttest.Sub("t", 1)))
		if f := v5NextFrame(t, c, packets.Suback); len(f.Body) != 4 || f.Body[2] != 0 {
			t.Fatalf("SUBACK % x: want id, Property Length 0, one reason code", f.Bytes())
		}
		c.MustSend(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe}, PacketID: 9,
			Filters: []packets.Subscription{{Filter: "t"}}})
		if f := v5NextFrame(t, c, packets.Unsuback); len(f.Body) != 4 || f.Body[2] != 0 {
			t.Fatalf("UNSUBACK % x: want id, Property Length 0, one reason code", f.Bytes())
		}
		c.MustSend(c.PublishPacket("t", []byte("x"), 1, false)) // no subscriber: PUBACK 0x10
		if f := v5NextFrame(t, c, packets.Puback); len(f.Body) == 4 && f.Body[3] != 0 || len(f.Body) > 4 {
			t.Fatalf("PUBACK % x: want Property Length 0 when present", f.Bytes())
		}
	})
}

// v5Describe is a helper for failure messages.
func v5Describe(pks []*packets.Packet) string {
	var b bytes.Buffer
	for _, pk := range pks {
		fmt.Fprintf(&b, "%s; ", mqtttest.Describe(pk))
	}
	return b.String()
}

// v5Offline closes c as a network failure would and waits until the server
// has detached it from its session, so that what follows sees the session
// offline.
func v5Offline(t *testing.T, ts *testServer, c *mqtttest.Conn) {
	t.Helper()
	local := c.NetConn().LocalAddr().String()
	c.Close()
	deadline := time.Now().Add(mqtttest.DefaultTimeout)
	for {
		attached := false
		ts.e.mu.Lock()
		for _, s := range ts.e.mu.sessions {
			if s.conn != nil && s.conn.nc.RemoteAddr().String() == local {
				attached = true
			}
		}
		ts.e.mu.Unlock()
		if !attached {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not notice the close of %s", local)
		}
		time.Sleep(time.Millisecond) // polling engine state: there is no event to wait on
	}
}
