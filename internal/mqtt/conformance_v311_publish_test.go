package mqtt

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// MQTT 3.1.1 conformance: packet identifiers (2.3.1), PUBLISH (3.3), the
// QoS flows (4.3), retries (4.4), receipt (4.5) and ordering (4.6).

// v311InvalidPublishCases lists PUBLISH, SUBSCRIBE and UNSUBSCRIBE packets with
// invalid identifiers, QoS or topic names, which close the connection.
func v311InvalidPublishCases() []v311RawCase {
	return []v311RawCase{
		{"MQTT-2.3.1-1/subscribe-id-0", v311Frame(0x82, []byte{0, 0}, v311Field("a/b"), []byte{0})},
		{"MQTT-2.3.1-1/unsubscribe-id-0", v311Frame(0xa2, []byte{0, 0}, v311Field("a/b"))},
		{"MQTT-2.3.1-1/publish-qos1-id-0", v311Frame(0x32, v311Field("a/b"), []byte{0, 0}, []byte("x"))},
		{"MQTT-2.3.1-1/publish-qos2-id-0", v311Frame(0x34, v311Field("a/b"), []byte{0, 0}, []byte("x"))},
		{"MQTT-3.3.1-4/publish-qos-3", v311Frame(0x36, v311Field("a/b"), []byte{0, 1}, []byte("x"))},
		{"MQTT-3.3.1-4/publish-qos-3-retain", v311Frame(0x37, v311Field("a/b"), []byte{0, 1}, []byte("x"))},
		{"MQTT-3.3.2-2/topic-plus", v311Frame(0x30, v311Field("a/+"), []byte("x"))},
		{"MQTT-3.3.2-2/topic-hash", v311Frame(0x30, v311Field("a/#"), []byte("x"))},
		{"MQTT-3.3.2-2/topic-only-hash", v311Frame(0x32, v311Field("#"), []byte{0, 1}, []byte("x"))},
		{"MQTT-3.3.2-2/topic-plus-inside-level", v311Frame(0x30, v311Field("a/b+c"), []byte("x"))},
		{"MQTT-4.7.3-1/empty-topic-name", v311Frame(0x30, v311Field(""), []byte("x"))},
		{"MQTT-3.3.2-1/topic-length-overruns-packet", v311Frame(0x30, []byte{0, 9, 'a'})},
	}
}

// [MQTT-2.3.1-1]: SUBSCRIBE, UNSUBSCRIBE and QoS>0 PUBLISH with packet
// identifier 0 are protocol violations; [MQTT-3.3.1-4]: so is a PUBLISH
// with QoS 3; [MQTT-3.3.2-2], [MQTT-4.7.1-1]: and a topic name with a
// wildcard. The server closes the connection.
func TestV311InvalidPublishAndSubscribe(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	watch := v311Connect(t, ts, "w")
	watch.MustSubscribe(mqtttest.Sub("#", 2))
	for _, tc := range v311InvalidPublishCases() {
		t.Run(tc.name, func(t *testing.T) {
			c := v311Connect(t, ts, "")
			c.SendRaw(tc.raw)
			v311ExpectDropped(t, c, tc.name)
		})
	}
	watch.ExpectNothing(v311Quiet) // none of them was routed
}

// [MQTT-2.3.1-4]: the QoS>0 PUBLISH packets the server sends carry
// non-zero identifiers, none reused while it is in flight.
func TestV311_2_3_1_4(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	sub := v311Connect(t, ts, "s")
	sub.MustSubscribe(mqtttest.Sub("ids/#", 2))
	pub := v311Connect(t, ts, "p")
	const n = 40
	for i := range n {
		pub.MustPublish("ids/x", []byte{byte(i)}, byte(1+i%2), false)
	}
	var held []*packets.Packet
	inUse := map[uint16]bool{}
	for range n {
		pk, err := sub.AwaitType(packets.Publish, waitLong)
		if err != nil {
			t.Fatal(err)
		}
		if pk.PacketID == 0 || inUse[pk.PacketID] {
			t.Fatalf("[MQTT-2.3.1-4] packet identifier %d: zero or already in flight (%v)", pk.PacketID, inUse)
		}
		inUse[pk.PacketID] = true
		held = append(held, pk)
	}
	// Complete half, then send more: new identifiers avoid the rest.
	for _, pk := range held[:n/2] {
		sub.MustAcknowledge(pk)
		delete(inUse, pk.PacketID)
	}
	for i := range n / 2 {
		pub.MustPublish("ids/y", []byte{byte(i)}, 1, false)
	}
	for range n / 2 {
		pk, err := sub.AwaitType(packets.Publish, waitLong)
		if err != nil {
			t.Fatal(err)
		}
		if pk.PacketID == 0 || inUse[pk.PacketID] {
			t.Fatalf("[MQTT-2.3.1-4] packet identifier %d reused while in flight", pk.PacketID)
		}
		inUse[pk.PacketID] = true
	}
}

