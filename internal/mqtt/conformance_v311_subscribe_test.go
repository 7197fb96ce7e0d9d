package mqtt

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// MQTT 3.1.1 conformance: SUBSCRIBE (3.8), SUBACK (3.9), UNSUBSCRIBE
// (3.10), PINGREQ (3.12) and topic names and filters (4.7).

// v311InvalidSubscribeCases lists malformed SUBSCRIBE and UNSUBSCRIBE packets (and
// topics with U+0000), which close the connection.
func v311InvalidSubscribeCases() []v311RawCase {
	pid := []byte{0, 1}
	return []v311RawCase{
		{"MQTT-3.8.3-1/filter-not-utf8", v311Frame(0x82, pid, v311Field("a/\xff"), []byte{0})},
		{"MQTT-3.8.3-3/no-filters", v311Frame(0x82, pid)},
		{"MQTT-3.8.3-4/qos-3", v311Frame(0x82, pid, v311Field("a/b"), []byte{3})},
		{"MQTT-3.8.3-4/reserved-bit-2", v311Frame(0x82, pid, v311Field("a/b"), []byte{0x04})},
		{"MQTT-3.8.3-4/reserved-bit-7", v311Frame(0x82, pid, v311Field("a/b"), []byte{0x81})},
		{"MQTT-3.8.3-4/second-filter-reserved-bits", v311Frame(0x82, pid, v311Field("a/b"), []byte{1}, v311Field("a/c"), []byte{0x10})},
		{"MQTT-3.8.3-4/missing-qos-byte", v311Frame(0x82, pid, v311Field("a/b"))},
		{"MQTT-3.10.3-1/filter-not-utf8", v311Frame(0xa2, pid, v311Field("a/\xed\xa0\x80"))},
		{"MQTT-3.10.3-1/filter-length-overruns-packet", v311Frame(0xa2, pid, []byte{0, 8, 'a'})},
		{"MQTT-3.10.3-2/no-filters", v311Frame(0xa2, pid)},
		{"MQTT-4.7.3-2/subscribe-filter-nul", v311Frame(0x82, pid, v311Field("a/\x00/b"), []byte{0})},
		{"MQTT-4.7.3-2/publish-topic-nul", v311Frame(0x30, v311Field("\x00"), []byte("x"))},
		{"MQTT-4.7.3-2/unsubscribe-filter-nul", v311Frame(0xa2, pid, v311Field("a\x00"))},
	}
}

// Malformed SUBSCRIBE and UNSUBSCRIBE packets close the connection.
func TestV311InvalidSubscribe(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	for _, tc := range v311InvalidSubscribeCases() {
		t.Run(tc.name, func(t *testing.T) {
			c := v311Connect(t, ts, "")
			c.SendRaw(tc.raw)
			v311ExpectDropped(t, c, tc.name)
		})
	}
}

// v311SubackCodes subscribes with subs and returns the SUBACK codes,
// failing unless there is exactly one per filter.
func v311SubackCodes(t *testing.T, c *mqtttest.Conn, subs ...packets.Subscription) []byte {
	t.Helper()
	ack, err := c.Subscribe(subs...)
	if err != nil {
		t.Fatalf("[MQTT-3.8.4-1] no SUBACK: %v", err)
	}
	if len(ack.ReasonCodes) != len(subs) {
		t.Fatalf("[MQTT-3.8.4-5] %d return codes for %d filters", len(ack.ReasonCodes), len(subs))
	}
	return ack.ReasonCodes
}

