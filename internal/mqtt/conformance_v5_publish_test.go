package mqtt

// MQTT 5.0 conformance, sections 3.3 PUBLISH and 3.4-3.7 PUBACK, PUBREC,
// PUBREL, PUBCOMP.

import (
	"bytes"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// v5Clock is a clock a test moves forward, for message expiry.
type v5Clock struct{ off atomic.Int64 }

func (c *v5Clock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *v5Clock) advance(d time.Duration) { c.off.Add(int64(d)) }

// v5WithClock makes the server use clock.
func v5WithClock(clock *v5Clock) func(*testServer) {
	return func(ts *testServer) { ts.opts.Now = clock.now }
}

// v5ExpectDisconnectOneOf requires a DISCONNECT with one of rcs, then the
// close.
func v5ExpectDisconnectOneOf(t *testing.T, c *mqtttest.Conn, rcs ...byte) {
	t.Helper()
	pks := c.ExpectClosed(v5Close)
	if len(pks) != 1 || pks[0].FixedHeader.Type != packets.Disconnect || !slices.Contains(rcs, pks[0].ReasonCode) {
		t.Fatalf("before the close got %s, want DISCONNECT with one of % x", v5Describe(pks), rcs)
	}
}

func TestV5Publish(t *testing.T) {
	v5Case(t, "MQTT-3.3.1-1", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c", v5Persistent)
		c.MustSubscribe(mqtttest.Sub("t", 2))
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("t", []byte("1"), 1, false)
		pub.MustPublish("t", []byte("2"), 2, false)
		for range 2 {
			if got := c.ExpectPublish(); got.FixedHeader.Dup {
				t.Fatalf("first delivery with DUP: %s", mqtttest.Describe(got))
			}
		}
		v5Offline(t, ts, c)
		c, _ = v5Open(t, ts, "c", v5Persistent)
		for _, want := range []string{"1", "2"} {
			if got := c.ExpectMessage("t", []byte(want)); !got.FixedHeader.Dup {
				t.Fatalf("re-delivery without DUP: %s", mqtttest.Describe(got))
			}
		}
	})
	v5Case(t, "MQTT-3.3.1-2", func(t *testing.T, ts *testServer) {
		c := v5Watch(t, ts, "c", "t")
		c.MustSubscribe(mqtttest.Sub("t", 0))
		pub, _ := v5Open(t, ts, "pub")
		pk := pub.PublishPacket("t", []byte("x"), 1, false)
		pk.FixedHeader.Dup = true
		if _, err := pub.PublishWith(pk); err != nil {
			t.Fatal(err)
		}
		if got := c.ExpectPublish(); got.FixedHeader.Qos != 0 || got.FixedHeader.Dup {
			t.Fatalf("QoS 0 delivery %s, want DUP 0", mqtttest.Describe(got))
		}
	})
	v5Case(t, "MQTT-3.3.1-3", func(t *testing.T, ts *testServer) {
		c := v5Watch(t, ts, "c", "t")
		pub, _ := v5Open(t, ts, "pub")
		for _, qos := range []byte{1, 2} {
			pk := pub.PublishPacket("t", []byte("x"), qos, false)
			pk.FixedHeader.Dup = true // the publisher's retransmission
			if _, err := pub.PublishWith(pk); err != nil {
				t.Fatal(err)
			}
			if got := c.ExpectMessage("t", []byte("x")); got.FixedHeader.Dup {
				t.Fatalf("first delivery carries the incoming DUP: %s", mqtttest.Describe(got))
			}
		}
	})
	v5Case(t, "MQTT-3.3.1-4", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.SendRaw([]byte{0x36, 0x06, 0, 1, 't', 0, 1, 0})
		v5ExpectDisconnect(t, c, 0x81)
	})
	v5Case(t, "MQTT-3.3.1-5", func(t *testing.T, ts *testServer) {
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("r", []byte("old"), 1, true)
		pub.MustPublish("r", []byte("new"), 0, true)
		// QoS 0 has no acknowledgement: a round trip on the same
		// connection shows the server has processed the publish before
		// another connection subscribes.
		if err := pub.Ping(); err != nil {
			t.Fatal(err)
		}
		c := v5Watch(t, ts, "c", "r")
		if got := c.ExpectMessage("r", []byte("new")); !got.FixedHeader.Retain {
			t.Fatal("retained message sent without RETAIN")
		}
		c.ExpectNothing(v5Quiet)
	})
	v5Case(t, "MQTT-3.3.1-6", func(t *testing.T, ts *testServer) {
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("r", []byte("old"), 1, true)
		c := v5Watch(t, ts, "c", "r")
		c.ExpectMessage("r", []byte("old"))
		pub.MustPublish("r", nil, 1, true)
		c.ExpectMessage("r", nil) // delivered to current subscribers as normal
		v5Watch(t, ts, "late", "r").ExpectNothing(v5Quiet)
	})
	v5Case(t, "MQTT-3.3.1-7", func(t *testing.T, ts *testServer) {
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("r", nil, 1, true) // no retained message before
		v5Watch(t, ts, "late", "r").ExpectNothing(v5Quiet)
		ts.restart()
		c, _ := v5Open(t, ts, "c")
		c.MustSubscribe(mqtttest.Sub("r", 1))
		c.ExpectNothing(v5Quiet)
	})
	v5Case(t, "MQTT-3.3.1-8", func(t *testing.T, ts *testServer) {
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("r", []byte("kept"), 1, true)
		pub.MustPublish("r", []byte("plain"), 1, false)
		pub.MustPublish("n", []byte("plain"), 1, false)
		c := v5Watch(t, ts, "c", "#")
		if got := c.ExpectMessage("r", []byte("kept")); !got.FixedHeader.Retain {
			t.Fatal("retained message sent without RETAIN")
		}
		c.ExpectNothing(v5Quiet)
	})
	for _, tc := range []struct {
		id             string
		handling       byte
		first, replace bool // retained sent on first subscribe / on re-subscribe
	}{
		{"MQTT-3.3.1-9", 0, true, true},
		{"MQTT-3.3.1-10", 1, true, false},
		{"MQTT-3.3.1-11", 2, false, false},
	} {
		v5Case(t, tc.id, func(t *testing.T, ts *testServer) {
			pub, _ := v5Open(t, ts, "pub")
			pub.MustPublish("r", []byte("x"), 1, true)
			c, _ := v5Open(t, ts, "c")
			sub := packets.Subscription{Filter: "r", Qos: 1, RetainHandling: tc.handling}
			for _, want := range []bool{tc.first, tc.replace} {
				c.MustSubscribe(sub)
				if want {
					c.ExpectMessage("r", []byte("x"))
				}
				c.ExpectNothing(v5Quiet)
			}
		})
	}
	for _, tc := range []struct {
		id  string
		rap bool
	}{{"MQTT-3.3.1-12", false}, {"MQTT-3.3.1-13", true}} {
		v5Case(t, tc.id, func(t *testing.T, ts *testServer) {
			c, _ := v5Open(t, ts, "c")
			c.MustSubscribe(packets.Subscription{Filter: "r", Qos: 1, RetainAsPublished: tc.rap})
			pub, _ := v5Open(t, ts, "pub")
			pub.MustPublish("r", []byte("retained"), 1, true)
			pub.MustPublish("r", []byte("plain"), 1, false)
			if got := c.ExpectMessage("r", []byte("retained")); got.FixedHeader.Retain != tc.rap {
				t.Fatalf("Retain As Published %v: forwarded with RETAIN %v", tc.rap, got.FixedHeader.Retain)
			}
			if got := c.ExpectMessage("r", []byte("plain")); got.FixedHeader.Retain {
				t.Fatal("non-retained message forwarded with RETAIN 1")
			}
		})
	}
	v5Case(t, "MQTT-3.3.2-1", func(t *testing.T, ts *testServer) {
		// A topic length running past the packet is malformed.
		c, _ := v5Open(t, ts, "c")
		c.SendRaw([]byte{0x30, 0x04, 0, 9, 't', 0})
		v5ExpectDisconnect(t, c, 0x81)
		// No topic and no alias is a Protocol Error.
		c, _ = v5Open(t, ts, "c")
		c.SendRaw(v5RawPublish("", nil, "x"))
		v5ExpectDisconnectOneOf(t, c, 0x82, 0x90)
	})
	v5Case(t, "MQTT-3.3.2-2", func(t *testing.T, ts *testServer) {
		watch := v5Watch(t, ts, "watch", "#")
		for _, name := range []string{"a/+", "a/#", "+"} {
			c, _ := v5Open(t, ts, "c")
			c.MustSend(c.PublishPacket(name, []byte("x"), 0, false))
			v5ExpectDisconnectOneOf(t, c, 0x82, 0x90)
		}
		watch.ExpectNothing(v5Quiet)
	})
	v5Case(t, "MQTT-3.3.2-3", func(t *testing.T, ts *testServer) {
		c := v5Watch(t, ts, "c", "a/+/c")
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("a/b/c", []byte("x"), 0, false)
		if got := c.ExpectPublish(); got.TopicName != "a/b/c" {
			t.Fatalf("topic %q, want the published a/b/c", got.TopicName)
		}
	})
	// Properties forwarded unchanged.
	for _, tc := range []struct {
		id    string
		set   func(*packets.Properties)
		check func(packets.Properties) bool
	}{
		{"MQTT-3.3.2-4", func(p *packets.Properties) { p.PayloadFormat, p.PayloadFormatFlag = 1, true },
			func(p packets.Properties) bool { return p.PayloadFormatFlag && p.PayloadFormat == 1 }},
		{"MQTT-3.3.2-15", func(p *packets.Properties) { p.ResponseTopic = "reply/to/me" },
			func(p packets.Properties) bool { return p.ResponseTopic == "reply/to/me" }},
		{"MQTT-3.3.2-16", func(p *packets.Properties) { p.CorrelationData = []byte{0, 1, 0xff} },
			func(p packets.Properties) bool { return bytes.Equal(p.CorrelationData, []byte{0, 1, 0xff}) }},
		{"MQTT-3.3.2-17", func(p *packets.Properties) {
			p.User = []packets.UserProperty{{Key: "a", Val: "1"}, {Key: "a", Val: "1"}}
		},
			func(p packets.Properties) bool {
				return slices.Equal(p.User, []packets.UserProperty{{Key: "a", Val: "1"}, {Key: "a", Val: "1"}})
			}},
		{"MQTT-3.3.2-18", func(p *packets.Properties) {
			p.User = []packets.UserProperty{{Key: "z", Val: "1"}, {Key: "a", Val: "2"}, {Key: "z", Val: "0"}}
		}, func(p packets.Properties) bool {
			return slices.Equal(p.User, []packets.UserProperty{{Key: "z", Val: "1"}, {Key: "a", Val: "2"}, {Key: "z", Val: "0"}})
		}},
		{"MQTT-3.3.2-20", func(p *packets.Properties) { p.ContentType = "application/json; charset=utf-8" },
			func(p packets.Properties) bool { return p.ContentType == "application/json; charset=utf-8" }},
	} {
		v5Case(t, tc.id, func(t *testing.T, ts *testServer) {
			c, _ := v5Open(t, ts, "c", v5Persistent)
			c.MustSubscribe(mqtttest.Sub("t", 1))
			pub, _ := v5Open(t, ts, "pub")
			pk := pub.PublishPacket("t", []byte("x"), 1, false)
			tc.set(&pk.Properties)
			if _, err := pub.PublishWith(pk); err != nil {
				t.Fatal(err)
			}
			if got := c.ExpectPublish(); !tc.check(got.Properties) {
				t.Fatalf("forwarded properties %+v", got.Properties)
			}
			// Also when the message was stored for an offline session.
			v5Offline(t, ts, c)
			pk = pub.PublishPacket("t", []byte("y"), 1, false)
			tc.set(&pk.Properties)
			if _, err := pub.PublishWith(pk); err != nil {
				t.Fatal(err)
			}
			ts.restart()
			c, _ = v5Open(t, ts, "c", v5Persistent)
			var got *packets.Packet
			for got == nil || string(got.Payload) != "y" {
				got = c.ExpectPublish()
				c.MustAcknowledge(got)
			}
			if !tc.check(got.Properties) {
				t.Fatalf("properties after a restart %+v", got.Properties)
			}
		})
	}
	clock5 := &v5Clock{}
	v5Case(t, "MQTT-3.3.2-5", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c", v5Persistent)
		c.MustSubscribe(mqtttest.Sub("t", 1))
		v5Offline(t, ts, c)
		pub, _ := v5Open(t, ts, "pub")
		pk := pub.PublishPacket("t", []byte("short"), 1, false)
		pk.Properties.MessageExpiryInterval = 5
		pub.PublishWith(pk)
		pub.MustPublish("t", []byte("forever"), 1, false)
		clock5.advance(6 * time.Second)
		c, _ = v5Open(t, ts, "c", v5Persistent)
		c.ExpectMessage("t", []byte("forever"))
		c.ExpectNothing(v5Quiet)
	}, v5WithClock(clock5))
	clock6 := &v5Clock{}
	v5Case(t, "MQTT-3.3.2-6", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c", v5Persistent)
		c.MustSubscribe(mqtttest.Sub("t", 1))
		v5Offline(t, ts, c)
		pub, _ := v5Open(t, ts, "pub")
		pk := pub.PublishPacket("t", []byte("x"), 1, false)
		pk.Properties.MessageExpiryInterval = 100
		pub.PublishWith(pk)
		clock6.advance(40 * time.Second)
		c, _ = v5Open(t, ts, "c", v5Persistent)
		got := c.ExpectMessage("t", []byte("x"))
		if mei := got.Properties.MessageExpiryInterval; mei > 60 || mei < 58 {
			t.Fatalf("forwarded Message Expiry Interval %d after 40 s of 100, want 60", mei)
		}
	}, v5WithClock(clock6))
	v5Case(t, "MQTT-3.3.2-7", func(t *testing.T, ts *testServer) {
		watch := v5Watch(t, ts, "watch", "t")
		c, _ := v5Open(t, ts, "c", v5Persistent)
		pk := c.PublishPacket("t", []byte("1"), 0, false)
		pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = 1, true
		c.MustSend(pk)
		watch.ExpectMessage("t", []byte("1"))
		v5Offline(t, ts, c)
		c, _ = v5Open(t, ts, "c", v5Persistent) // same session, new connection
		pk = c.PublishPacket("", []byte("2"), 0, false)
		pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = 1, true
		c.MustSend(pk)
		v5ExpectDisconnect(t, c, 0x82)
		watch.ExpectNothing(v5Quiet)
	})
	v5Case(t, "MQTT-3.3.2-8", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c", func(o *mqtttest.ConnectOptions) { o.Properties.TopicAliasMaximum = 10 })
		c.MustSubscribe(mqtttest.Sub("t/#", 0))
		for _, tp := range []string{"t/a", "t/b", "t/a"} {
			c.MustPublish(tp, []byte("x"), 0, false)
			f := v5NextFrame(t, c, packets.Publish)
			// Look for property 0x23 with value 0 in the raw bytes.
			pk, _ := f.Decode(mqtttest.V5)
			if pk.Properties.TopicAliasFlag && pk.Properties.TopicAlias == 0 {
				t.Fatalf("Topic Alias 0 sent: % x", f.Bytes())
			}
		}
		// And a client's Topic Alias 0 is refused (0x94).
		c.SendRaw(v5RawPublish("t/a", []byte{0x23, 0, 0}, "x"))
		v5ExpectDisconnect(t, c, 0x94)
	})
	v5Case(t, "MQTT-3.3.2-11", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c", func(o *mqtttest.ConnectOptions) { o.Properties.TopicAliasMaximum = 1 })
		c.MustSubscribe(mqtttest.Sub("t/#", 0))
		pub, _ := v5Open(t, ts, "pub")
		for _, tp := range []string{"t/a", "t/b", "t/c", "t/a"} {
			pub.MustPublish(tp, []byte("x"), 0, false)
			got := c.ExpectPublish()
			if got.Properties.TopicAliasFlag && got.Properties.TopicAlias != 1 {
				t.Fatalf("Topic Alias %d beyond the client's maximum 1", got.Properties.TopicAlias)
			}
		}
	})
	v5Case(t, "MQTT-3.3.2-12", func(t *testing.T, ts *testServer) {
		watch := v5Watch(t, ts, "watch", "t/#")
		c, ack := v5Open(t, ts, "c")
		max := ack.Properties.TopicAliasMaximum
		if max == 0 {
			t.Skip("server accepts no topic aliases")
		}
		for _, alias := range []uint16{1, max / 2, max} {
			tp := "t/" + string(rune('a'+alias%26))
			pk := c.PublishPacket(tp, []byte("set"), 0, false)
			pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = alias, true
			c.MustSend(pk)
			watch.ExpectMessage(tp, []byte("set"))
			pk = c.PublishPacket("", []byte("use"), 0, false)
			pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = alias, true
			c.MustSend(pk)
			watch.ExpectMessage(tp, []byte("use"))
		}
		pk := c.PublishPacket("t/z", []byte("x"), 0, false)
		pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = max+1, true
		c.MustSend(pk)
		v5ExpectDisconnect(t, c, 0x94)
	})
	for _, tc := range []struct {
		id    string
		props []byte
		rc    []byte
	}{
		{"MQTT-3.3.2-13", append([]byte{0x08}, v5Str("re/\xff")...), []byte{0x81}},
		{"MQTT-3.3.2-14", append([]byte{0x08}, v5Str("re/#")...), []byte{0x82, 0x90}},
		{"MQTT-3.3.2-19", append([]byte{0x03}, v5Str("text/\xc3")...), []byte{0x81}},
	} {
		v5Case(t, tc.id, func(t *testing.T, ts *testServer) {
			watch := v5Watch(t, ts, "watch", "t")
			c, _ := v5Open(t, ts, "c")
			c.SendRaw(v5RawPublish("t", tc.props, "x"))
			v5ExpectDisconnectOneOf(t, c, tc.rc...)
			watch.ExpectNothing(v5Quiet)
		})
	}
	v5Case(t, "MQTT-3.3.4-1", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.MustSend(c.PublishPacket("t", []byte("0"), 0, false))
		p1 := c.PublishPacket("t", []byte("1"), 1, false)
		c.MustSend(p1)
		if ack := c.Expect(packets.Puback); ack.PacketID != p1.PacketID {
			t.Fatalf("QoS 1 answered with %s", mqtttest.Describe(ack))
		}
		p2 := c.PublishPacket("t", []byte("2"), 2, false)
		c.MustSend(p2)
		if ack := c.Expect(packets.Pubrec); ack.PacketID != p2.PacketID {
			t.Fatalf("QoS 2 answered with %s", mqtttest.Describe(ack))
		}
		c.MustSend(mqtttest.AckPacket(packets.Pubrel, p2.PacketID, 0))
		c.Expect(packets.Pubcomp)
		c.ExpectNothing(v5Quiet) // and nothing for the QoS 0 message
	})
	v5Case(t, "MQTT-3.3.4-2", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.MustSubscribe(mqtttest.Sub("a/#", 0), mqtttest.Sub("a/+", 2))
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("a/b", []byte("x"), 2, false)
		best := byte(0)
		for range 2 {
			got := c.ExpectPublish()
			best = max(best, got.FixedHeader.Qos)
			c.MustAcknowledge(got)
		}
		if best != 2 {
			t.Fatalf("highest delivered QoS %d, want 2 (the highest granted)", best)
		}
		c.ExpectNothing(v5Quiet)
	})
	v5Case(t, "MQTT-3.3.4-3", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		for i, f := range []string{"a/#", "a/+"} {
			if _, err := c.SubscribeWith(v5SubPacket(c, 10+i, mqtttest.Sub(f, 1))); err != nil {
				t.Fatal(err)
			}
		}
		c.MustSubscribe(mqtttest.Sub("a/b", 1)) // no identifier
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("a/b", []byte("x"), 1, false)
		var ids []int
		for range 3 {
			got := c.ExpectPublish()
			ids = append(ids, got.Properties.SubscriptionIdentifier...)
			c.MustAcknowledge(got)
		}
		slices.Sort(ids)
		if !slices.Equal(ids, []int{10, 11}) {
			t.Fatalf("subscription identifiers %v, want 10 and 11", ids)
		}
	})
	v5Case(t, "MQTT-3.3.4-5", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		for i, f := range []string{"a/#", "a/+", "+/b"} {
			if _, err := c.SubscribeWith(v5SubPacket(c, 1+i, mqtttest.Sub(f, 1))); err != nil {
				t.Fatal(err)
			}
		}
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("a/b", []byte("x"), 1, false)
		seen := map[int]bool{}
		for range 3 {
			got := c.ExpectPublish()
			if len(got.Properties.SubscriptionIdentifier) != 1 || seen[got.Properties.SubscriptionIdentifier[0]] {
				t.Fatalf("copy with identifiers %v, want its own subscription's one", got.Properties.SubscriptionIdentifier)
			}
			seen[got.Properties.SubscriptionIdentifier[0]] = true
			c.MustAcknowledge(got)
		}
	})
	v5Case(t, "MQTT-3.3.4-9", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c", func(o *mqtttest.ConnectOptions) { o.Properties.ReceiveMaximum = 2 })
		c.MustSubscribe(mqtttest.Sub("t", 2))
		pub, _ := v5Open(t, ts, "pub")
		for i := range 5 {
			pub.MustPublish("t", []byte{'0' + byte(i)}, byte(1+i%2), false)
		}
		first := c.ExpectPublish()
		c.ExpectPublish()
		c.ExpectNothing(v5Quiet)
		c.MustAcknowledge(first)
		c.ExpectPublish()
		c.ExpectNothing(v5Quiet)
	})
	v5Case(t, "MQTT-3.3.4-10", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c", func(o *mqtttest.ConnectOptions) { o.Properties.ReceiveMaximum = 1 })
		c.MustSubscribe(mqtttest.Sub("t", 1), mqtttest.Sub("q0", 0))
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("t", []byte("1"), 1, false)
		pub.MustPublish("t", []byte("2"), 1, false)
		c.ExpectPublish() // the window is now full
		if err := c.Ping(); err != nil {
			t.Fatal(err)
		}
		c.MustSubscribe(mqtttest.Sub("other", 1))
		if _, err := c.Unsubscribe("other"); err != nil {
			t.Fatal(err)
		}
		pub.MustPublish("q0", []byte("qos0"), 0, false)
		c.ExpectMessage("q0", []byte("qos0"))
		ack, err := c.Publish("t", []byte("own"), 1, false)
		if err != nil || ack.FixedHeader.Type != packets.Puback {
			t.Fatalf("PUBACK %v, %v", ack, err)
		}
	})
}