// [MQTT-2.3.1-5], [MQTT-3.3.1-2], [MQTT-4.3.1-1]: a QoS 0 PUBLISH from the
// server has no packet identifier and DUP 0, even when the message was
// published at QoS 1 with DUP 1.
func TestV311_2_3_1_5(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	sub := v311Connect(t, ts, "s")
	sub.MustSubscribe(mqtttest.Sub("q0/#", 0))
	pub := v311Connect(t, ts, "p")
	pub.MustPublish("q0/a", []byte("zero"), 0, false)
	pk := pub.PublishPacket("q0/a", []byte("dup"), 1, false)
	pk.FixedHeader.Dup = true
	if _, err := pub.PublishWith(pk); err != nil {
		t.Fatal(err)
	}
	for _, payload := range []string{"zero", "dup"} {
		f, err := sub.NextFrame(waitLong)
		if err != nil {
			t.Fatal(err)
		}
		if f.Type() != packets.Publish || f.Flags() != 0 {
			t.Fatalf("[MQTT-3.3.1-2] got %v, want a QoS 0 PUBLISH with flags 0000", f)
		}
		if want := 2 + len("q0/a") + len(payload); len(f.Body) != want {
			t.Fatalf("[MQTT-2.3.1-5] QoS 0 PUBLISH body is %d bytes, want %d (topic and payload only)", len(f.Body), want)
		}
	}
}

// [MQTT-2.3.1-6], [MQTT-3.3.4-1]: the server answers a QoS 1 PUBLISH with a
// PUBACK and a QoS 2 PUBLISH with a PUBREC carrying its identifier (and
// nothing for QoS 0); its own PUBREL carries the identifier of its PUBLISH
// and its PUBCOMP that of the client's PUBREL.
func TestV311_2_3_1_6(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	c := v311Connect(t, ts, "")
	c.MustSubscribe(mqtttest.Sub("acks/in", 2))
	pub := v311Connect(t, ts, "p")

	pub.MustSend(pub.PublishPacket("acks/q0", []byte("x"), 0, false))
	pub.ExpectNothing(v311Quiet)
	for _, tc := range []struct {
		qos byte
		id  uint16
		ack byte
	}{{1, 0x1234, packets.Puback}, {1, 0xffff, packets.Puback}, {2, 0x0101, packets.Pubrec}, {2, 1, packets.Pubrec}} {
		pk := pub.PublishPacket("acks/q", []byte("x"), tc.qos, false)
		pk.PacketID = tc.id
		pub.MustSend(pk)
		got := pub.Expect(tc.ack)
		if got.PacketID != tc.id {
			t.Fatalf("[MQTT-2.3.1-6] %s carries id %#x, want %#x", mqtttest.TypeName(tc.ack), got.PacketID, tc.id)
		}
		if tc.qos == 2 {
			pub.MustSend(mqtttest.AckPacket(packets.Pubrel, tc.id, 0))
			if got := pub.Expect(packets.Pubcomp); got.PacketID != tc.id {
				t.Fatalf("[MQTT-2.3.1-6] PUBCOMP carries id %#x, want %#x", got.PacketID, tc.id)
			}
		}
	}

	pub.MustPublish("acks/in", []byte("q2"), 2, false)
	in := c.ExpectPublish()
	c.MustSend(mqtttest.AckPacket(packets.Pubrec, in.PacketID, 0))
	if rel := c.Expect(packets.Pubrel); rel.PacketID != in.PacketID {
		t.Fatalf("[MQTT-2.3.1-6] server PUBREL id %d, want its PUBLISH's %d", rel.PacketID, in.PacketID)
	}
	c.MustSend(mqtttest.AckPacket(packets.Pubcomp, in.PacketID, 0))
}

