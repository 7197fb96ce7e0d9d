package mqtttest

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// short is how long tests wait to prove an absence.
const short = 200 * time.Millisecond

var versions = []struct {
	name string
	v    byte
}{{"v311", V311}, {"v5", V5}}

func TestConnect(t *testing.T) {
	addr := StartMosquitto(t)
	for _, tc := range versions {
		t.Run(tc.name, func(t *testing.T) {
			id := ClientID(t)
			c := Dial(t, addr, tc.v)
			opts := ConnectOptions{ClientID: id, Clean: true, KeepAlive: 30}
			ack := c.MustConnect(opts)
			if ack.SessionPresent {
				t.Errorf("clean connect: session present, want absent: %s", Describe(ack))
			}
			if err := c.Ping(); err != nil {
				t.Fatal(err)
			}
			if err := c.Disconnect(0); err != nil {
				t.Fatal(err)
			}
			c.ExpectClosed(DefaultTimeout)

			// A persistent session survives the connection.
			keep := ConnectOptions{ClientID: id, Clean: false}
			if tc.v == V5 {
				keep.Properties.SessionExpiryIntervalFlag = true
				keep.Properties.SessionExpiryInterval = 60
			}
			c2 := Dial(t, addr, tc.v)
			c2.MustConnect(keep)
			c2.MustSubscribe(Sub("mqtttest/keep", 1))
			if err := c2.Disconnect(0); err != nil {
				t.Fatal(err)
			}
			c2.ExpectClosed(DefaultTimeout)
			c3 := Dial(t, addr, tc.v)
			if ack := c3.MustConnect(keep); !ack.SessionPresent {
				t.Errorf("resumed session: %s, want session present", Describe(ack))
			}
		})
	}
}

func TestConnectRefusedVersion(t *testing.T) {
	addr := StartMosquitto(t)
	c := Dial(t, addr, V311)
	pk := ConnectPacket(ConnectOptions{ClientID: ClientID(t), Clean: true}, 9)
	if err := c.Send(pk); err != nil {
		t.Fatal(err)
	}
	got := c.ExpectClosed(DefaultTimeout)
	// Mosquitto answers an unknown protocol level with CONNACK 0x01.
	if len(got) != 1 || got[0].FixedHeader.Type != packets.Connack || got[0].ReasonCode != 0x01 {
		t.Errorf("before the close got %d packets %v, want CONNACK 0x01", len(got), got)
	}
}

func TestPublishSubscribeAllQoS(t *testing.T) {
	addr := StartMosquitto(t)
	for _, tc := range versions {
		for qos := byte(0); qos <= 2; qos++ {
			t.Run(fmt.Sprintf("%s/qos%d", tc.name, qos), func(t *testing.T) {
				t.Parallel() // own topic and clients; the broker outlives the subtests
				topic := "mqtttest/" + ClientID(t)
				sub := Dial(t, addr, tc.v)
				sub.MustConnect(ConnectOptions{ClientID: ClientID(t), Clean: true})
				ack := sub.MustSubscribe(Sub(topic, 2))
				if ack.ReasonCodes[0] != 2 {
					t.Errorf("granted %#02x, want QoS 2", ack.ReasonCodes[0])
				}
				pub := Dial(t, addr, tc.v)
				pub.MustConnect(ConnectOptions{ClientID: ClientID(t), Clean: true})
				payload := []byte(fmt.Sprintf("payload at qos %d", qos))
				final := pub.MustPublish(topic, payload, qos, false)
				switch qos {
				case 0:
					if final != nil {
						t.Errorf("QoS 0 publish returned %s", Describe(final))
					}
				case 1:
					if final.FixedHeader.Type != packets.Puback {
						t.Errorf("QoS 1 publish ended with %s", Describe(final))
					}
				case 2:
					if final.FixedHeader.Type != packets.Pubcomp {
						t.Errorf("QoS 2 publish ended with %s", Describe(final))
					}
				}
				got := sub.ExpectMessage(topic, payload)
				if got.FixedHeader.Qos != qos || got.FixedHeader.Retain || got.FixedHeader.Dup {
					t.Errorf("delivered %s, want qos %d, no retain, no dup", Describe(got), qos)
				}
				sub.ExpectNothing(short)
				pub.ExpectNothing(short)
			})
		}
	}
}

