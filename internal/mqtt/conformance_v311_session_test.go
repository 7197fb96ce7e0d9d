package mqtt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// MQTT 3.1.1 conformance: session state (4.1), error handling (4.8), the
// WebSocket transport (6) and conformance (7).

// [MQTT-4.1.0-1]: the server keeps a session's state (subscriptions,
// messages in flight, messages queued) for the whole life of the session,
// across reconnections and a server restart.
func TestV311_4_1_0_1(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	id := v311ID(t, "")
	c, _ := v311Persistent(t, ts, id)
	c.MustSubscribe(mqtttest.Sub("state/#", 2))
	pub := v311Connect(t, ts, "p")
	pub.MustPublish("state/a", []byte("inflight"), 1, false)
	inflight := c.ExpectPublish()
	c.Close()
	pub.MustPublish("state/b", []byte("queued"), 2, false)
	pub.Disconnect(0)

	ts.restart()
	c, ack := v311Persistent(t, ts, id)
	if !ack.SessionPresent {
		t.Fatal("[MQTT-4.1.0-1] session lost across the restart")
	}
	got := c.ExpectMessage("state/a", []byte("inflight"))
	if got.PacketID != inflight.PacketID || !got.FixedHeader.Dup {
		t.Fatalf("[MQTT-4.1.0-1] in-flight message re-sent as %s, want id %d with DUP", mqtttest.Describe(got), inflight.PacketID)
	}
	c.ExpectMessage("state/b", []byte("queued"))
	pub = v311Connect(t, ts, "p2")
	pub.MustPublish("state/c", []byte("live"), 1, false)
	c.ExpectMessage("state/c", []byte("live"))
}

// [MQTT-4.1.0-2]: a session lasts at least as long as its connection: a
// Clean Session 1 client keeps its subscriptions while connected, whatever
// other clients (with other identifiers) do.
func TestV311_4_1_0_2(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	c := mqtttest.Dial(t, ts.addr, mqtttest.V311)
	c.MustConnect(mqtttest.ConnectOptions{ClientID: v311ID(t, "c"), Clean: true, KeepAlive: 1})
	c.MustSubscribe(mqtttest.Sub("life/#", 1))
	pub := v311Connect(t, ts, "p")
	for i := range 3 {
		other := v311Connect(t, ts, fmt.Sprint("o", i))
		other.MustSubscribe(mqtttest.Sub("life/#", 1))
		other.Close()
		c.ExpectNothing(500 * time.Millisecond) // idle, within the keep alive
		if err := c.Ping(); err != nil {
			t.Fatal(err)
		}
		pub.MustPublish("life/x", []byte{byte(i)}, 1, false)
		c.ExpectMessage("life/x", []byte{byte(i)})
	}
}

// [MQTT-4.8.0-2]: a transient error while processing an inbound packet (a
// failed store commit of a QoS 1 message for a durable subscriber) closes
// that connection without acknowledging the packet; nothing of it is
// delivered.
func TestV311_4_8_0_2(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	ts := startServer(t, func(ts *testServer) {
		ts.storeOpts.BeforeSync = func() error {
			if fail.Load() {
				return errors.New("injected transient store failure")
			}
			return nil
		}
	})
	id := v311ID(t, "d")
	d, _ := v311Persistent(t, ts, id)
	d.MustSubscribe(mqtttest.Sub("tx/#", 1))

	pub := v311Connect(t, ts, "p")
	fail.Store(true)
	pub.MustSend(pub.PublishPacket("tx/a", []byte("lost"), 1, false))
	for _, pk := range pub.ExpectClosed(v311Closes) {
		if pk.FixedHeader.Type == packets.Puback {
			t.Fatal("[MQTT-4.8.0-2] PUBACK for a message whose commit failed")
		}
	}
	fail.Store(false)
	d.ExpectNothing(v311Quiet)
	pub = v311Connect(t, ts, "p2")
	pub.MustPublish("tx/a", []byte("kept"), 1, false)
	d.ExpectMessage("tx/a", []byte("kept"))
}