// [MQTT-2.3.1-7], [MQTT-3.8.4-2], [MQTT-3.10.4-4]: SUBACK and UNSUBACK carry
// the identifier of the packet they answer.
func TestV311_2_3_1_7(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	c := v311Connect(t, ts, "")
	for _, id := range []uint16{1, 0xbeef, 0xffff} {
		sp := c.SubscribePacket(mqtttest.Sub("sid/x", 1))
		sp.PacketID = id
		c.MustSend(sp)
		if got := c.Expect(packets.Suback); got.PacketID != id {
			t.Fatalf("[MQTT-3.8.4-2] SUBACK id %#x, want %#x", got.PacketID, id)
		}
		c.MustSend(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe}, PacketID: id,
			Filters: packets.Subscriptions{{Filter: "sid/x"}}})
		if got := c.Expect(packets.Unsuback); got.PacketID != id {
			t.Fatalf("[MQTT-3.10.4-4] UNSUBACK id %#x, want %#x", got.PacketID, id)
		}
	}
}

// [MQTT-3.3.1-1], [MQTT-4.4.0-1], [MQTT-4.6.0-1]: when a Clean Session 0
// client reconnects, the server re-sends its unacknowledged QoS 1 and 2
// PUBLISH packets in their original order, with their original
// identifiers and DUP 1, and its unacknowledged PUBRELs; messages never
// sent before go with DUP 0.
func TestV311_4_4_0_1(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	id := v311ID(t, "")
	c, _ := v311Persistent(t, ts, id)
	c.MustSubscribe(mqtttest.Sub("retry/#", 2))
	pub := v311Connect(t, ts, "p")
	for i := range 6 {
		pub.MustPublish("retry/x", fmt.Appendf(nil, "m%d", i), byte(1+i%2), false)
	}
	var first []*packets.Packet
	for range 6 {
		first = append(first, c.ExpectPublish())
	}
	// m1 is QoS 2: PUBREC it so that the server owes a PUBREL.
	c.MustSend(mqtttest.AckPacket(packets.Pubrec, first[1].PacketID, 0))
	rel := c.Expect(packets.Pubrel)
	c.Close()
	// Published once the server has seen the close: "fresh" is then never
	// sent before the reconnect (a copy written to the dying connection
	// would rightly be re-sent with DUP).
	ts.waitOffline(id)
	pub.MustPublish("retry/x", []byte("fresh"), 1, false)

	c, ack := v311Persistent(t, ts, id)
	if !ack.SessionPresent {
		t.Fatal("session lost")
	}
	want := slices.Concat(first[:1], first[2:])
	var resent []*packets.Packet
	relSeen := false
	for len(resent) < len(want) || !relSeen {
		pk, err := c.Next(waitLong)
		if err != nil {
			t.Fatalf("[MQTT-4.4.0-1] after %d re-sent PUBLISHes (PUBREL seen: %v): %v", len(resent), relSeen, err)
		}
		switch pk.FixedHeader.Type {
		case packets.Pubrel:
			if pk.PacketID != rel.PacketID || relSeen {
				t.Fatalf("[MQTT-4.4.0-1] PUBREL re-sent with id %d, want once with %d", pk.PacketID, rel.PacketID)
			}
			relSeen = true
		case packets.Publish:
			if string(pk.Payload) == "fresh" {
				t.Fatal("[MQTT-4.6.0-1] a new message overtook the re-sent ones")
			}
			resent = append(resent, pk)
		default:
			t.Fatalf("unexpected %s", mqtttest.Describe(pk))
		}
	}
	for i, pk := range resent {
		if pk.PacketID != want[i].PacketID || string(pk.Payload) != string(want[i].Payload) {
			t.Fatalf("[MQTT-4.6.0-1] re-sent %s, want %s again (same id, same order)", mqtttest.Describe(pk), mqtttest.Describe(want[i]))
		}
		if !pk.FixedHeader.Dup {
			t.Fatalf("[MQTT-3.3.1-1] re-sent %s without DUP", mqtttest.Describe(pk))
		}
		c.MustAcknowledge(pk)
	}
	c.MustSend(mqtttest.AckPacket(packets.Pubcomp, rel.PacketID, 0))
	fresh := c.ExpectMessage("retry/x", []byte("fresh"))
	if fresh.FixedHeader.Dup {
		t.Fatal("[MQTT-3.3.1-1] a message never sent before carried DUP")
	}
	c.ExpectNothing(v311Quiet) // m1 was past PUBREC: its PUBLISH is never re-sent ([MQTT-4.3.3-1])
}

