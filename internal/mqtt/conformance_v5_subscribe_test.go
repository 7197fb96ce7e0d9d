package mqtt

// MQTT 5.0 conformance, sections 3.4-3.7 (publish acknowledgements),
// 3.8 SUBSCRIBE, 3.9 SUBACK, 3.10 UNSUBSCRIBE and 3.11 UNSUBACK.

import (
	"bytes"
	"slices"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// v5SmallMax is a Maximum Packet Size too small for any Reason String.
const v5SmallMax = 16

// v5Small connects with Maximum Packet Size v5SmallMax.
func v5Small(o *mqtttest.ConnectOptions) { o.Properties.MaximumPacketSize = v5SmallMax }

// v5CheckSmall requires f to fit v5SmallMax and carry no Reason String or
// User Property.
func v5CheckSmall(t *testing.T, f mqtttest.Frame) *packets.Packet {
	t.Helper()
	pk, err := f.Decode(mqtttest.V5)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Bytes()) > v5SmallMax || pk.Properties.ReasonString != "" || len(pk.Properties.User) > 0 {
		t.Fatalf("%s of %d bytes for a client whose Maximum Packet Size is %d", mqtttest.Describe(pk), len(f.Bytes()), v5SmallMax)
	}
	return pk
}

// v5AckFrames runs publish acknowledgements of every kind the server sends,
// with error reason codes where it has them, and returns the frames of type
// typ it sent: PUBACK/PUBREC 0x00, 0x10 and 0x97 (quota), PUBREL/PUBCOMP
// 0x00 and 0x92. The server must be set up with withTopicLimit(1, ...).
func v5AckFrames(t *testing.T, ts *testServer, typ byte, opts ...func(*mqtttest.ConnectOptions)) []mqtttest.Frame {
	t.Helper()
	c, _ := v5Open(t, ts, "c", opts...)
	full, _ := v5Open(t, ts, "full", v5Persistent)
	full.MustSubscribe(mqtttest.Sub("q/#", 2))
	v5Offline(t, ts, full)
	var got []mqtttest.Frame
	await := func(typ byte, id uint16) {
		t.Helper()
		for {
			f, err := c.NextFrame(mqtttest.DefaultTimeout)
			if err != nil {
				t.Fatalf("waiting for %s id %d: %v", mqtttest.TypeName(typ), id, err)
			}
			if f.Type() == packets.Publish {
				continue
			}
			if f.Type() == typ && len(f.Body) >= 2 && uint16(f.Body[0])<<8|uint16(f.Body[1]) == id {
				got = append(got, f)
				return
			}
			t.Fatalf("got %s, want %s id %d", f, mqtttest.TypeName(typ), id)
		}
	}
	qos := byte(1)
	ackType := byte(packets.Puback)
	if typ != packets.Puback {
		qos, ackType = 2, packets.Pubrec
	}
	for _, tp := range []string{"nobody", "q/a", "q/a"} { // 0x10, 0x00, 0x97
		pk := c.PublishPacket(tp, []byte("x"), qos, false)
		c.MustSend(pk)
		await(ackType, pk.PacketID)
		if last := got[len(got)-1]; qos == 2 && (len(last.Body) == 2 || last.Body[2] < 0x80) {
			c.MustSend(mqtttest.AckPacket(packets.Pubrel, pk.PacketID, 0))
			await(packets.Pubcomp, pk.PacketID)
		}
	}
	// PUBREL and PUBCOMP for unknown identifiers: 0x92.
	c.MustSend(mqtttest.AckPacket(packets.Pubrec, 999, 0))
	await(packets.Pubrel, 999)
	c.MustSend(mqtttest.AckPacket(packets.Pubrel, 998, 0))
	await(packets.Pubcomp, 998)
	// The server's own QoS 2 delivery: PUBREL 0x00.
	c.MustSubscribe(mqtttest.Sub("d", 2))
	c.MustPublish("d", []byte("x"), 2, false)
	pub := c.ExpectPublish()
	c.MustSend(mqtttest.AckPacket(packets.Pubrec, pub.PacketID, 0))
	await(packets.Pubrel, pub.PacketID)
	var out []mqtttest.Frame
	for _, f := range got {
		if f.Type() == typ {
			out = append(out, f)
		}
	}
	return out
}