// [MQTT-3.8.4-1], [MQTT-3.8.4-5], [MQTT-3.9.3-1], [MQTT-3.9.3-2]: every
// SUBSCRIBE gets a SUBACK with one return code per filter, in the order of
// the filters: the granted QoS, or 0x80 for a filter the server refuses;
// no other code.
func TestV311_3_8_4_5(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	c := v311Connect(t, ts, "")
	subs := []packets.Subscription{
		mqtttest.Sub("ok/2", 2), mqtttest.Sub("bad/#/x", 1), mqtttest.Sub("ok/0", 0),
		mqtttest.Sub("bad+", 0), mqtttest.Sub("ok/+/1", 1), mqtttest.Sub("bad/x#", 2),
		mqtttest.Sub("$share/g/ok/s", 1), mqtttest.Sub("#", 2), mqtttest.Sub("", 1),
	}
	want := []byte{2, 0x80, 0, 0x80, 1, 0x80, 1, 2, 0x80}
	got := v311SubackCodes(t, c, subs...)
	if !bytes.Equal(got, want) {
		t.Fatalf("[MQTT-3.9.3-1] SUBACK codes % x, want % x", got, want)
	}
	for _, rc := range got {
		if rc > 2 && rc != 0x80 {
			t.Fatalf("[MQTT-3.9.3-2] reserved SUBACK code %#x", rc)
		}
	}
	// A SUBSCRIBE of only refused filters is answered too.
	if got := v311SubackCodes(t, c, mqtttest.Sub("a/#/b", 0)); got[0] != 0x80 {
		t.Fatalf("[MQTT-3.8.4-1] code %#x for an invalid filter", got[0])
	}
}

// [MQTT-3.8.3-2]: mqsight supports wildcard filters, so none is refused
// for containing a wildcard, and they match.
func TestV311_3_8_3_2(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	c := v311Connect(t, ts, "")
	for i, rc := range v311SubackCodes(t, c, mqtttest.Sub("w/+/x", 1), mqtttest.Sub("v/#", 1), mqtttest.Sub("+/+/+/+", 0)) {
		if rc == 0x80 {
			t.Fatalf("[MQTT-3.8.3-2] wildcard filter %d refused", i)
		}
	}
	pub := v311Connect(t, ts, "p")
	pub.MustPublish("w/1/x", []byte("plus"), 1, false)
	c.ExpectMessage("w/1/x", []byte("plus"))
	pub.MustPublish("v/a/b/c", []byte("hash"), 1, false)
	c.ExpectMessage("v/a/b/c", []byte("hash"))
}

// [MQTT-3.8.3-1]: filters are UTF-8 strings; multi-byte filters match the
// same characters in topic names.
func TestV311_3_8_3_1(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	c := v311Connect(t, ts, "")
	c.MustSubscribe(mqtttest.Sub("ダ/+/ü", 0))
	pub := v311Connect(t, ts, "p")
	pub.MustPublish("ダ/€/ü", []byte("x"), 0, false)
	c.ExpectMessage("ダ/€/ü", []byte("x"))
}

// [MQTT-3.8.4-3]: subscribing again to an identical filter replaces the
// subscription (new QoS, one copy per message), re-sends the matching
// retained messages, and loses nothing in flight.
func TestV311_3_8_4_3(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	pub := v311Connect(t, ts, "p")
	pub.MustPublish("rep/r", []byte("retained"), 2, true)
	c := v311Connect(t, ts, "")
	c.MustSubscribe(mqtttest.Sub("rep/#", 0))
	if got := c.ExpectMessage("rep/r", []byte("retained")); got.FixedHeader.Qos != 0 {
		t.Fatalf("retained at QoS %d on a QoS 0 subscription", got.FixedHeader.Qos)
	}
	pub.MustPublish("rep/x", []byte("before"), 2, false)
	c.ExpectMessage("rep/x", []byte("before"))

	c.MustSubscribe(mqtttest.Sub("rep/#", 2))
	got := c.ExpectMessage("rep/r", []byte("retained"))
	if !got.FixedHeader.Retain || got.FixedHeader.Qos != 2 {
		t.Fatalf("[MQTT-3.8.4-3] retained message re-sent as %s, want RETAIN at the new QoS 2", mqtttest.Describe(got))
	}
	pub.MustPublish("rep/x", []byte("after"), 2, false)
	if got := c.ExpectMessage("rep/x", []byte("after")); got.FixedHeader.Qos != 2 {
		t.Fatalf("[MQTT-3.8.4-3] delivered at QoS %d after the replacement, want 2", got.FixedHeader.Qos)
	}
	c.ExpectNothing(v311Quiet) // one subscription, one copy

	// A message in flight when the subscription is replaced completes.
	pub.MustPublish("rep/y", []byte("inflight"), 2, false)
	inflight := c.ExpectPublish()
	c.MustSubscribe(mqtttest.Sub("rep/#", 1))
	c.ExpectMessage("rep/r", []byte("retained"))
	if err := c.Acknowledge(inflight); err != nil {
		t.Fatalf("[MQTT-3.8.4-3] in-flight QoS 2 delivery interrupted by the replacement: %v", err)
	}
}