// TestQoS2Stepwise drives both sides of QoS 2 one packet at a time.
func TestQoS2Stepwise(t *testing.T) {
	addr := StartMosquitto(t)
	topic := "mqtttest/stepwise"
	sub := Dial(t, addr, V5)
	sub.MustConnect(ConnectOptions{ClientID: ClientID(t), Clean: true})
	sub.MustSubscribe(Sub(topic, 2))
	pub := Dial(t, addr, V5)
	pub.MustConnect(ConnectOptions{ClientID: ClientID(t), Clean: true})

	pk := pub.PublishPacket(topic, []byte("step"), 2, false)
	pk.Properties.User = []packets.UserProperty{{Key: "k", Val: "v1"}, {Key: "k", Val: "v2"}}
	pk.Properties.ResponseTopic = "mqtttest/reply"
	pk.Properties.CorrelationData = []byte{1, 2, 3}
	pub.MustSend(pk)
	rec := pub.Expect(packets.Pubrec)
	if rec.PacketID != pk.PacketID {
		t.Fatalf("PUBREC for id %d, want %d", rec.PacketID, pk.PacketID)
	}

	pub.MustSend(AckPacket(packets.Pubrel, pk.PacketID, 0))
	if comp := pub.Expect(packets.Pubcomp); comp.PacketID != pk.PacketID {
		t.Fatalf("PUBCOMP for id %d, want %d", comp.PacketID, pk.PacketID)
	}

	// Mosquitto forwards a QoS 2 message once the publisher's PUBREL has
	// arrived (the spec allows forwarding at PUBLISH or at PUBREL).
	in := sub.ExpectPublish()
	if in.FixedHeader.Qos != 2 || string(in.Payload) != "step" {
		t.Fatalf("got %s", Describe(in))
	}
	if u := in.Properties.User; len(u) != 2 || u[0].Val != "v1" || u[1].Val != "v2" {
		t.Errorf("user properties %v, want k=v1, k=v2 in order", u)
	}
	if in.Properties.ResponseTopic != "mqtttest/reply" || !bytes.Equal(in.Properties.CorrelationData, []byte{1, 2, 3}) {
		t.Errorf("response topic %q correlation %v not passed through", in.Properties.ResponseTopic, in.Properties.CorrelationData)
	}
	sub.MustSend(AckPacket(packets.Pubrec, in.PacketID, 0))
	rel := sub.Expect(packets.Pubrel)
	if rel.PacketID != in.PacketID {
		t.Fatalf("PUBREL for id %d, want %d", rel.PacketID, in.PacketID)
	}
	sub.MustSend(AckPacket(packets.Pubcomp, in.PacketID, 0))

	sub.ExpectNothing(short)
	pub.ExpectNothing(short)
}

func TestRetained(t *testing.T) {
	addr := StartMosquitto(t)
	for _, tc := range versions {
		t.Run(tc.name, func(t *testing.T) {
			topic := "mqtttest/retained/" + tc.name
			pub := Dial(t, addr, tc.v)
			pub.MustConnect(ConnectOptions{ClientID: ClientID(t), Clean: true})
			pub.MustPublish(topic, []byte("kept"), 1, true)

			sub := Dial(t, addr, tc.v)
			sub.MustConnect(ConnectOptions{ClientID: ClientID(t), Clean: true})
			sub.MustSubscribe(Sub(topic, 1))
			if got := sub.ExpectMessage(topic, []byte("kept")); !got.FixedHeader.Retain {
				t.Errorf("retained delivery without RETAIN: %s", Describe(got))
			}

			// An empty retained payload clears it.
			pub.MustPublish(topic, nil, 0, true)
			late := Dial(t, addr, tc.v)
			late.MustConnect(ConnectOptions{ClientID: ClientID(t), Clean: true})
			late.MustSubscribe(Sub(topic, 1))
			late.ExpectNothing(short)
		})
	}
}