// [MQTT-3.3.1-3]: the DUP of an outgoing PUBLISH depends only on whether
// the server re-sends it, never on the DUP the publisher set.
func TestV311_3_3_1_3(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	sub := v311Connect(t, ts, "s")
	sub.MustSubscribe(mqtttest.Sub("dup/#", 2))
	pub := v311Connect(t, ts, "p")
	for _, qos := range []byte{1, 2} {
		pk := pub.PublishPacket("dup/x", []byte{qos}, qos, false)
		pk.FixedHeader.Dup = true
		if _, err := pub.PublishWith(pk); err != nil {
			t.Fatal(err)
		}
		if got := sub.ExpectMessage("dup/x", []byte{qos}); got.FixedHeader.Dup {
			t.Fatalf("[MQTT-3.3.1-3] QoS %d: the publisher's DUP 1 was copied to the first delivery", qos)
		}
	}
}

// Retained messages ([MQTT-3.3.1-5] .. [MQTT-3.3.1-12]).
func TestV311Retain(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	pub := v311Connect(t, ts, "pub")
	// fresh subscribes a new client to filter at qos.
	fresh := func(t *testing.T, filter string, qos byte) *mqtttest.Conn {
		t.Helper()
		c := v311Connect(t, ts, "")
		c.MustSubscribe(mqtttest.Sub(filter, qos))
		return c
	}

	t.Run("MQTT-3.3.1-5", func(t *testing.T) {
		// Stored with its QoS: a later QoS 2 subscriber gets it at QoS 1,
		// also after a restart.
		pub.MustPublish("ret5/a", []byte("kept"), 1, true)
		got := fresh(t, "ret5/a", 2).ExpectMessage("ret5/a", []byte("kept"))
		if got.FixedHeader.Qos != 1 {
			t.Fatalf("retained message delivered at QoS %d, want the stored QoS 1", got.FixedHeader.Qos)
		}
	})
	t.Run("MQTT-3.3.1-6", func(t *testing.T) {
		pub.MustPublish("ret6/a", []byte("a-old"), 0, true)
		pub.MustPublish("ret6/a", []byte("a-new"), 1, true)
		pub.MustPublish("ret6/b", []byte("b"), 2, true)
		c := fresh(t, "ret6/+", 2)
		got := map[string]string{}
		for _, pk := range v311Received(t, c, 2) {
			got[pk.TopicName] = string(pk.Payload)
		}
		if got["ret6/a"] != "a-new" || got["ret6/b"] != "b" {
			t.Fatalf("new subscription got %v, want the last retained message of each topic", got)
		}
		c.ExpectNothing(v311Quiet)
	})
	t.Run("MQTT-3.3.1-7", func(t *testing.T) {
		pub.MustPublish("ret7/a", []byte("q1"), 1, true)
		pub.MustPublish("ret7/a", []byte("q0"), 0, true)
		if err := pub.Ping(); err != nil { // QoS 0: processed before the subscription
			t.Fatal(err)
		}
		c := fresh(t, "ret7/a", 1)
		if got := c.ExpectMessage("ret7/a", []byte("q0")); got.FixedHeader.Qos != 0 {
			t.Fatalf("got QoS %d, want the QoS 0 replacement", got.FixedHeader.Qos)
		}
		c.ExpectNothing(v311Quiet)
	})
	t.Run("MQTT-3.3.1-8", func(t *testing.T) {
		pub.MustPublish("ret8/a", []byte("r"), 0, true)
		if err := pub.Ping(); err != nil { // QoS 0: processed before the subscription
			t.Fatal(err)
		}
		if got := fresh(t, "ret8/#", 0).ExpectMessage("ret8/a", []byte("r")); !got.FixedHeader.Retain {
			t.Fatal("message sent for a new subscription has RETAIN 0")
		}
	})
	t.Run("MQTT-3.3.1-9", func(t *testing.T) {
		c := fresh(t, "ret9/#", 1)
		for qos := byte(0); qos <= 2; qos++ {
			pub.MustPublish("ret9/a", []byte{qos}, qos, true)
			if got := c.ExpectMessage("ret9/a", []byte{qos}); got.FixedHeader.Retain {
				t.Fatalf("QoS %d: message to an established subscription has RETAIN 1", qos)
			}
		}
	})
	t.Run("MQTT-3.3.1-10", func(t *testing.T) {
		pub.MustPublish("ret10/a", []byte("r"), 1, true)
		c := fresh(t, "ret10/a", 1)
		c.ExpectMessage("ret10/a", []byte("r"))
		pub.MustPublish("ret10/a", nil, 1, true)
		if got := c.ExpectMessage("ret10/a", nil); got.FixedHeader.Retain {
			t.Fatal("the empty retained message was delivered with RETAIN 1 to an established subscription")
		}
		fresh(t, "ret10/a", 1).ExpectNothing(v311Quiet) // removed
	})
	t.Run("MQTT-3.3.1-11", func(t *testing.T) {
		pub.MustPublish("ret11/a", nil, 0, true)
		pub.MustPublish("ret11/b", nil, 1, true)
		fresh(t, "ret11/#", 1).ExpectNothing(v311Quiet)
		ts.e.mu.Lock()
		a := ts.e.mu.retained.get("ret11/a")
		b := ts.e.mu.retained.get("ret11/b")
		ts.e.mu.Unlock()
		if a != nil || b != nil {
			t.Fatal("an empty retained message was stored")
		}
	})
	t.Run("MQTT-3.3.1-12", func(t *testing.T) {
		pub.MustPublish("ret12/a", []byte("kept"), 1, true)
		pub.MustPublish("ret12/a", []byte("transient"), 1, false)
		pub.MustPublish("ret12/a", nil, 0, false) // an empty non-retained message does not clear it either
		c := fresh(t, "ret12/a", 1)
		c.ExpectMessage("ret12/a", []byte("kept"))
		c.ExpectNothing(v311Quiet)
	})
	t.Run("MQTT-3.3.1-5/after-restart", func(t *testing.T) {
		pub.MustPublish("ret5r/a", []byte("durable"), 2, true)
		ts.restart()
		got := fresh(t, "ret5r/a", 2).ExpectMessage("ret5r/a", []byte("durable"))
		if got.FixedHeader.Qos != 2 || !got.FixedHeader.Retain {
			t.Fatalf("after restart: %s, want QoS 2 with RETAIN", mqtttest.Describe(got))
		}
	})
}