// v311WebSocket dials ts's WebSocket path offering protocols.
func v311WebSocket(t *testing.T, ts *testServer, protocols ...string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+ts.addr+"/mqtt", &websocket.DialOptions{Subprotocols: protocols})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	return ws
}

// v311ReadPacket reads one MQTT packet from a byte stream: its first byte
// and body.
func v311ReadPacket(r io.Reader) (byte, []byte, error) {
	var hdr [1]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n, shift := 0, 0
	for {
		var b [1]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n |= int(b[0]&0x7f) << shift
		shift += 7
		if b[0]&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	_, err := io.ReadFull(r, body)
	return hdr[0], body, err
}

// WebSocket transport (6).
func TestV311WebSocket(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	ctx := context.Background()
	connect := func(t *testing.T) []byte {
		return v311RawConnect(0x02, 0, v311Field(v311ID(t, "")))
	}

	t.Run("MQTT-6.0.0-1", func(t *testing.T) {
		// A text frame is not MQTT: the server closes.
		ws := v311WebSocket(t, ts, "mqtt")
		if err := ws.Write(ctx, websocket.MessageText, connect(t)); err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithTimeout(ctx, v311Closes)
		defer cancel()
		typ, msg, err := ws.Read(rctx)
		if err == nil {
			t.Fatalf("got a %v message % x after a text frame, want the connection closed", typ, msg)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatal("the connection stayed open after a text frame")
		}
		// Binary frames are accepted.
		ws = v311WebSocket(t, ts, "mqtt")
		if err := ws.Write(ctx, websocket.MessageBinary, connect(t)); err != nil {
			t.Fatal(err)
		}
		if typ, msg, err := ws.Read(rctx); err != nil || typ != websocket.MessageBinary || !bytes.Equal(msg, []byte{0x20, 2, 0, 0}) {
			t.Fatalf("CONNACK over WebSocket: %v % x %v", typ, msg, err)
		}
	})
	t.Run("MQTT-6.0.0-2", func(t *testing.T) {
		// A CONNECT split over three frames, then SUBSCRIBE, PUBLISH and
		// PINGREQ sharing one frame, the PUBLISH's tail in the next.
		ws := v311WebSocket(t, ts, "mqtt")
		cb := connect(t)
		for _, part := range [][]byte{cb[:1], cb[1:7], cb[7:]} {
			if err := ws.Write(ctx, websocket.MessageBinary, part); err != nil {
				t.Fatal(err)
			}
		}
		more := v311Frame(0x82, []byte{0, 5}, v311Field("ws/#"), []byte{0})
		more = append(more, v311Frame(0x30, v311Field("ws/x"), []byte("over websocket"))...)
		more = append(more, 0xc0, 0)
		cut := len(more) - 6
		for _, part := range [][]byte{more[:cut], more[cut:]} {
			if err := ws.Write(ctx, websocket.MessageBinary, part); err != nil {
				t.Fatal(err)
			}
		}
		stream := websocket.NetConn(ctx, ws, websocket.MessageBinary)
		stream.SetReadDeadline(time.Now().Add(waitLong))
		var got []byte
		for len(got) < 4 {
			h, body, err := v311ReadPacket(stream)
			if err != nil {
				t.Fatalf("after %x: %v", got, err)
			}
			got = append(got, h>>4)
			if h>>4 == packets.Publish && string(body[2+len("ws/x"):]) != "over websocket" {
				t.Fatalf("PUBLISH body % x", body)
			}
		}
		want := []byte{packets.Connack, packets.Suback, packets.Publish, packets.Pingresp}
		if !bytes.Equal(got, want) {
			t.Fatalf("packet types %v, want %v", got, want)
		}
	})
	t.Run("MQTT-6.0.0-4", func(t *testing.T) {
		for _, offer := range [][]string{{"mqtt"}, {"mqttv3.1", "mqtt"}} {
			ws := v311WebSocket(t, ts, offer...)
			if ws.Subprotocol() != "mqtt" {
				t.Fatalf("offered %v, the server selected %q, want mqtt", offer, ws.Subprotocol())
			}
		}
	})
}

// [MQTT-7.0.0-2]: an ordinary MQTT 3.1.1 client with no extensions
// (paho.mqtt.golang) works with the server: subscriptions at every QoS,
// retained messages, persistent sessions and wills.
func TestV311_7_0_0_2(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	rec := mqtttest.NewRecorder()
	subID := v311ID(t, "s")
	sub := mqtttest.StartV311(t, ts.addr, mqtttest.V311Options{ClientID: subID, KeepSession: true, Recorder: rec})
	sub.Subscribe("paho/#", 2)
	pub := mqtttest.StartV311(t, ts.addr, mqtttest.V311Options{ClientID: v311ID(t, "p")})
	pub.Publish("paho/r", []byte("retained"), 1, true)
	for qos := byte(0); qos <= 2; qos++ {
		pub.Publish("paho/q", []byte{'0' + qos}, qos, false)
	}
	rec.WaitFor(t, waitLong, "four messages", func(m []mqtttest.Message) bool { return len(m) >= 4 })
	for i, m := range rec.On("paho/q") {
		if m.QoS != byte(i) || m.Payload[0] != '0'+byte(i) {
			t.Fatalf("[MQTT-7.0.0-2] got %v, want QoS %d", m, i)
		}
	}
	sub.Paho.Disconnect(100)
	pub.Publish("paho/q", []byte("offline"), 1, false)

	rec2 := mqtttest.NewRecorder()
	// No SUBSCRIBE: the resumed session's message reaches paho's default
	// handler.
	mqtttest.StartV311(t, ts.addr, mqtttest.V311Options{ClientID: subID, KeepSession: true, Recorder: rec2})
	rec2.WaitFor(t, waitLong, "the message queued while away", func(m []mqtttest.Message) bool {
		return len(m) == 1 && string(m[0].Payload) == "offline"
	})

	willRec := mqtttest.NewRecorder()
	watch := mqtttest.StartV311(t, ts.addr, mqtttest.V311Options{Recorder: willRec})
	watch.Subscribe("paho/will", 1)
	wc := mqtttest.Dial(t, ts.addr, mqtttest.V311)
	wc.MustConnect(mqtttest.ConnectOptions{ClientID: v311ID(t, "w"), Clean: true, Will: &mqtttest.Will{Topic: "paho/will", Payload: []byte("bye"), QoS: 1}})
	wc.Close()
	willRec.WaitFor(t, waitLong, "the will", func(m []mqtttest.Message) bool { return len(m) == 1 })

	late := mqtttest.NewRecorder()
	l := mqtttest.StartV311(t, ts.addr, mqtttest.V311Options{Recorder: late})
	l.Subscribe("paho/r", 1)
	late.WaitFor(t, waitLong, "the retained message", func(m []mqtttest.Message) bool {
		return len(m) == 1 && m[0].Retain && string(m[0].Payload) == "retained"
	})
}

// [MQTT-7.1.1-1]: the server speaks MQTT over TCP, an ordered, lossless,
// two-way byte stream: messages of every size up to 64 KiB arrive whole
// and in order.
func TestV311_7_1_1_1(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	sub := v311Connect(t, ts, "s")
	sub.MustSubscribe(mqtttest.Sub("stream/x", 1))
	pub := v311Connect(t, ts, "p")
	// QoS 0 deliveries that do not fit the connection's outbound bound
	// (4 MiB) are dropped by design, so the stream stays below it (about
	// 1.6 MB): however slowly the subscriber's side runs, nothing may be
	// lost or reordered.
	const n = 200
	payload := func(i int) []byte {
		return bytes.Repeat([]byte{byte(i)}, (i*331)%(16<<10))
	}
	for i := range n {
		pub.MustSend(pub.PublishPacket("stream/x", payload(i), 0, false))
	}
	for i := range n {
		pk, err := sub.AwaitType(packets.Publish, waitLong)
		if err != nil {
			t.Fatalf("[MQTT-7.1.1-1] message %d: %v", i, err)
		}
		if !bytes.Equal(pk.Payload, payload(i)) {
			t.Fatalf("[MQTT-7.1.1-1] message %d: %d bytes, want %d in order", i, len(pk.Payload), len(payload(i)))
		}
	}
}