func TestUnsubscribe(t *testing.T) {
	addr := StartMosquitto(t)
	c := Dial(t, addr, V5)
	c.MustConnect(ConnectOptions{ClientID: ClientID(t), Clean: true})
	c.MustSubscribe(Sub("mqtttest/unsub", 0))
	ack, err := c.Unsubscribe("mqtttest/unsub")
	if err != nil {
		t.Fatal(err)
	}
	if len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0] != 0 {
		t.Errorf("UNSUBACK %s, want one success code", Describe(ack))
	}
	c.MustPublish("mqtttest/unsub", []byte("x"), 0, false)
	c.ExpectNothing(short)
}

func TestExpectClosedOnMalformed(t *testing.T) {
	addr := StartMosquitto(t)
	for _, tc := range versions {
		t.Run(tc.name+"/publish-qos3", func(t *testing.T) {
			c := Dial(t, addr, tc.v)
			c.MustConnect(ConnectOptions{ClientID: ClientID(t), Clean: true})
			// PUBLISH with both QoS bits set: malformed in both versions.
			if err := c.SendRaw([]byte{0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01}); err != nil {
				t.Fatal(err)
			}
			c.ExpectClosed(DefaultTimeout)
		})
		t.Run(tc.name+"/reserved-type-before-connect", func(t *testing.T) {
			c := Dial(t, addr, tc.v)
			if err := c.SendRaw([]byte{0x00, 0x00}); err != nil {
				t.Fatal(err)
			}
			kind, frames := c.WaitClosed(DefaultTimeout)
			if !kind.ClosedByBroker() || len(frames) != 0 {
				t.Errorf("got %v after %d frames, want a close by the broker and nothing before it", kind, len(frames))
			}
		})
	}
}

// TestAwaitKeepsOthers shows that waiting for an acknowledgement keeps the
// packets that overtook it, in order, for the next reads.
func TestAwaitKeepsOthers(t *testing.T) {
	addr := StartMosquitto(t)
	c := Dial(t, addr, V311)
	c.MustConnect(ConnectOptions{ClientID: ClientID(t), Clean: true})
	c.MustSubscribe(Sub("mqtttest/self", 1))
	// Publish to our own subscription: the PUBLISH may arrive before or
	// after the PUBACK; Publish must find the PUBACK either way.
	for i := 0; i < 3; i++ {
		c.MustPublish("mqtttest/self", []byte{byte('0' + i)}, 1, false)
	}
	for i := 0; i < 3; i++ {
		c.ExpectMessage("mqtttest/self", []byte{byte('0' + i)})
	}
	c.ExpectNothing(short)
}

// fakeTB records failures instead of stopping the test, to prove that the
// Expect family fails, and says why.
type fakeTB struct {
	testing.TB
	failed bool
	msg    string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = true
	f.msg = fmt.Sprintf(format, args...)
}
func (f *fakeTB) Fatal(args ...any) { f.failed = true; f.msg = fmt.Sprint(args...) }
func (f *fakeTB) Errorf(format string, args ...any) {
	f.failed = true
	f.msg = fmt.Sprintf(format, args...)
}