// [MQTT-3.8.4-4]: several filters in one SUBSCRIBE act like successive
// SUBSCRIBEs, answered by one SUBACK.
func TestV311_3_8_4_4(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	c := v311Connect(t, ts, "")
	pk := c.SubscribePacket(mqtttest.Sub("many/0", 0), mqtttest.Sub("many/1", 1), mqtttest.Sub("many/2", 2), mqtttest.Sub("many/1", 2))
	c.MustSend(pk)
	ack := c.Expect(packets.Suback)
	if !bytes.Equal(ack.ReasonCodes, []byte{0, 1, 2, 2}) {
		t.Fatalf("[MQTT-3.8.4-4] codes % x", ack.ReasonCodes)
	}
	c.ExpectNothing(v311Quiet) // one SUBACK only
	pub := v311Connect(t, ts, "p")
	for _, topic := range []string{"many/0", "many/1", "many/2"} {
		pub.MustPublish(topic, []byte(topic), 2, false)
		got := c.ExpectMessage(topic, []byte(topic))
		if want := map[string]byte{"many/0": 0, "many/1": 2, "many/2": 2}[topic]; got.FixedHeader.Qos != want {
			t.Fatalf("[MQTT-3.8.4-4] %s at QoS %d, want %d (the later filter replaces the earlier)", topic, got.FixedHeader.Qos, want)
		}
	}
	c.ExpectNothing(v311Quiet)
}

// [MQTT-3.8.4-6]: a message goes out at the lower of its published QoS and
// the subscription's granted QoS.
func TestV311_3_8_4_6(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	var subs [3]*mqtttest.Conn
	for q := range subs {
		subs[q] = v311Connect(t, ts, "")
		subs[q].MustSubscribe(mqtttest.Sub("min/x", byte(q)))
	}
	pub := v311Connect(t, ts, "p")
	for pq := byte(0); pq <= 2; pq++ {
		pub.MustPublish("min/x", []byte{pq}, pq, false)
		for sq, s := range subs {
			if got := s.ExpectMessage("min/x", []byte{pq}); got.FixedHeader.Qos != min(pq, byte(sq)) {
				t.Fatalf("[MQTT-3.8.4-6] published at %d, granted %d: delivered at %d", pq, sq, got.FixedHeader.Qos)
			}
		}
	}
}

// [MQTT-3.10.3-1], [MQTT-3.10.4-6]: an UNSUBSCRIBE with several filters
// packed one after the other acts like successive UNSUBSCRIBEs with one
// UNSUBACK.
func TestV311_3_10_4_6(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	c := v311Connect(t, ts, "")
	c.MustSubscribe(mqtttest.Sub("un/a", 1), mqtttest.Sub("un/b", 1), mqtttest.Sub("un/c", 1))
	c.SendRaw(v311Frame(0xa2, []byte{0, 77}, v311Field("un/a"), v311Field("un/c"), v311Field("un/none")))
	if ack := c.Expect(packets.Unsuback); ack.PacketID != 77 {
		t.Fatalf("[MQTT-3.10.4-6] UNSUBACK id %d", ack.PacketID)
	}
	c.ExpectNothing(v311Quiet) // exactly one UNSUBACK
	pub := v311Connect(t, ts, "p")
	for _, topic := range []string{"un/a", "un/b", "un/c"} {
		pub.MustPublish(topic, []byte(topic), 1, false)
	}
	c.ExpectMessage("un/b", []byte("un/b"))
	c.ExpectNothing(v311Quiet)
}