// [MQTT-3.3.2-1]: the topic name is read as a UTF-8 string and routed as
// such: multi-byte characters arrive intact and match only themselves.
func TestV311_3_3_2_1(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	sub := v311Connect(t, ts, "s")
	sub.MustSubscribe(mqtttest.Sub("温度/+", 0))
	pub := v311Connect(t, ts, "p")
	pub.SendRaw(v311Frame(0x30, v311Field("温度/ü"), []byte("utf8")))
	pub.MustPublish("温/ü", []byte("other"), 0, false)
	sub.ExpectMessage("温度/ü", []byte("utf8"))
	sub.ExpectNothing(v311Quiet)
}

// [MQTT-3.3.2-3]: the topic name the server sends is the publisher's, and
// it matches the subscription's filter.
func TestV311_3_3_2_3(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	sub := v311Connect(t, ts, "s")
	sub.MustSubscribe(mqtttest.Sub("m/+/x", 1))
	pub := v311Connect(t, ts, "p")
	for _, name := range []string{"m/1/x", "m/2/y", "m/x", "m//x", "m/3/x/y"} {
		pub.MustPublish(name, []byte(name), 1, false)
	}
	sub.ExpectMessage("m/1/x", []byte("m/1/x"))
	sub.ExpectMessage("m//x", []byte("m//x"))
	sub.ExpectNothing(v311Quiet)
}

// [MQTT-3.3.5-1]: with overlapping subscriptions a message is delivered at
// least once at the highest QoS granted among them.
func TestV311_3_3_5_1(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	sub := v311Connect(t, ts, "s")
	sub.MustSubscribe(mqtttest.Sub("ov/#", 0), mqtttest.Sub("ov/+", 2), mqtttest.Sub("ov/a", 1))
	pub := v311Connect(t, ts, "p")
	pub.MustPublish("ov/a", []byte("x"), 2, false)
	best := -1
	for {
		pk, err := sub.AwaitType(packets.Publish, 300*time.Millisecond)
		if err != nil {
			break
		}
		sub.MustAcknowledge(pk)
		best = max(best, int(pk.FixedHeader.Qos))
	}
	if best != 2 {
		t.Fatalf("[MQTT-3.3.5-1] highest QoS delivered %d, want 2", best)
	}
}