func TestV5PublishAcks(t *testing.T) {
	allowed := map[byte][]byte{
		packets.Puback:  {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99},
		packets.Pubrec:  {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99},
		packets.Pubrel:  {0x00, 0x92},
		packets.Pubcomp: {0x00, 0x92},
	}
	for _, tc := range []struct {
		codes, fits1, fits2 string
		typ                 byte
	}{
		{"MQTT-3.4.2-1", "MQTT-3.4.2-2", "MQTT-3.4.2-3", packets.Puback},
		{"MQTT-3.5.2-1", "MQTT-3.5.2-2", "MQTT-3.5.2-3", packets.Pubrec},
		{"MQTT-3.6.2-1", "MQTT-3.6.2-2", "MQTT-3.6.2-3", packets.Pubrel},
		{"MQTT-3.7.2-1", "MQTT-3.7.2-2", "MQTT-3.7.2-3", packets.Pubcomp},
	} {
		v5Case(t, tc.codes, func(t *testing.T, ts *testServer) {
			seen := map[byte]bool{}
			for _, f := range v5AckFrames(t, ts, tc.typ) {
				pk, _ := f.Decode(mqtttest.V5)
				if !slices.Contains(allowed[tc.typ], pk.ReasonCode) {
					t.Fatalf("%s: reason code not allowed in %s", mqtttest.Describe(pk), mqtttest.TypeName(tc.typ))
				}
				seen[pk.ReasonCode] = true
			}
			if len(seen) < 2 {
				t.Fatalf("saw reason codes %v, want success and failure", seen)
			}
		}, withTopicLimit(1, "RejectNewMessages"))
		for _, id := range []string{tc.fits1, tc.fits2} {
			v5Case(t, id, func(t *testing.T, ts *testServer) {
				for _, f := range v5AckFrames(t, ts, tc.typ, v5Small) {
					v5CheckSmall(t, f)
				}
			}, withTopicLimit(1, "RejectNewMessages"))
		}
	}
	v5Case(t, "MQTT-3.6.1-1", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		pk := c.PublishPacket("t", []byte("x"), 2, false)
		c.MustSend(pk)
		c.AwaitAck(packets.Pubrec, pk.PacketID, mqtttest.DefaultTimeout)
		c.SendRaw([]byte{0x60, 0x02, byte(pk.PacketID >> 8), byte(pk.PacketID)}) // flags 0000
		v5ExpectDisconnect(t, c, 0x81)
	})
}