// [MQTT-3.10.4-1]: filters are compared character by character: only an
// identical filter deletes a subscription (no wildcard matching, no case
// folding).
func TestV311_3_10_4_1(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	c := v311Connect(t, ts, "")
	c.MustSubscribe(mqtttest.Sub("ex/+", 1))
	for _, f := range []string{"ex/#", "ex/a", "EX/+", "ex/+/", "ex/+ "} {
		if _, err := c.Unsubscribe(f); err != nil {
			t.Fatal(err)
		}
	}
	pub := v311Connect(t, ts, "p")
	pub.MustPublish("ex/a", []byte("still"), 1, false)
	c.ExpectMessage("ex/a", []byte("still"))
	if _, err := c.Unsubscribe("ex/+"); err != nil {
		t.Fatal(err)
	}
	pub.MustPublish("ex/a", []byte("gone"), 1, false)
	c.ExpectNothing(v311Quiet)
}

// [MQTT-3.10.4-2], [MQTT-3.10.4-3]: after UNSUBSCRIBE no new message is
// added for the subscription, while QoS 1 and 2 deliveries already started
// complete.
func TestV311_3_10_4_2(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	c := v311Connect(t, ts, "")
	c.MustSubscribe(mqtttest.Sub("stop/#", 2))
	pub := v311Connect(t, ts, "p")
	pub.MustPublish("stop/1", []byte("q1"), 1, false)
	pub.MustPublish("stop/2", []byte("q2"), 2, false)
	q1, q2 := c.ExpectPublish(), c.ExpectPublish()
	c.MustSend(mqtttest.AckPacket(packets.Pubrec, q2.PacketID, 0))
	c.Expect(packets.Pubrel)
	pub.MustPublish("stop/3", []byte("q2b"), 2, false)
	q2b := c.ExpectPublish()

	if _, err := c.Unsubscribe("stop/#"); err != nil {
		t.Fatal(err)
	}
	pub.MustPublish("stop/4", []byte("late"), 1, false)
	// The started deliveries complete: PUBACK is taken, PUBCOMP ends the
	// PUBREL'd one, and the PUBLISHed QoS 2 one gets its PUBREL.
	c.MustSend(mqtttest.AckPacket(packets.Puback, q1.PacketID, 0))
	c.MustSend(mqtttest.AckPacket(packets.Pubcomp, q2.PacketID, 0))
	if err := c.Acknowledge(q2b); err != nil {
		t.Fatalf("[MQTT-3.10.4-3] QoS 2 delivery started before UNSUBSCRIBE not completed: %v", err)
	}
	c.ExpectNothing(v311Quiet) // [MQTT-3.10.4-2]: nothing new
}