// [MQTT-3.3.5-2]: a PUBLISH the client may not make is acknowledged
// normally or ends the connection; it is never delivered.
func TestV311_3_3_5_2(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(ts *testServer) { ts.opts.Policy = v311Policy{denyPrefix: "deny/"} })
	watch := v311Connect(t, ts, "w")
	watch.MustSubscribe(mqtttest.Sub("deny/#", 2))
	for _, qos := range []byte{0, 1, 2} {
		c := v311Connect(t, ts, "")
		pk := c.PublishPacket("deny/x", []byte{qos}, qos, false)
		c.MustSend(pk)
		switch f, err := c.NextFrame(300 * time.Millisecond); {
		case err == nil && qos > 0 && f.Type() == map[byte]byte{1: packets.Puback, 2: packets.Pubrec}[qos] && v311FramePID(f) == pk.PacketID:
		case err == nil:
			t.Fatalf("[MQTT-3.3.5-2] QoS %d: got %v, want the normal acknowledgement or a close", qos, f)
		case qos == 0 && errors.Is(err, mqtttest.ErrTimeout):
			// QoS 0 has no acknowledgement; dropping it silently is normal.
		case !errors.Is(err, mqtttest.ErrClosed):
			t.Fatalf("[MQTT-3.3.5-2] QoS %d: neither acknowledged nor closed: %v", qos, err)
		}
	}
	watch.ExpectNothing(v311Quiet)
}

// [MQTT-4.3.2-1]: the server's QoS 1 PUBLISH has a fresh identifier, QoS 1
// and DUP 0, and stays unacknowledged (re-sent to a returning session)
// until its PUBACK.
func TestV311_4_3_2_1(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	id := v311ID(t, "")
	c, _ := v311Persistent(t, ts, id)
	c.MustSubscribe(mqtttest.Sub("q1/#", 1))
	pub := v311Connect(t, ts, "p")
	pub.MustPublish("q1/a", []byte("acked"), 1, false)
	pub.MustPublish("q1/a", []byte("unacked"), 1, false)
	a, b := c.ExpectPublish(), c.ExpectPublish()
	for _, pk := range []*packets.Packet{a, b} {
		if pk.FixedHeader.Qos != 1 || pk.FixedHeader.Dup || pk.PacketID == 0 {
			t.Fatalf("[MQTT-4.3.2-1] %s, want QoS 1, DUP 0, a packet identifier", mqtttest.Describe(pk))
		}
	}
	if a.PacketID == b.PacketID {
		t.Fatal("[MQTT-4.3.2-1] two in-flight messages share an identifier")
	}
	c.MustAcknowledge(a)
	c.Ping() // the PUBACK was processed
	c.Close()
	c, _ = v311Persistent(t, ts, id)
	got := c.ExpectMessage("q1/a", []byte("unacked"))
	if got.PacketID != b.PacketID || !got.FixedHeader.Dup {
		t.Fatalf("[MQTT-4.3.2-1] re-sent as %s, want id %d with DUP", mqtttest.Describe(got), b.PacketID)
	}
	c.ExpectNothing(v311Quiet) // the acknowledged one is gone
}

// [MQTT-4.3.2-2]: after the server's PUBACK, a PUBLISH with the same
// identifier is a new message, whatever its DUP flag.
func TestV311_4_3_2_2(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	sub := v311Connect(t, ts, "s")
	sub.MustSubscribe(mqtttest.Sub("reuse/#", 1))
	pub := v311Connect(t, ts, "p")
	for i, dup := range []bool{false, true, false} {
		pk := pub.PublishPacket("reuse/x", []byte{byte(i)}, 1, false)
		pk.PacketID, pk.FixedHeader.Dup = 7, dup
		pub.MustSend(pk)
		if ack := pub.Expect(packets.Puback); ack.PacketID != 7 {
			t.Fatalf("PUBACK for id %d", ack.PacketID)
		}
		sub.ExpectMessage("reuse/x", []byte{byte(i)})
	}
}