func TestV5Subscribe(t *testing.T) {
	v5Case(t, "MQTT-3.8.1-1", func(t *testing.T, ts *testServer) {
		for _, h := range []byte{0x80, 0x83, 0x8A} {
			c, _ := v5Open(t, ts, "c")
			c.SendRaw(v5Frame(h, append(append([]byte{0, 1, 0}, v5Str("t")...), 1)))
			v5ExpectDisconnect(t, c, 0x81)
		}
	})
	v5Case(t, "MQTT-3.8.3-1", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.SendRaw(v5Frame(0x82, append(append([]byte{0, 1, 0}, v5Str("t/\xff")...), 1)))
		v5ExpectDisconnect(t, c, 0x81)
	})
	v5Case(t, "MQTT-3.8.3-2", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.SendRaw([]byte{0x82, 0x03, 0, 1, 0}) // identifier and properties, no filter
		v5ExpectDisconnectOneOf(t, c, 0x81, 0x82)
	})
	v5Case(t, "MQTT-3.8.3-3", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.MustSubscribe(packets.Subscription{Filter: "t", Qos: 1, NoLocal: true})
		c.MustPublish("t", []byte("own"), 1, false)
		c.ExpectNothing(v5Quiet)
		other, _ := v5Open(t, ts, "other")
		other.MustPublish("t", []byte("other"), 1, false)
		c.ExpectMessage("t", []byte("other"))
	})
	v5Case(t, "MQTT-3.8.3-4", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.MustSend(c.SubscribePacket(packets.Subscription{Filter: "$share/g/t", Qos: 1, NoLocal: true}))
		v5ExpectDisconnect(t, c, 0x82)
	})
	v5Case(t, "MQTT-3.8.3-5", func(t *testing.T, ts *testServer) {
		for _, opt := range []byte{0x40, 0x80, 0xC1} {
			c, _ := v5Open(t, ts, "c")
			c.SendRaw(v5Frame(0x82, append(append([]byte{0, 1, 0}, v5Str("t")...), opt)))
			v5ExpectDisconnect(t, c, 0x81)
		}
	})
	v5Case(t, "MQTT-3.8.4-1", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		for _, subs := range [][]packets.Subscription{
			{mqtttest.Sub("a", 0)}, {mqtttest.Sub("a/#/b", 1)}, {mqtttest.Sub("a", 2), mqtttest.Sub("b/+", 1)},
		} {
			c.MustSend(c.SubscribePacket(subs...))
			c.Expect(packets.Suback)
		}
	})
	v5Case(t, "MQTT-3.8.4-2", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		for _, id := range []uint16{1, 65535, 300} {
			pk := c.SubscribePacket(mqtttest.Sub("t", 1))
			pk.PacketID = id
			c.MustSend(pk)
			if ack := c.Expect(packets.Suback); ack.PacketID != id {
				t.Fatalf("SUBACK id %d, want %d", ack.PacketID, id)
			}
		}
	})
	v5Case(t, "MQTT-3.8.4-3", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.MustSubscribe(mqtttest.Sub("t", 0))
		c.MustSubscribe(mqtttest.Sub("t", 2))
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("t", []byte("x"), 2, false)
		if got := c.ExpectMessage("t", []byte("x")); got.FixedHeader.Qos != 2 {
			t.Fatalf("delivered at QoS %d: the subscription was not replaced", got.FixedHeader.Qos)
		}
		c.ExpectNothing(v5Quiet) // one subscription, one copy
	})
	v5Case(t, "MQTT-3.8.4-4", func(t *testing.T, ts *testServer) {
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("t", []byte("retained"), 1, true)
		c, _ := v5Open(t, ts, "c", func(o *mqtttest.ConnectOptions) { o.Properties.ReceiveMaximum = 1 })
		c.MustSubscribe(mqtttest.Sub("t", 1))
		for _, p := range []string{"1", "2", "3"} {
			pub.MustPublish("t", []byte(p), 1, false)
		}
		c.ExpectMessage("t", []byte("retained"))
		c.MustSubscribe(mqtttest.Sub("t", 1)) // replace while messages wait
		var got []string
		for len(got) < 4 {
			pk := c.ExpectPublish()
			got = append(got, string(pk.Payload))
			c.MustAcknowledge(pk)
		}
		for _, want := range []string{"1", "2", "3", "retained"} {
			if !slices.Contains(got, want) {
				t.Fatalf("after the replacement got %v: %q missing", got, want)
			}
		}
		c.ExpectNothing(v5Quiet)
	})
	v5Case(t, "MQTT-3.8.4-5", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		ack := c.MustSubscribe(mqtttest.Sub("a", 0), mqtttest.Sub("b", 1), mqtttest.Sub("a", 2))
		if len(ack.ReasonCodes) != 3 {
			t.Fatalf("SUBACK %s, want three reason codes", mqtttest.Describe(ack))
		}
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("a", []byte("x"), 2, false)
		if got := c.ExpectMessage("a", []byte("x")); got.FixedHeader.Qos != 2 {
			t.Fatalf("the later filter did not replace the earlier one: %s", mqtttest.Describe(got))
		}
		pub.MustPublish("b", []byte("y"), 1, false)
		c.ExpectMessage("b", []byte("y"))
		c.ExpectNothing(v5Quiet)
	})
	v5Case(t, "MQTT-3.8.4-6", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		ack, err := c.Subscribe(mqtttest.Sub("a", 0), mqtttest.Sub("#/a", 1), mqtttest.Sub("c", 2), mqtttest.Sub("d", 1))
		if err != nil || len(ack.ReasonCodes) != 4 {
			t.Fatalf("SUBACK %v, %v: want four reason codes", ack, err)
		}
	})
	v5Case(t, "MQTT-3.8.4-7", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		ack, err := c.Subscribe(mqtttest.Sub("a", 0), mqtttest.Sub("b", 1), mqtttest.Sub("c", 2), mqtttest.Sub("d/#/e", 1))
		if err != nil || !bytes.Equal(ack.ReasonCodes, []byte{0, 1, 2, 0x8F}) {
			t.Fatalf("SUBACK %v, %v: want 00 01 02 8f", ack, err)
		}
	})
	v5Case(t, "MQTT-3.8.4-8", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.MustSubscribe(mqtttest.Sub("g0", 0), mqtttest.Sub("g1", 1), mqtttest.Sub("g2", 2))
		pub, _ := v5Open(t, ts, "pub")
		for g := byte(0); g <= 2; g++ {
			for q := byte(0); q <= 2; q++ {
				tp := "g" + string('0'+rune(g))
				pub.MustPublish(tp, []byte{'0' + q}, q, false)
				if got := c.ExpectMessage(tp, []byte{'0' + q}); got.FixedHeader.Qos != min(g, q) {
					t.Fatalf("published at %d, granted %d: delivered at %d", q, g, got.FixedHeader.Qos)
				}
			}
		}
	})
	for _, id := range []string{"MQTT-3.9.2-1", "MQTT-3.9.2-2"} {
		v5Case(t, id, func(t *testing.T, ts *testServer) {
			c, _ := v5Open(t, ts, "c", v5Small)
			c.MustSend(c.SubscribePacket(mqtttest.Sub("a/#/b", 1), mqtttest.Sub("$share/g/#", 1)))
			v5CheckSmall(t, v5NextFrame(t, c, packets.Suback))
		})
	}
	v5Case(t, "MQTT-3.9.3-1", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		ack, err := c.Subscribe(mqtttest.Sub("c", 2), mqtttest.Sub("x/#/y", 0), mqtttest.Sub("a", 0), mqtttest.Sub("b", 1))
		if err != nil || !bytes.Equal(ack.ReasonCodes, []byte{2, 0x8F, 0, 1}) {
			t.Fatalf("SUBACK %v, %v: want 02 8f 00 01 in the filters' order", ack, err)
		}
	})
	v5Case(t, "MQTT-3.9.3-2", func(t *testing.T, ts *testServer) {
		allowed := []byte{0, 1, 2, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2}
		c, _ := v5Open(t, ts, "c")
		subs := []packets.Subscription{mqtttest.Sub("a", 2), mqtttest.Sub("+/#/x", 1), mqtttest.Sub("$share//t", 1),
			mqtttest.Sub("$share/g/t", 1), mqtttest.Sub("a\u0001", 0)}
		ack, err := c.Subscribe(subs...)
		if err != nil || len(ack.ReasonCodes) != len(subs) {
			t.Fatalf("SUBACK %v, %v: want one reason code per filter", ack, err)
		}
		for _, rc := range ack.ReasonCodes {
			if !slices.Contains(allowed, rc) {
				t.Fatalf("SUBACK reason %#02x is not a Subscribe Reason Code", rc)
			}
		}
	})
}

