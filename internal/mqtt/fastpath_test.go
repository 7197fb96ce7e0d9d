package mqtt

import (
	"bytes"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// A QoS 0 message for a subscription whose buffer still holds a queued
// QoS 1 message (the client's Receive Maximum is full) must not overtake it:
// the fast path applies only when nothing waits in the buffer.
func TestQoS0FastPathKeepsBufferOrder(t *testing.T) {
	ts := startServer(t)
	sub := mqtttest.Dial(t, ts.addr, 5)
	sub.MustConnect(mqtttest.ConnectOptions{ClientID: "fp-sub", Clean: true,
		Properties: packets.Properties{ReceiveMaximum: 1}})
	sub.MustSubscribe(mqtttest.Sub("o/#", 1))
	pub := mqtttest.Dial(t, ts.addr, 5)
	pub.MustConnect(mqtttest.ConnectOptions{ClientID: "fp-pub", Clean: true})
	// next reads one PUBLISH (not acknowledged) and checks it.
	next := func(payload string, qos byte) *packets.Packet {
		t.Helper()
		got := sub.ExpectPublish()
		if string(got.Payload) != payload || got.FixedHeader.Qos != qos {
			t.Fatalf("got %s, want payload %q at QoS %d", mqtttest.Describe(got), payload, qos)
		}
		return got
	}

	pub.MustPublish("o/1", []byte("m1"), 1, false)
	first := next("m1", 1)
	pub.MustPublish("o/2", []byte("m2"), 1, false) // queued: the window of 1 is full
	pub.MustPublish("o/3", []byte("m3"), 0, false) // must wait behind m2
	sub.ExpectNothing(100 * time.Millisecond)
	sub.MustAcknowledge(first)
	second := next("m2", 1)
	next("m3", 0)
	sub.MustAcknowledge(second)

	// With only in-flight entries left (nothing queued), QoS 0 goes at once.
	pub.MustPublish("o/4", []byte("m4"), 1, false)
	fourth := next("m4", 1)
	pub.MustPublish("o/5", []byte("m5"), 0, false)
	next("m5", 0)
	sub.MustAcknowledge(fourth)
}

// One QoS 0 publish reaches subscribers of every protocol version with the
// packet each version requires, although 3.1/3.1.1 deliveries share one
// encoding; a retained message is sent live with RETAIN 0 and to a later
// subscriber with RETAIN 1 ([MQTT-3.3.1-8], [MQTT-3.3.1-9]).
func TestQoS0SharedEncodingAcrossVersions(t *testing.T) {
	ts := startServer(t)
	var subs []*mqtttest.Conn
	for i, v := range []byte{mqtttest.V31, mqtttest.V311, mqtttest.V311, 5} {
		c := mqtttest.Dial(t, ts.addr, v)
		c.MustConnect(mqtttest.ConnectOptions{ClientID: "fp-v" + string(rune('a'+i)), Clean: true})
		c.MustSubscribe(mqtttest.Sub("v/#", 0))
		subs = append(subs, c)
	}
	pub := mqtttest.Dial(t, ts.addr, 5)
	pub.MustConnect(mqtttest.ConnectOptions{ClientID: "fp-vpub", Clean: true})
	pk := pub.PublishPacket("v/1", []byte("hello"), 0, false)
	pk.Properties.User = []packets.UserProperty{{Key: "k", Val: "v"}}
	if _, err := pub.PublishWith(pk); err != nil {
		t.Fatal(err)
	}
	for _, c := range subs {
		got := c.ExpectMessage("v/1", []byte("hello"))
		if got.FixedHeader.Retain || got.FixedHeader.Dup || got.FixedHeader.Qos != 0 {
			t.Fatalf("v%d: flags %+v", c.Version(), got.FixedHeader)
		}
		if c.Version() == 5 && (len(got.Properties.User) != 1 || got.Properties.User[0].Val != "v") {
			t.Fatalf("v5 subscriber lost the user property: %+v", got.Properties.User)
		}
	}

	pub.MustPublish("v/r", []byte("kept"), 0, true)
	if got := subs[1].ExpectMessage("v/r", []byte("kept")); got.FixedHeader.Retain {
		t.Fatal("live delivery of a retained message has RETAIN 1")
	}
	late := mqtttest.Dial(t, ts.addr, mqtttest.V311)
	late.MustConnect(mqtttest.ConnectOptions{ClientID: "fp-late", Clean: true})
	late.MustSubscribe(mqtttest.Sub("v/r", 0))
	if got := late.ExpectMessage("v/r", []byte("kept")); !got.FixedHeader.Retain {
		t.Fatal("retained message sent to a new subscription without RETAIN 1")
	}
}

func TestQoS0WireLocked(t *testing.T) {
	publish := func(retain bool) *packets.Packet {
		return &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Retain: retain},
			TopicName: "a/b", Payload: []byte("payload")}
	}
	want := func(t *testing.T, got []byte, retain bool, v byte) {
		t.Helper()
		exp, err := mqtttest.Encode(publish(retain), v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, exp) {
			t.Fatalf("wire % x, want % x", got, exp)
		}
	}
	m := &message{topic: "a/b", payload: []byte("payload")}
	a, err := m.qos0WireLocked(publish(false), 4)
	if err != nil {
		t.Fatal(err)
	}
	want(t, a, false, 4)
	b, _ := m.qos0WireLocked(publish(false), 4)
	if &a[0] != &b[0] {
		t.Fatal("second delivery of the same variant was encoded again")
	}
	r, _ := m.qos0WireLocked(publish(true), 4)
	want(t, r, true, 4)
	v3, _ := m.qos0WireLocked(publish(false), 3)
	want(t, v3, false, 3)
	if &v3[0] == &a[0] || &r[0] == &a[0] {
		t.Fatal("another variant got the cached bytes")
	}

	kept := &message{topic: "a/b", payload: []byte("payload"), retain: true}
	x, _ := kept.qos0WireLocked(publish(false), 4)
	y, _ := kept.qos0WireLocked(publish(false), 4)
	want(t, y, false, 4)
	if &x[0] == &y[0] || kept.wire != nil {
		t.Fatal("a retained message keeps an encoded copy")
	}
}