// [MQTT-4.3.3-1]: the server's QoS 2 PUBLISH goes with QoS 2 and DUP 0;
// after the PUBREC it sends PUBREL with the same identifier, and a
// returning session gets that PUBREL again, never the PUBLISH.
func TestV311_4_3_3_1(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	id := v311ID(t, "")
	c, _ := v311Persistent(t, ts, id)
	c.MustSubscribe(mqtttest.Sub("q2/#", 2))
	pub := v311Connect(t, ts, "p")
	pub.MustPublish("q2/a", []byte("x"), 2, false)
	pk := c.ExpectPublish()
	if pk.FixedHeader.Qos != 2 || pk.FixedHeader.Dup || pk.PacketID == 0 {
		t.Fatalf("[MQTT-4.3.3-1] %s, want QoS 2, DUP 0, an identifier", mqtttest.Describe(pk))
	}
	c.MustSend(mqtttest.AckPacket(packets.Pubrec, pk.PacketID, 0))
	if rel := c.Expect(packets.Pubrel); rel.PacketID != pk.PacketID {
		t.Fatalf("[MQTT-4.3.3-1] PUBREL id %d, want %d", rel.PacketID, pk.PacketID)
	}
	c.Close()
	ts.restart() // the PUBREC'd state is durable too
	c, _ = v311Persistent(t, ts, id)
	if rel := c.Expect(packets.Pubrel); rel.PacketID != pk.PacketID {
		t.Fatalf("[MQTT-4.3.3-1] re-sent PUBREL id %d, want %d", rel.PacketID, pk.PacketID)
	}
	c.MustSend(mqtttest.AckPacket(packets.Pubcomp, pk.PacketID, 0))
	c.ExpectNothing(v311Quiet)
}

// [MQTT-4.3.3-2]: as QoS 2 receiver the server answers PUBREC, answers a
// re-sent PUBLISH with PUBREC again without delivering it twice, answers
// PUBREL with PUBCOMP, and then takes the identifier as a new message.
func TestV311_4_3_3_2(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	sub := v311Connect(t, ts, "s")
	sub.MustSubscribe(mqtttest.Sub("exactly/#", 2))
	pub := v311Connect(t, ts, "p")
	pk := pub.PublishPacket("exactly/x", []byte("once"), 2, false)
	pk.PacketID = 42
	pub.MustSend(pk)
	pub.Expect(packets.Pubrec)
	pk.FixedHeader.Dup = true
	pub.MustSend(pk)
	if rec := pub.Expect(packets.Pubrec); rec.PacketID != 42 {
		t.Fatalf("[MQTT-4.3.3-2] second PUBREC id %d", rec.PacketID)
	}
	pub.MustSend(mqtttest.AckPacket(packets.Pubrel, 42, 0))
	if comp := pub.Expect(packets.Pubcomp); comp.PacketID != 42 {
		t.Fatalf("[MQTT-4.3.3-2] PUBCOMP id %d", comp.PacketID)
	}
	sub.ExpectMessage("exactly/x", []byte("once"))
	sub.ExpectNothing(v311Quiet)

	again := pub.PublishPacket("exactly/x", []byte("new"), 2, false)
	again.PacketID = 42
	if _, err := pub.PublishWith(again); err != nil {
		t.Fatal(err)
	}
	sub.ExpectMessage("exactly/x", []byte("new"))
}

// [MQTT-4.3.3-2] across a reconnection: a Clean Session 0 publisher whose
// connection broke after the PUBREC re-sends the PUBLISH (DUP 1) and then
// the PUBREL on its next connection; the message is delivered once.
func TestV311_4_3_3_2_Reconnect(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	sub := v311Connect(t, ts, "s")
	sub.MustSubscribe(mqtttest.Sub("resume2/#", 2))
	id := v311ID(t, "p")
	pub, _ := v311Persistent(t, ts, id)
	pk := pub.PublishPacket("resume2/x", []byte("once"), 2, false)
	pk.PacketID = 9
	pub.MustSend(pk)
	pub.Expect(packets.Pubrec)
	pub.Close()
	sub.ExpectMessage("resume2/x", []byte("once"))

	pub, _ = v311Persistent(t, ts, id)
	pk.FixedHeader.Dup = true
	pub.MustSend(pk)
	if rec := pub.Expect(packets.Pubrec); rec.PacketID != 9 {
		t.Fatalf("[MQTT-4.3.3-2] PUBREC id %d, want 9", rec.PacketID)
	}
	pub.MustSend(mqtttest.AckPacket(packets.Pubrel, 9, 0))
	pub.Expect(packets.Pubcomp)
	sub.ExpectNothing(v311Quiet)
}

// [MQTT-4.5.0-1]: a message is added to the session of every client with a
// matching subscription, connected or not.
func TestV311_4_5_0_1(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	a := v311Connect(t, ts, "a")
	a.MustSubscribe(mqtttest.Sub("fan/#", 1))
	b := v311Connect(t, ts, "b")
	b.MustSubscribe(mqtttest.Sub("fan/+", 2))
	offID := v311ID(t, "off")
	off, _ := v311Persistent(t, ts, offID)
	off.MustSubscribe(mqtttest.Sub("fan/x", 1))
	off.Close()
	v311Connect(t, ts, "p").MustPublish("fan/x", []byte("all"), 1, false)
	a.ExpectMessage("fan/x", []byte("all"))
	b.ExpectMessage("fan/x", []byte("all"))
	off, _ = v311Persistent(t, ts, offID)
	off.ExpectMessage("fan/x", []byte("all"))
}