// v5UnsubPacket builds an UNSUBSCRIBE with the given id and filters.
func v5UnsubPacket(id uint16, filters ...string) *packets.Packet {
	pk := &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe}, PacketID: id}
	for _, f := range filters {
		pk.Filters = append(pk.Filters, packets.Subscription{Filter: f})
	}
	return pk
}

func TestV5Unsubscribe(t *testing.T) {
	v5Case(t, "MQTT-3.10.1-1", func(t *testing.T, ts *testServer) {
		for _, h := range []byte{0xA0, 0xA3} {
			c, _ := v5Open(t, ts, "c")
			c.SendRaw(v5Frame(h, append([]byte{0, 1, 0}, v5Str("t")...)))
			v5ExpectDisconnect(t, c, 0x81)
		}
	})
	v5Case(t, "MQTT-3.10.3-1", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.SendRaw(v5Frame(0xA2, append([]byte{0, 1, 0}, v5Str("t\x00")...)))
		v5ExpectDisconnect(t, c, 0x81)
	})
	v5Case(t, "MQTT-3.10.3-2", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.SendRaw([]byte{0xA2, 0x03, 0, 1, 0})
		v5ExpectDisconnectOneOf(t, c, 0x81, 0x82)
	})
	v5Case(t, "MQTT-3.10.4-1", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.MustSubscribe(mqtttest.Sub("a/+", 1))
		pub, _ := v5Open(t, ts, "pub")
		for _, tc := range []struct {
			filter string
			rc     byte
			still  bool
		}{{"a/b", 0x11, true}, {"a/#", 0x11, true}, {"A/+", 0x11, true}, {"a/+", 0x00, false}} {
			ack, err := c.Unsubscribe(tc.filter)
			if err != nil || len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0] != tc.rc {
				t.Fatalf("unsubscribe %q: %v, %v, want reason %#02x", tc.filter, ack, err, tc.rc)
			}
			pub.MustPublish("a/b", []byte(tc.filter), 1, false)
			if tc.still {
				c.ExpectMessage("a/b", []byte(tc.filter))
			} else {
				c.ExpectNothing(v5Quiet)
			}
		}
	})
	v5Case(t, "MQTT-3.10.4-2", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c", v5Persistent)
		c.MustSubscribe(mqtttest.Sub("t", 1))
		c.Unsubscribe("t")
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("t", []byte("x"), 1, false)
		c.ExpectNothing(v5Quiet)
		v5Offline(t, ts, c)
		pub.MustPublish("t", []byte("y"), 1, false)
		c, _ = v5Open(t, ts, "c", v5Persistent)
		c.ExpectNothing(v5Quiet)
	})
	v5Case(t, "MQTT-3.10.4-3", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.MustSubscribe(mqtttest.Sub("t", 2))
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("t", []byte("1"), 1, false)
		pub.MustPublish("t", []byte("2"), 2, false)
		q1, q2 := c.ExpectPublish(), c.ExpectPublish()
		if _, err := c.Unsubscribe("t"); err != nil {
			t.Fatal(err)
		}
		c.MustAcknowledge(q1)
		c.MustSend(mqtttest.AckPacket(packets.Pubrec, q2.PacketID, 0))
		rel, err := c.AwaitAck(packets.Pubrel, q2.PacketID, mqtttest.DefaultTimeout)
		if err != nil || rel.ReasonCode != 0 {
			t.Fatalf("PUBREL %v, %v: the started QoS 2 delivery was not completed", rel, err)
		}
		c.MustSend(mqtttest.AckPacket(packets.Pubcomp, q2.PacketID, 0))
		c.ExpectNothing(v5Quiet)
	})
	v5Case(t, "MQTT-3.10.4-4", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.MustSubscribe(mqtttest.Sub("t", 1))
		c.MustSend(v5UnsubPacket(5, "t"))
		c.Expect(packets.Unsuback)
	})
	v5Case(t, "MQTT-3.10.4-5", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.MustSend(v5UnsubPacket(4321, "never/subscribed"))
		if ack := c.Expect(packets.Unsuback); ack.PacketID != 4321 || !bytes.Equal(ack.ReasonCodes, []byte{0x11}) {
			t.Fatalf("got %s, want UNSUBACK id 4321 with 0x11", mqtttest.Describe(ack))
		}
	})
	v5Case(t, "MQTT-3.10.4-6", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.MustSubscribe(mqtttest.Sub("a", 1), mqtttest.Sub("b", 1), mqtttest.Sub("c", 1))
		c.MustSend(v5UnsubPacket(7, "a", "x", "c", "a"))
		if ack := c.Expect(packets.Unsuback); !bytes.Equal(ack.ReasonCodes, []byte{0, 0x11, 0, 0x11}) {
			t.Fatalf("got %s, want one UNSUBACK 00 11 00 11", mqtttest.Describe(ack))
		}
		pub, _ := v5Open(t, ts, "pub")
		for _, tp := range []string{"a", "c", "b"} {
			pub.MustPublish(tp, []byte(tp), 1, false)
		}
		c.ExpectMessage("b", []byte("b"))
		c.ExpectNothing(v5Quiet)
	})
	for _, id := range []string{"MQTT-3.11.2-1", "MQTT-3.11.2-2"} {
		v5Case(t, id, func(t *testing.T, ts *testServer) {
			c, _ := v5Open(t, ts, "c", v5Small)
			c.MustSend(v5UnsubPacket(3, "never", "nor/this"))
			v5CheckSmall(t, v5NextFrame(t, c, packets.Unsuback))
		})
	}
	v5Case(t, "MQTT-3.11.3-1", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.MustSubscribe(mqtttest.Sub("b", 1))
		c.MustSend(v5UnsubPacket(3, "a", "b", "c"))
		if ack := c.Expect(packets.Unsuback); !bytes.Equal(ack.ReasonCodes, []byte{0x11, 0, 0x11}) {
			t.Fatalf("got %s, want 11 00 11 in the filters' order", mqtttest.Describe(ack))
		}
	})
	v5Case(t, "MQTT-3.11.3-2", func(t *testing.T, ts *testServer) {
		allowed := []byte{0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91}
		c, _ := v5Open(t, ts, "c")
		c.MustSubscribe(mqtttest.Sub("a", 1), mqtttest.Sub("$share/g/t", 1))
		filters := []string{"a", "b", "$share/g/t", "x/#/y"}
		c.MustSend(v5UnsubPacket(3, filters...))
		ack := c.Expect(packets.Unsuback)
		if len(ack.ReasonCodes) != len(filters) {
			t.Fatalf("got %s, want one reason code per filter", mqtttest.Describe(ack))
		}
		for _, rc := range ack.ReasonCodes {
			if !slices.Contains(allowed, rc) {
				t.Fatalf("UNSUBACK reason %#02x is not an Unsubscribe Reason Code", rc)
			}
		}
	})
}