// [MQTT-3.10.4-3] with [MQTT-4.4.0-1]: deliveries started before an
// UNSUBSCRIBE stay in the session until completed, so a Clean Session 0
// client that reconnects first gets the unacknowledged PUBLISH (DUP 1)
// and the PUBREL again, with their identifiers, and nothing else.
func TestV311_3_10_4_3(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	id := v311ID(t, "")
	c, _ := v311Persistent(t, ts, id)
	c.MustSubscribe(mqtttest.Sub("unfinished/#", 2))
	pub := v311Connect(t, ts, "p")
	pub.MustPublish("unfinished/1", []byte("q1"), 1, false)
	pub.MustPublish("unfinished/2", []byte("q2"), 2, false)
	pub.MustPublish("unfinished/3", []byte("q2-published"), 2, false)
	q1, q2, q2p := c.ExpectPublish(), c.ExpectPublish(), c.ExpectPublish()
	c.MustSend(mqtttest.AckPacket(packets.Pubrec, q2.PacketID, 0))
	c.Expect(packets.Pubrel)
	if _, err := c.Unsubscribe("unfinished/#"); err != nil {
		t.Fatal(err)
	}
	c.Close()

	c, _ = v311Persistent(t, ts, id)
	var rel *packets.Packet
	var resent []*packets.Packet
	for range 3 {
		pk, err := c.Next(waitLong)
		if err != nil {
			t.Fatalf("[MQTT-3.10.4-3] a delivery started before UNSUBSCRIBE was not resumed: %v", err)
		}
		switch pk.FixedHeader.Type {
		case packets.Pubrel:
			rel = pk
		case packets.Publish:
			resent = append(resent, pk)
		}
	}
	if rel == nil || rel.PacketID != q2.PacketID {
		t.Fatalf("[MQTT-3.10.4-3] PUBREL %v, want one for id %d", rel, q2.PacketID)
	}
	if len(resent) != 2 || resent[0].PacketID != q1.PacketID || resent[1].PacketID != q2p.PacketID ||
		!resent[0].FixedHeader.Dup || !resent[1].FixedHeader.Dup {
		t.Fatalf("[MQTT-3.10.4-3] re-sent %v, want ids %d and %d with DUP", resent, q1.PacketID, q2p.PacketID)
	}
	c.MustSend(mqtttest.AckPacket(packets.Pubcomp, q2.PacketID, 0))
	for _, pk := range resent {
		c.MustAcknowledge(pk)
	}
	pub.MustPublish("unfinished/4", []byte("late"), 1, false)
	c.ExpectNothing(v311Quiet)
	c.Close()
	c, _ = v311Persistent(t, ts, id)
	c.ExpectNothing(v311Quiet) // completed: nothing left to re-send
}

// [MQTT-3.10.4-5]: UNSUBACK is sent even when no subscription matched.
func TestV311_3_10_4_5(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	c := v311Connect(t, ts, "")
	ack, err := c.Unsubscribe("never/subscribed")
	if err != nil || ack.FixedHeader.Type != packets.Unsuback {
		t.Fatalf("[MQTT-3.10.4-5] no UNSUBACK: %v", err)
	}
}

// [MQTT-3.12.4-1]: PINGREQ is answered with PINGRESP, also pipelined.
func TestV311_3_12_4_1(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	c := v311Connect(t, ts, "")
	c.SendRaw([]byte{0xc0, 0, 0xc0, 0, 0xc0, 0})
	for range 3 {
		c.Expect(packets.Pingresp)
	}
}