// [MQTT-4.6.0-2], [MQTT-4.6.0-3]: the server sends PUBACKs and PUBRECs in
// the order the PUBLISHes arrived, even when their store commits finish in
// another order (a durable subscriber makes some of them wait for an
// fsync, others not).
func TestV311_4_6_0_2(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	d, _ := v311Persistent(t, ts, v311ID(t, "d"))
	d.MustSubscribe(mqtttest.Sub("ord/durable", 2))
	pub := v311Connect(t, ts, "p")
	var sent []uint16
	var raw []byte
	for i := range 60 {
		topic := "ord/durable"
		if i%3 == 0 {
			topic = "ord/none"
		}
		pk := pub.PublishPacket(topic, []byte{byte(i)}, byte(1+i%2), false)
		b, err := mqtttest.Encode(pk, 4)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b...)
		sent = append(sent, pk.PacketID)
	}
	pub.SendRaw(raw) // pipelined in one write
	for i, id := range sent {
		f, err := pub.NextFrame(waitLong)
		if err != nil {
			t.Fatal(err)
		}
		want := byte(packets.Puback)
		if i%2 == 1 {
			want = packets.Pubrec
		}
		if f.Type() != want || v311FramePID(f) != id {
			t.Fatalf("[MQTT-4.6.0-2]/[MQTT-4.6.0-3] acknowledgement %d is %v, want %s for id %d", i, f, mqtttest.TypeName(want), id)
		}
	}
}

// [MQTT-4.6.0-4]: the server sends its PUBRELs in the order the PUBRECs
// arrived.
func TestV311_4_6_0_4(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	sub := v311Connect(t, ts, "s")
	sub.MustSubscribe(mqtttest.Sub("rel/#", 2))
	pub := v311Connect(t, ts, "p")
	const n = 10
	for i := range n {
		pub.MustPublish("rel/x", []byte{byte(i)}, 2, false)
	}
	var ids []uint16
	for range n {
		ids = append(ids, sub.ExpectPublish().PacketID)
	}
	slices.Reverse(ids)
	var raw []byte
	for _, id := range ids {
		b, _ := mqtttest.Encode(mqtttest.AckPacket(packets.Pubrec, id, 0), 4)
		raw = append(raw, b...)
	}
	sub.SendRaw(raw)
	for _, id := range ids {
		if rel := sub.Expect(packets.Pubrel); rel.PacketID != id {
			t.Fatalf("[MQTT-4.6.0-4] PUBREL for %d, want %d (order of the PUBRECs)", rel.PacketID, id)
		}
	}
}

// [MQTT-4.6.0-5], [MQTT-4.6.0-6]: every topic is ordered: each subscriber
// receives each publisher's messages of one topic and QoS in the order
// they were published, with two publishers interleaving.
func TestV311_4_6_0_6(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	var subs []*mqtttest.Conn
	for i, qos := range []byte{0, 1, 2} {
		s := v311Connect(t, ts, fmt.Sprint("s", i))
		s.MustSubscribe(mqtttest.Sub("seq/#", qos))
		subs = append(subs, s)
	}
	const n = 100
	pubs := []*mqtttest.Conn{v311Connect(t, ts, "p0"), v311Connect(t, ts, "p1")}
	for qos := byte(0); qos <= 2; qos++ {
		for i := range n {
			for p, pub := range pubs {
				pub.MustPublish("seq/x", fmt.Appendf(nil, "%d-%d-%03d", qos, p, i), qos, false)
			}
		}
	}
	for si, s := range subs {
		next := map[string]int{}
		for _, pk := range v311Received(t, s, 3*n*len(pubs)) {
			var qos, p, i int
			fmt.Sscanf(string(pk.Payload), "%d-%d-%d", &qos, &p, &i)
			key := fmt.Sprint(qos, p)
			if i != next[key] {
				t.Fatalf("[MQTT-4.6.0-6] subscriber %d: publisher %d QoS %d message %d arrived when %d was due",
					si, p, qos, i, next[key])
			}
			next[key]++
		}
	}
}