func TestExpectFailuresExplain(t *testing.T) {
	addr := StartMosquitto(t)
	c := Dial(t, addr, V311)
	c.MustConnect(ConnectOptions{ClientID: ClientID(t), Clean: true})
	fake := &fakeTB{TB: t}
	c.tb = fake

	check := func(name string, wantFail bool, wantIn string) {
		t.Helper()
		if fake.failed != wantFail || !strings.Contains(fake.msg, wantIn) {
			t.Errorf("%s: failed=%v msg=%q, want failed=%v and a message containing %q", name, fake.failed, fake.msg, wantFail, wantIn)
		}
		fake.failed, fake.msg = false, ""
	}

	// Expect names what arrived instead.
	if err := c.Send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}}); err != nil {
		t.Fatal(err)
	}
	c.Expect(packets.Suback)
	check("Expect SUBACK, got PINGRESP", true, "expected SUBACK, got PINGRESP")

	// Expect says when nothing arrived.
	c.ExpectWithin(packets.Suback, 50*time.Millisecond)
	check("Expect on silence", true, "timed out")

	// ExpectNothing passes on silence and fails on a packet.
	c.ExpectNothing(50 * time.Millisecond)
	check("ExpectNothing on silence", false, "")
	if err := c.Send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}}); err != nil {
		t.Fatal(err)
	}
	c.ExpectNothing(DefaultTimeout)
	check("ExpectNothing with a PINGRESP", true, "got PINGRESP")

	// ExpectClosed fails on an open connection and shows what came.
	if err := c.Send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}}); err != nil {
		t.Fatal(err)
	}
	c.ExpectClosed(300 * time.Millisecond)
	check("ExpectClosed on an open connection", true, "stayed open (received: PINGRESP)")
	// The PINGRESP seen while waiting is still there for the test.
	c.Expect(packets.Pingresp)
	check("PINGRESP kept after ExpectClosed timed out", false, "")

	// After a close, Expect says the connection closed.
	if err := c.SendRaw([]byte{0x00, 0x00}); err != nil {
		t.Fatal(err)
	}
	c.Expect(packets.Puback)
	check("Expect after close", true, "connection closed")
	c.ExpectClosed(DefaultTimeout)
	check("ExpectClosed after close", false, "")
}

func TestWaitClosedLocal(t *testing.T) {
	addr := StartMosquitto(t)
	c := Dial(t, addr, V311)
	c.MustConnect(ConnectOptions{ClientID: ClientID(t), Clean: true})
	_ = c.Close()
	if kind, _ := c.WaitClosed(DefaultTimeout); kind != ClosedLocally {
		t.Errorf("after Close: %v, want %v", kind, ClosedLocally)
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	pk := &packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Subscribe},
		PacketID:    7,
		Filters:     []packets.Subscription{{Filter: "a/+", Qos: 1, NoLocal: true, RetainHandling: 2}},
	}
	b, err := Encode(pk, V5)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 0x82 {
		t.Errorf("SUBSCRIBE first byte %#02x, want 0x82 (flags 0010)", b[0])
	}
	f := Frame{Header: b[0], Body: b[2:]}
	if !bytes.Equal(f.Bytes(), b) {
		t.Errorf("Frame.Bytes %x, want %x", f.Bytes(), b)
	}
	got, err := f.Decode(V5)
	if err != nil {
		t.Fatal(err)
	}
	if got.PacketID != 7 || len(got.Filters) != 1 || got.Filters[0].Filter != "a/+" || !got.Filters[0].NoLocal || got.Filters[0].RetainHandling != 2 {
		t.Errorf("round trip gave %s %+v", Describe(got), got.Filters)
	}
	if _, err := Decode(Frame{Header: 0x36, Body: []byte{0, 1, 'a', 0, 1}}, V5); err == nil {
		t.Error("decoding a QoS 3 PUBLISH succeeded, want an error")
	}
}

// TestDecodeShortForms: MQTT 5 lets DISCONNECT and AUTH drop trailing
// fields; the decoder must still report the reason code.
func TestDecodeShortForms(t *testing.T) {
	for _, tc := range []struct {
		f    Frame
		want byte
	}{
		{Frame{Header: 0xe0}, 0x00},
		{Frame{Header: 0xe0, Body: []byte{0x8e}}, 0x8e},
		{Frame{Header: 0xe0, Body: []byte{0x04, 0x00}}, 0x04},
		{Frame{Header: 0xf0}, 0x00},
		{Frame{Header: 0xf0, Body: []byte{0x18}}, 0x18},
		{Frame{Header: 0xf0, Body: []byte{0x19, 0x00}}, 0x19},
	} {
		pk, err := tc.f.Decode(V5)
		if err != nil {
			t.Errorf("% x: %v", tc.f.Bytes(), err)
			continue
		}
		if pk.ReasonCode != tc.want {
			t.Errorf("% x: reason %#02x, want %#02x", tc.f.Bytes(), pk.ReasonCode, tc.want)
		}
	}
}