// Topic names and filters (4.7).
func TestV311Topics(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	pub := v311Connect(t, ts, "pub")
	// matches reports which of names a new subscription to filter gets.
	matches := func(t *testing.T, filter string, names ...string) []string {
		t.Helper()
		c := v311Connect(t, ts, "")
		if rc := v311SubackCodes(t, c, mqtttest.Sub(filter, 0)); rc[0] != 0 {
			t.Fatalf("filter %q refused (%#x)", filter, rc[0])
		}
		for _, n := range names {
			pub.MustPublish(n, []byte(n), 0, false)
		}
		pub.Ping() // all routed
		var got []string
		for {
			pk, err := c.Next(v311Quiet)
			if err != nil {
				return got
			}
			got = append(got, pk.TopicName)
		}
	}
	check := func(t *testing.T, filter string, names []string, want ...string) {
		t.Helper()
		if got := matches(t, filter, names...); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("filter %q matched %q, want %q", filter, got, want)
		}
	}
	refused := func(t *testing.T, filters ...string) {
		t.Helper()
		c := v311Connect(t, ts, "")
		for _, f := range filters {
			if rc := v311SubackCodes(t, c, mqtttest.Sub(f, 0)); rc[0] != 0x80 {
				t.Fatalf("invalid filter %q granted (%#x)", f, rc[0])
			}
		}
	}

	t.Run("MQTT-4.7.1-1", func(t *testing.T) {
		check(t, "t1/+/#", []string{"t1/a", "t1/a/b", "t1"}, "t1/a", "t1/a/b")
		for _, name := range []string{"t1/+", "t1/#", "+", "#"} {
			c := v311Connect(t, ts, "")
			c.MustSend(c.PublishPacket(name, []byte("x"), 0, false))
			v311ExpectDropped(t, c, "wildcard in topic name "+name)
		}
	})
	t.Run("MQTT-4.7.1-2", func(t *testing.T) {
		check(t, "sport/tennis/#", []string{"sport/tennis", "sport/tennis/p1", "sport/tennis/p1/r", "sport/tennisx", "sport"},
			"sport/tennis", "sport/tennis/p1", "sport/tennis/p1/r")
		check(t, "#", []string{"hash/a", "/hash"}, "hash/a", "/hash")
		refused(t, "sport/tennis#", "sport/#/ranking", "#/a", "a/b#", "##")
	})
	t.Run("MQTT-4.7.1-3", func(t *testing.T) {
		check(t, "plus/+/p", []string{"plus/a/p", "plus//p", "plus/a/b/p", "plus/p"}, "plus/a/p", "plus//p")
		check(t, "+", []string{"single", "single/x", "/single"}, "single")
		check(t, "+/+", []string{"/lead", "lead/x", "lead"}, "/lead", "lead/x")
		refused(t, "plus+", "plus/+x", "plus/x+/y", "++")
	})
	t.Run("MQTT-4.7.2-1", func(t *testing.T) {
		names := []string{"$dollar/a", "$SYS/x", "dollar/a"}
		check(t, "#", names, "dollar/a")
		check(t, "+/a", names, "dollar/a")
		check(t, "$dollar/#", names, "$dollar/a")
		check(t, "$SYS/+", names, "$SYS/x")
		// Retained messages too.
		pub.MustPublish("$dollar/retained", []byte("d"), 1, true)
		pub.MustPublish("dollar/retained", []byte("p"), 1, true)
		for _, f := range []string{"#", "+/retained"} {
			c := v311Connect(t, ts, "")
			c.MustSubscribe(mqtttest.Sub(f, 1))
			c.ExpectMessage("dollar/retained", []byte("p"))
			c.ExpectNothing(v311Quiet)
		}
	})
	t.Run("MQTT-4.7.3-1", func(t *testing.T) {
		refused(t, "")
		check(t, "/", []string{"/", "//", "a"}, "/")
		c := v311Connect(t, ts, "")
		c.SendRaw(v311Frame(0x30, v311Field(""), []byte("x")))
		v311ExpectDropped(t, c, "empty topic name")
	})
	t.Run("MQTT-4.7.3-3", func(t *testing.T) {
		long := "L/" + strings.Repeat("x", 65535-2)
		c := v311Connect(t, ts, "")
		c.MustSubscribe(mqtttest.Sub(long, 1), mqtttest.Sub("L/+", 1))
		pub.MustPublish(long, []byte("max"), 1, false)
		c.ExpectMessage(long, []byte("max"))
		c.ExpectMessage(long, []byte("max"))
	})
	t.Run("MQTT-4.7.3-4", func(t *testing.T) {
		names := []string{"Case/x", "case/x", "caf\u00e9/x", "cafe\u0301/x", "case /x", "case/x/"}
		check(t, "case/x", names, "case/x")
		check(t, "caf\u00e9/+", names, "caf\u00e9/x")
		check(t, "cafe\u0301/+", names, "cafe\u0301/x")
		check(t, "Case/+", names, "Case/x")
	})
}
