package mqtt

// MQTT 5.0 conformance, sections 3.12 PINGREQ, 3.14 DISCONNECT, 3.15 AUTH,
// 4 (sessions, QoS flows, retry, receipt, ordering, topics, shared
// subscriptions, flow control, enhanced authentication, errors) and 6
// (WebSocket).

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// v5Gone waits until the server holds no session for id (it expired).
func v5Gone(t *testing.T, ts *testServer, id string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ts.e.mu.Lock()
		_, held := ts.e.mu.sessions[id]
		ts.e.mu.Unlock()
		if !held {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %q still held after %v", id, within)
		}
		time.Sleep(5 * time.Millisecond) // polling engine state: there is no event to wait on
	}
}

func TestV5PingDisconnectAuth(t *testing.T) {
	v5Case(t, "MQTT-3.12.4-1", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		for range 3 {
			c.MustSend(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
			c.Expect(packets.Pingresp)
		}
	})
	v5Case(t, "MQTT-3.14.0-1", func(t *testing.T, ts *testServer) {
		// Refused CONNECT: a CONNACK, never a DISCONNECT.
		c := v5Dial(t, ts)
		c.MustSend(mqtttest.ConnectPacket(mqtttest.ConnectOptions{ClientID: "c", Clean: true, Username: []byte("nobody"), Password: []byte("x")}, mqtttest.V5))
		v5ExpectClosed(t, c, packets.Connack, 0x86, false)
		// No CONNECT at all: nothing.
		c = v5Dial(t, ts)
		c.MustSend(c.PublishPacket("t", []byte("x"), 1, false))
		if pks := c.ExpectClosed(v5Close); len(pks) != 0 {
			t.Fatalf("before any CONNACK the server sent %s", v5Describe(pks))
		}
		// Accepted: a DISCONNECT may follow.
		c, _ = v5Open(t, ts, "c")
		c.MustSend(mqtttest.ConnectPacket(mqtttest.ConnectOptions{ClientID: "c"}, mqtttest.V5))
		v5ExpectDisconnect(t, c, 0x82)
	})
	v5Case(t, "MQTT-3.14.1-1", func(t *testing.T, ts *testServer) {
		watch := v5Watch(t, ts, "watch", "will/#")
		c, _ := v5Open(t, ts, "c", v5Will("will/c", "x", 0, false, 0))
		c.SendRaw([]byte{0xE2, 0x00})
		v5ExpectDisconnect(t, c, 0x81)
		watch.ExpectMessage("will/c", []byte("x")) // not a normal disconnect
	})
	v5Case(t, "MQTT-3.14.2-1", func(t *testing.T, ts *testServer) {
		allowed := []byte{0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94,
			0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2}
		var got []byte
		disconnectOf := func(c *mqtttest.Conn) {
			t.Helper()
			for _, pk := range c.ExpectClosed(v5Close) {
				if pk.FixedHeader.Type == packets.Disconnect {
					got = append(got, pk.ReasonCode)
				}
			}
		}
		old, _ := v5Open(t, ts, "same")
		v5Open(t, ts, "same")
		disconnectOf(old) // 0x8E
		for _, raw := range [][]byte{
			{0xC1, 0x00}, // malformed
			v5ConnectBytes(t, mqtttest.ConnectOptions{ClientID: "x"}),             // protocol error
			v5RawPublish("t", []byte{0x23, 0xff, 0xff}, "x"),                      // topic alias invalid
			v5RawPublish("t/#", nil, "x"),                                         // topic name invalid
			v5Frame(0x30, append(v5Str("big"), bytes.Repeat([]byte{0}, 2000)...)), // packet too large
		} {
			c, _ := v5Open(t, ts, "c")
			c.SendRaw(raw)
			disconnectOf(c)
		}
		if len(got) != 6 {
			t.Fatalf("got DISCONNECT reasons % x, want six", got)
		}
		for _, rc := range got {
			if !slices.Contains(allowed, rc) {
				t.Fatalf("DISCONNECT reason %#02x is not a Disconnect Reason Code", rc)
			}
		}
	}, func(ts *testServer) { ts.cfg.Endpoints["DemoEndpoint"].MaxMessageSize = "1KB" })
	v5Case(t, "MQTT-3.14.2-2", func(t *testing.T, ts *testServer) {
		old, _ := v5Open(t, ts, "same", v5Persistent)
		v5Open(t, ts, "same", v5Persistent)
		pks := old.ExpectClosed(v5Close)
		if len(pks) != 1 || pks[0].FixedHeader.Type != packets.Disconnect || pks[0].Properties.SessionExpiryIntervalFlag {
			t.Fatalf("got %s, want a DISCONNECT without Session Expiry Interval", v5Describe(pks))
		}
	})
	for _, id := range []string{"MQTT-3.14.2-3", "MQTT-3.14.2-4"} {
		v5Case(t, id, func(t *testing.T, ts *testServer) {
			old, _ := v5Open(t, ts, "same", v5Small)
			v5Open(t, ts, "same")
			v5CheckSmall(t, v5NextFrame(t, old, packets.Disconnect))
			c, _ := v5Open(t, ts, "c", v5Small)
			c.SendRaw([]byte{0xC1, 0x00})
			v5CheckSmall(t, v5NextFrame(t, c, packets.Disconnect))
		})
	}
	v5Case(t, "MQTT-3.14.4-1", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.MustSubscribe(mqtttest.Sub("t", 0))
		pub, _ := v5Open(t, ts, "pub")
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { // keep messages flowing towards c
			defer close(done)
			for i := 0; i < 2000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				pub.Send(pub.PublishPacket("t", []byte("x"), 0, false))
			}
		}()
		c.SendRaw([]byte{0xC1, 0x00}) // malformed: the server disconnects
		kind, frames := c.WaitClosed(v5Close)
		close(stop)
		<-done
		if !kind.ClosedByBroker() || len(frames) == 0 || frames[len(frames)-1].Type() != packets.Disconnect {
			t.Fatalf("connection %s after %d frames, want DISCONNECT as the last one", kind, len(frames))
		}
	})
	v5Case(t, "MQTT-3.14.4-2", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.MustSend(mqtttest.ConnectPacket(mqtttest.ConnectOptions{ClientID: "c"}, mqtttest.V5))
		v5ExpectDisconnect(t, c, 0x82) // DISCONNECT, then the close
	})
	v5Case(t, "MQTT-3.14.4-3", func(t *testing.T, ts *testServer) {
		watch := v5Watch(t, ts, "watch", "will/#")
		c, _ := v5Open(t, ts, "normal", v5Will("will/normal", "x", 0, false, 0))
		c.Disconnect(0)
		c.ExpectClosed(v5Close)
		watch.ExpectNothing(v5Quiet)
		c, _ = v5Open(t, ts, "withwill", v5Will("will/withwill", "x", 0, false, 0))
		c.Disconnect(0x04) // Disconnect with Will Message
		watch.ExpectMessage("will/withwill", []byte("x"))
	})
	v5Case(t, "MQTT-3.15.1-1", func(t *testing.T, ts *testServer) {
		for _, raw := range [][]byte{{0xF1, 0x00}, {0xF8, 0x02, 0x18, 0x00}} {
			c, _ := v5Open(t, ts, "c")
			c.SendRaw(raw)
			v5ExpectDisconnectOneOf(t, c, 0x81)
		}
	})
	v5Case(t, "MQTT-3.15.2-1", func(t *testing.T, ts *testServer) {
		// The server sends no AUTH (no method agreed); an AUTH with a code
		// that is not an Authenticate Reason Code ends the connection.
		c, _ := v5Open(t, ts, "c")
		c.SendRaw([]byte{0xF0, 0x02, 0x05, 0x00})
		pks := c.ExpectClosed(v5Close)
		for _, pk := range pks {
			if pk.FixedHeader.Type == packets.Auth {
				t.Fatalf("server sent %s", mqtttest.Describe(pk))
			}
		}
		if len(pks) != 1 || pks[0].FixedHeader.Type != packets.Disconnect || pks[0].ReasonCode < 0x80 {
			t.Fatalf("got %s, want a DISCONNECT with an error", v5Describe(pks))
		}
	})
}

func TestV5Session(t *testing.T) {
	v5Case(t, "MQTT-4.1.0-1", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c", v5Expiry(1))
		c.MustSubscribe(mqtttest.Sub("t", 1))
		c.ExpectNothing(1300 * time.Millisecond) // longer than the expiry, connected
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("t", []byte("x"), 1, false)
		c.ExpectMessage("t", []byte("x"))
	})
	v5Case(t, "MQTT-4.1.0-2", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c", v5Expiry(1), v5Resume)
		c.MustSubscribe(mqtttest.Sub("t", 1))
		v5Offline(t, ts, c)
		v5Gone(t, ts, "c", 3*time.Second)
		if _, ack := v5Open(t, ts, "c", v5Persistent); ack.SessionPresent {
			t.Fatal("session present after its expiry interval")
		}
	})
	v5Case(t, "MQTT-4.2.0-1", func(t *testing.T, ts *testServer) {
		c := v5Watch(t, ts, "c", "t")
		pub, _ := v5Open(t, ts, "pub")
		const n = 300
		for i := range n {
			pub.MustSend(pub.PublishPacket("t", fmt.Appendf(nil, "%04d", i), 0, false))
		}
		for i := range n {
			got := c.ExpectPublish()
			if want := fmt.Sprintf("%04d", i); string(got.Payload) != want {
				t.Fatalf("message %d: %q", i, got.Payload)
			}
		}
	})
}

func TestV5QoSFlows(t *testing.T) {
	v5Case(t, "MQTT-4.3.1-1", func(t *testing.T, ts *testServer) {
		c := v5Watch(t, ts, "c", "t")
		c.MustSubscribe(mqtttest.Sub("t", 0))
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("t", []byte("x"), 2, false)
		if got := c.ExpectPublish(); got.FixedHeader.Qos != 0 || got.FixedHeader.Dup {
			t.Fatalf("got %s, want QoS 0, DUP 0", mqtttest.Describe(got))
		}
	})
	for _, tc := range []struct {
		fresh, first string
		qos          byte
	}{{"MQTT-4.3.2-1", "MQTT-4.3.2-2", 1}, {"MQTT-4.3.3-1", "MQTT-4.3.3-2", 2}} {
		v5Case(t, tc.fresh, func(t *testing.T, ts *testServer) {
			c := v5Watch(t, ts, "c", "t")
			pub, _ := v5Open(t, ts, "pub")
			seen := map[uint16]bool{}
			for range 8 {
				pub.MustPublish("t", []byte("x"), tc.qos, false)
				got := c.ExpectPublish()
				if got.PacketID == 0 || seen[got.PacketID] {
					t.Fatalf("identifier %d is zero or in use", got.PacketID)
				}
				seen[got.PacketID] = true
			}
		})
		v5Case(t, tc.first, func(t *testing.T, ts *testServer) {
			c := v5Watch(t, ts, "c", "t")
			pub, _ := v5Open(t, ts, "pub")
			pub.MustPublish("t", []byte("x"), tc.qos, false)
			if got := c.ExpectPublish(); got.FixedHeader.Qos != tc.qos || got.FixedHeader.Dup || got.PacketID == 0 {
				t.Fatalf("got %s, want QoS %d, DUP 0, an identifier", mqtttest.Describe(got), tc.qos)
			}
		})
	}
	for _, tc := range []struct {
		id  string
		qos byte
	}{{"MQTT-4.3.2-3", 1}, {"MQTT-4.3.3-3", 2}} {
		v5Case(t, tc.id, func(t *testing.T, ts *testServer) {
			c, _ := v5Open(t, ts, "c", v5Persistent)
			c.MustSubscribe(mqtttest.Sub("t", 2))
			pub, _ := v5Open(t, ts, "pub")
			pub.MustPublish("t", []byte("x"), tc.qos, false)
			first := c.ExpectPublish()
			c.ExpectNothing(v5Quiet)
			v5Offline(t, ts, c)
			c, _ = v5Open(t, ts, "c", v5Persistent)
			again := c.ExpectPublish() // still unacknowledged
			if again.PacketID != first.PacketID || !again.FixedHeader.Dup {
				t.Fatalf("resent %s, want id %d with DUP", mqtttest.Describe(again), first.PacketID)
			}
			c.MustAcknowledge(again)
			v5Offline(t, ts, c)
			c, _ = v5Open(t, ts, "c", v5Persistent)
			c.ExpectNothing(v5Quiet) // acknowledged: gone
		})
	}
	v5Case(t, "MQTT-4.3.2-4", func(t *testing.T, ts *testServer) {
		watch := v5Watch(t, ts, "watch", "t")
		c, _ := v5Open(t, ts, "c")
		pk := c.PublishPacket("t", []byte("x"), 1, false)
		pk.PacketID = 12
		c.MustSend(pk)
		if ack := c.Expect(packets.Puback); ack.PacketID != 12 || ack.ReasonCode != 0 {
			t.Fatalf("got %s", mqtttest.Describe(ack))
		}
		watch.ExpectMessage("t", []byte("x"))
	})
	v5Case(t, "MQTT-4.3.2-5", func(t *testing.T, ts *testServer) {
		watch := v5Watch(t, ts, "watch", "t")
		c, _ := v5Open(t, ts, "c")
		for i, dup := range []bool{false, true, false} {
			pk := c.PublishPacket("t", []byte{'0' + byte(i)}, 1, false)
			pk.PacketID, pk.FixedHeader.Dup = 7, dup
			if _, err := c.PublishWith(pk); err != nil {
				t.Fatal(err)
			}
			watch.ExpectMessage("t", []byte{'0' + byte(i)})
		}
	})
	v5Case(t, "MQTT-4.3.3-4", func(t *testing.T, ts *testServer) {
		c := v5Watch(t, ts, "c", "t")
		c.MustPublish("t", []byte("x"), 2, false)
		pub := c.ExpectPublish()
		c.MustSend(mqtttest.AckPacket(packets.Pubrec, pub.PacketID, 0x10))
		if rel := c.Expect(packets.Pubrel); rel.PacketID != pub.PacketID {
			t.Fatalf("PUBREL id %d, want %d", rel.PacketID, pub.PacketID)
		}
	})
	for _, id := range []string{"MQTT-4.3.3-5", "MQTT-4.3.3-6"} {
		v5Case(t, id, func(t *testing.T, ts *testServer) {
			c, _ := v5Open(t, ts, "c", v5Persistent)
			c.MustSubscribe(mqtttest.Sub("t", 2))
			c.MustPublish("t", []byte("x"), 2, false)
			pub := c.ExpectPublish()
			c.MustSend(mqtttest.AckPacket(packets.Pubrec, pub.PacketID, 0))
			c.Expect(packets.Pubrel)
			c.ExpectNothing(v5Quiet)
			v5Offline(t, ts, c)
			ts.restart()
			c, _ = v5Open(t, ts, "c", v5Persistent)
			if rel := c.Expect(packets.Pubrel); rel.PacketID != pub.PacketID {
				t.Fatalf("PUBREL id %d, want %d", rel.PacketID, pub.PacketID)
			}
			c.ExpectNothing(v5Quiet) // the PUBLISH is not sent again
			c.MustSend(mqtttest.AckPacket(packets.Pubcomp, pub.PacketID, 0))
			v5Offline(t, ts, c)
			c, _ = v5Open(t, ts, "c", v5Persistent)
			c.ExpectNothing(v5Quiet)
		})
	}
	clock7 := &v5Clock{}
	v5Case(t, "MQTT-4.3.3-7", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c", v5Persistent)
		c.MustSubscribe(mqtttest.Sub("t", 2))
		pk := c.PublishPacket("t", []byte("x"), 2, false)
		pk.Properties.MessageExpiryInterval = 2
		c.PublishWith(pk)
		first := c.ExpectPublish()
		clock7.advance(10 * time.Second)
		v5Offline(t, ts, c)
		c, _ = v5Open(t, ts, "c", v5Persistent)
		if again := c.ExpectPublish(); again.PacketID != first.PacketID {
			t.Fatalf("got %s, want the sent message again despite its expiry", mqtttest.Describe(again))
		}
	}, v5WithClock(clock7))
	v5Case(t, "MQTT-4.3.3-8", func(t *testing.T, ts *testServer) {
		watch := v5Watch(t, ts, "watch", "t")
		c, _ := v5Open(t, ts, "c")
		pk := c.PublishPacket("t", []byte("x"), 2, false)
		pk.PacketID = 300
		c.MustSend(pk)
		if rec := c.Expect(packets.Pubrec); rec.PacketID != 300 || rec.ReasonCode != 0 {
			t.Fatalf("got %s", mqtttest.Describe(rec))
		}
		c.MustSend(mqtttest.AckPacket(packets.Pubrel, 300, 0))
		c.Expect(packets.Pubcomp)
		watch.ExpectMessage("t", []byte("x"))
	})
	v5Case(t, "MQTT-4.3.3-9", func(t *testing.T, ts *testServer) {
		full, _ := v5Open(t, ts, "full", v5Persistent)
		full.MustSubscribe(mqtttest.Sub("q/#", 1))
		v5Offline(t, ts, full)
		c, _ := v5Open(t, ts, "c")
		c.MustPublish("q/a", []byte("fills"), 1, false)
		pk := c.PublishPacket("q/a", []byte("refused"), 2, false)
		pk.PacketID = 5
		c.MustSend(pk)
		if rec := c.Expect(packets.Pubrec); rec.ReasonCode < 0x80 {
			t.Fatalf("got %s, want a refusal", mqtttest.Describe(rec))
		}
		watch := v5Watch(t, ts, "watch", "free")
		pk = c.PublishPacket("free", []byte("new"), 2, false)
		pk.PacketID = 5 // the same identifier: a new message
		if ack, err := c.PublishWith(pk); err != nil || ack.FixedHeader.Type != packets.Pubcomp {
			t.Fatalf("%v, %v", ack, err)
		}
		watch.ExpectMessage("free", []byte("new"))
	}, withTopicLimit(1, "RejectNewMessages"))
	v5Case(t, "MQTT-4.3.3-10", func(t *testing.T, ts *testServer) {
		watch := v5Watch(t, ts, "watch", "t")
		c, _ := v5Open(t, ts, "c")
		pk := c.PublishPacket("t", []byte("x"), 2, false)
		pk.PacketID = 9
		c.MustSend(pk)
		c.Expect(packets.Pubrec)
		pk.FixedHeader.Dup = true
		for range 2 {
			c.MustSend(pk)
			if rec := c.Expect(packets.Pubrec); rec.PacketID != 9 {
				t.Fatalf("got %s", mqtttest.Describe(rec))
			}
		}
		c.MustSend(mqtttest.AckPacket(packets.Pubrel, 9, 0))
		c.Expect(packets.Pubcomp)
		watch.ExpectMessage("t", []byte("x"))
		watch.ExpectNothing(v5Quiet) // delivered once
	})
	v5Case(t, "MQTT-4.3.3-11", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		for _, id := range []uint16{1, 40000} {
			pk := c.PublishPacket("t", []byte("x"), 2, false)
			pk.PacketID = id
			c.MustSend(pk)
			c.Expect(packets.Pubrec)
			c.MustSend(mqtttest.AckPacket(packets.Pubrel, id, 0))
			if comp := c.Expect(packets.Pubcomp); comp.PacketID != id || comp.ReasonCode != 0 {
				t.Fatalf("got %s, want PUBCOMP id %d", mqtttest.Describe(comp), id)
			}
		}
	})
	v5Case(t, "MQTT-4.3.3-12", func(t *testing.T, ts *testServer) {
		watch := v5Watch(t, ts, "watch", "t")
		c, _ := v5Open(t, ts, "c")
		for i := range 2 {
			pk := c.PublishPacket("t", []byte{'0' + byte(i)}, 2, false)
			pk.PacketID = 11
			if _, err := c.PublishWith(pk); err != nil {
				t.Fatal(err)
			}
			watch.ExpectMessage("t", []byte{'0' + byte(i)})
		}
	})
	clock13 := &v5Clock{}
	v5Case(t, "MQTT-4.3.3-13", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		pk := c.PublishPacket("t", []byte("x"), 2, false)
		pk.Properties.MessageExpiryInterval = 1
		c.MustSend(pk)
		c.Expect(packets.Pubrec)
		clock13.advance(5 * time.Second)
		c.MustSend(mqtttest.AckPacket(packets.Pubrel, pk.PacketID, 0))
		if comp := c.Expect(packets.Pubcomp); comp.ReasonCode != 0 {
			t.Fatalf("got %s", mqtttest.Describe(comp))
		}
	}, v5WithClock(clock13))
}

func TestV5Retry(t *testing.T) {
	v5Case(t, "MQTT-4.4.0-1", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c", v5Persistent)
		c.MustSubscribe(mqtttest.Sub("t", 2))
		pub, _ := v5Open(t, ts, "pub")
		for i, q := range []byte{1, 2, 2, 1} {
			pub.MustPublish("t", []byte{'0' + byte(i)}, q, false)
		}
		var ids []uint16
		var p2 *packets.Packet
		for i := range 4 {
			got := c.ExpectPublish()
			ids = append(ids, got.PacketID)
			if i == 1 {
				p2 = got
			}
		}
		c.MustSend(mqtttest.AckPacket(packets.Pubrec, p2.PacketID, 0)) // the second is at PUBREL
		c.Expect(packets.Pubrel)
		c.ExpectNothing(300 * time.Millisecond) // no retry while connected
		v5Offline(t, ts, c)
		c, _ = v5Open(t, ts, "c", v5Persistent)
		// In original order: PUBLISH 0, PUBREL 1, PUBLISH 2, PUBLISH 3.
		for i := range 4 {
			pk, err := c.Next(mqtttest.DefaultTimeout)
			if err != nil {
				t.Fatal(err)
			}
			wantType := byte(packets.Publish)
			if i == 1 {
				wantType = packets.Pubrel
			}
			if pk.FixedHeader.Type != wantType || pk.PacketID != ids[i] {
				t.Fatalf("resend %d: %s, want %s id %d", i, mqtttest.Describe(pk), mqtttest.TypeName(wantType), ids[i])
			}
			if wantType == packets.Publish && (!pk.FixedHeader.Dup || string(pk.Payload) != string(rune('0'+i))) {
				t.Fatalf("resend %d: %s", i, mqtttest.Describe(pk))
			}
		}
		c.ExpectNothing(v5Quiet)
	})
	v5Case(t, "MQTT-4.4.0-2", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c", v5Persistent)
		c.MustSubscribe(mqtttest.Sub("t", 2))
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("t", []byte("1"), 1, false)
		pub.MustPublish("t", []byte("2"), 2, false)
		p1, p2 := c.ExpectPublish(), c.ExpectPublish()
		c.MustSend(mqtttest.AckPacket(packets.Puback, p1.PacketID, 0x80))
		c.MustSend(mqtttest.AckPacket(packets.Pubrec, p2.PacketID, 0x80))
		c.ExpectNothing(v5Quiet) // no PUBREL after a failed PUBREC
		v5Offline(t, ts, c)
		c, _ = v5Open(t, ts, "c", v5Persistent)
		c.ExpectNothing(v5Quiet)
	})
}

func TestV5Delivery(t *testing.T) {
	v5Case(t, "MQTT-4.5.0-1", func(t *testing.T, ts *testServer) {
		off, _ := v5Open(t, ts, "off", v5Persistent)
		off.MustSubscribe(mqtttest.Sub("a/#", 1))
		v5Offline(t, ts, off)
		a := v5Watch(t, ts, "a", "a/+")
		b := v5Watch(t, ts, "b", "#")
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("a/b", []byte("x"), 1, false)
		a.ExpectMessage("a/b", []byte("x"))
		b.ExpectMessage("a/b", []byte("x"))
		off, _ = v5Open(t, ts, "off", v5Persistent)
		off.ExpectMessage("a/b", []byte("x"))
	})
	for _, tc := range []struct{ id, filter string }{{"MQTT-4.6.0-5", "o/a"}, {"MQTT-4.6.0-6", "o/#"}} {
		v5Case(t, tc.id, func(t *testing.T, ts *testServer) {
			c := v5Watch(t, ts, "c", tc.filter)
			pubs := []*mqtttest.Conn{}
			for i := range 2 {
				p, _ := v5Open(t, ts, fmt.Sprintf("pub%d", i))
				pubs = append(pubs, p)
			}
			const n = 40
			for i := range n {
				tp := "o/a"
				if tc.filter == "o/#" && i%3 == 0 {
					tp = "o/b"
				}
				pubs[i%2].MustPublish(tp, fmt.Appendf(nil, "%d-%03d", i%2, i), byte(1+i%2/1), false)
			}
			last := map[byte]string{}
			for range n {
				got := c.ExpectPublish()
				from := got.Payload[0]
				if string(got.Payload) <= last[from] {
					t.Fatalf("%s after %s from the same publisher", got.Payload, last[from])
				}
				last[from] = string(got.Payload)
				c.MustAcknowledge(got)
			}
		})
	}
}

func TestV5Topics(t *testing.T) {
	v5Case(t, "MQTT-4.7.0-1", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.MustSubscribe(mqtttest.Sub("a/+/c", 0), mqtttest.Sub("b/#", 0))
		c.MustSend(c.PublishPacket("a/+/c", []byte("x"), 0, false))
		v5ExpectDisconnectOneOf(t, c, 0x82, 0x90)
	})
	v5Case(t, "MQTT-4.7.1-1", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		ack, err := c.Subscribe(mqtttest.Sub("#", 0), mqtttest.Sub("s/#", 0), mqtttest.Sub("a#", 0), mqtttest.Sub("a/#/b", 0), mqtttest.Sub("a/b#", 0))
		if err != nil || !bytes.Equal(ack.ReasonCodes, []byte{0, 0, 0x8F, 0x8F, 0x8F}) {
			t.Fatalf("SUBACK %v, %v: want 00 00 8f 8f 8f", ack, err)
		}
		c.Unsubscribe("#")
		pub, _ := v5Open(t, ts, "pub")
		for _, tp := range []string{"s", "s/x", "s/x/y", "sx"} {
			pub.MustPublish(tp, []byte(tp), 0, false)
		}
		for _, want := range []string{"s", "s/x", "s/x/y"} { // '#' includes the parent level
			c.ExpectMessage(want, []byte(want))
		}
		c.ExpectNothing(v5Quiet)
	})
	v5Case(t, "MQTT-4.7.1-2", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		ack, err := c.Subscribe(mqtttest.Sub("+/+", 0), mqtttest.Sub("+", 0), mqtttest.Sub("a+", 0), mqtttest.Sub("a/+b", 0))
		if err != nil || !bytes.Equal(ack.ReasonCodes, []byte{0, 0, 0x8F, 0x8F}) {
			t.Fatalf("SUBACK %v, %v: want 00 00 8f 8f", ack, err)
		}
		c.Unsubscribe("+")
		pub, _ := v5Open(t, ts, "pub")
		for _, tp := range []string{"a/b", "/b", "a/", "a", "a/b/c"} {
			pub.MustPublish(tp, []byte(tp), 0, false)
		}
		for _, want := range []string{"a/b", "/b", "a/"} { // '+' matches an empty level too
			c.ExpectMessage(want, []byte(want))
		}
		c.ExpectNothing(v5Quiet)
	})
	v5Case(t, "MQTT-4.7.2-1", func(t *testing.T, ts *testServer) {
		wild := v5Watch(t, ts, "wild", "#")
		wild.MustSubscribe(mqtttest.Sub("+/x", 0))
		dollar := v5Watch(t, ts, "dollar", "$app/#")
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("$app/x", []byte("d"), 0, false)
		dollar.ExpectMessage("$app/x", []byte("d"))
		wild.ExpectNothing(v5Quiet)
	})
	v5Case(t, "MQTT-4.7.3-1", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		ack, err := c.Subscribe(mqtttest.Sub("", 0))
		if err == nil && !bytes.Equal(ack.ReasonCodes, []byte{0x8F}) {
			t.Fatalf("SUBACK %s for an empty filter, want 0x8F", mqtttest.Describe(ack))
		}
		if err != nil {
			c.ExpectClosed(v5Close) // refusing the packet is also allowed
		}
		c, _ = v5Open(t, ts, "c")
		c.SendRaw(v5RawPublish("", nil, "x"))
		v5ExpectDisconnectOneOf(t, c, 0x82, 0x90)
	})
	v5Case(t, "MQTT-4.7.3-2", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.SendRaw(v5Frame(0x82, append(append([]byte{0, 1, 0}, v5Str("a\x00")...), 0)))
		v5ExpectDisconnect(t, c, 0x81)
		c, _ = v5Open(t, ts, "c")
		c.SendRaw(v5RawPublish("a\x00", nil, "x"))
		v5ExpectDisconnect(t, c, 0x81)
	})
	v5Case(t, "MQTT-4.7.3-3", func(t *testing.T, ts *testServer) {
		long := strings.Repeat("l", 65535-2) + "/x"
		c, _ := v5Open(t, ts, "c")
		c.MustSubscribe(mqtttest.Sub(long, 0))
		c.MustPublish(long, []byte("x"), 0, false)
		if got := c.ExpectPublish(); got.TopicName != long {
			t.Fatal("a 65,535-byte topic did not round trip")
		}
	})
	v5Case(t, "MQTT-4.7.3-4", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.MustSubscribe(mqtttest.Sub("caf\u00e9", 0), mqtttest.Sub("Up", 0), mqtttest.Sub("a/", 0))
		pub, _ := v5Open(t, ts, "pub")
		for _, tp := range []string{"cafe\u0301", "up", "UP", "a", "a//"} {
			pub.MustPublish(tp, []byte(tp), 0, false)
		}
		c.ExpectNothing(v5Quiet)
		for _, tp := range []string{"caf\u00e9", "Up", "a/"} {
			pub.MustPublish(tp, []byte(tp), 0, false)
			if got := c.ExpectPublish(); got.TopicName != tp {
				t.Fatalf("topic %q, want %q unchanged", got.TopicName, tp)
			}
		}
	})
}

func TestV5Shared(t *testing.T) {
	v5Case(t, "MQTT-4.8.2-1", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		ack, err := c.Subscribe(mqtttest.Sub("$share//t", 0), mqtttest.Sub("$share/g", 0), mqtttest.Sub("$share/g/t", 0))
		if err != nil || !bytes.Equal(ack.ReasonCodes, []byte{0x8F, 0x8F, 0}) {
			t.Fatalf("SUBACK %v, %v: want 8f 8f 00", ack, err)
		}
	})
	v5Case(t, "MQTT-4.8.2-2", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		ack, err := c.Subscribe(mqtttest.Sub("$share/g+/t", 0), mqtttest.Sub("$share/g#/t", 0), mqtttest.Sub("$share/g/", 0),
			mqtttest.Sub("$share/g/a/+", 0))
		if err != nil || ack.ReasonCodes[0] != 0x8F || ack.ReasonCodes[1] != 0x8F || ack.ReasonCodes[3] != 0 {
			t.Fatalf("SUBACK %v, %v: want 8f 8f .. 00", ack, err)
		}
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("a/b", []byte("x"), 0, false)
		c.ExpectMessage("a/b", []byte("x"))
	})
	v5Case(t, "MQTT-4.8.2-3", func(t *testing.T, ts *testServer) {
		low, _ := v5Open(t, ts, "low")
		low.MustSubscribe(mqtttest.Sub("$share/g/t", 0))
		high, _ := v5Open(t, ts, "high")
		high.MustSubscribe(mqtttest.Sub("$share/g/t", 2))
		pub, _ := v5Open(t, ts, "pub")
		const n = 10
		for i := range n {
			pub.MustPublish("t", []byte{byte(i)}, 2, false)
		}
		got := 0
		for _, m := range []struct {
			c   *mqtttest.Conn
			max byte
		}{{low, 0}, {high, 2}} {
			for {
				pk, err := m.c.Next(300 * time.Millisecond)
				if err != nil {
					break
				}
				if pk.FixedHeader.Qos > m.max {
					t.Fatalf("member granted QoS %d got %s", m.max, mqtttest.Describe(pk))
				}
				m.c.MustAcknowledge(pk)
				got++
			}
		}
		if got != n {
			t.Fatalf("the group got %d messages, want %d", got, n)
		}
	})
	v5Case(t, "MQTT-4.8.2-4", func(t *testing.T, ts *testServer) {
		a, _ := v5Open(t, ts, "a", v5Persistent)
		a.MustSubscribe(mqtttest.Sub("$share/g/t", 2))
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("t", []byte("x"), 2, false)
		first := a.ExpectPublish() // a is the only member: it gets the message
		b, _ := v5Open(t, ts, "b")
		b.MustSubscribe(mqtttest.Sub("$share/g/t", 2))
		v5Offline(t, ts, a)
		b.ExpectNothing(v5Quiet) // not handed to the other member
		a, _ = v5Open(t, ts, "a", v5Persistent)
		a.MustAcknowledge(expectResent(t, a, "x", first.PacketID))
		b.ExpectNothing(v5Quiet)
	})
	v5Case(t, "MQTT-4.8.2-5", func(t *testing.T, ts *testServer) {
		a, _ := v5Open(t, ts, "a", v5Expiry(1), v5Resume)
		a.MustSubscribe(mqtttest.Sub("$share/g/t", 2))
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("t", []byte("x"), 2, false)
		a.ExpectPublish()
		b, _ := v5Open(t, ts, "b")
		b.MustSubscribe(mqtttest.Sub("$share/g/t", 2))
		v5Offline(t, ts, a)
		v5Gone(t, ts, "a", 3*time.Second)
		b.ExpectNothing(v5Quiet)
	})
	v5Case(t, "MQTT-4.8.2-6", func(t *testing.T, ts *testServer) {
		a, _ := v5Open(t, ts, "a")
		a.MustSubscribe(mqtttest.Sub("$share/g/t", 1))
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("t", []byte("x"), 1, false)
		got := a.ExpectPublish()
		b, _ := v5Open(t, ts, "b")
		b.MustSubscribe(mqtttest.Sub("$share/g/t", 1))
		a.MustSend(mqtttest.AckPacket(packets.Puback, got.PacketID, 0x80))
		b.ExpectNothing(v5Quiet)
		a.ExpectNothing(v5Quiet)
	})
}

func TestV5FlowControl(t *testing.T) {
	v5Case(t, "MQTT-4.9.0-1", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c", func(o *mqtttest.ConnectOptions) { o.Properties.ReceiveMaximum = 3 })
		c.MustSubscribe(mqtttest.Sub("t", 1))
		pub, _ := v5Open(t, ts, "pub")
		for range 5 {
			pub.MustPublish("t", []byte("x"), 1, false)
		}
		for range 3 {
			c.ExpectPublish()
		}
		c.ExpectNothing(v5Quiet)
	})
	v5Case(t, "MQTT-4.9.0-2", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c", func(o *mqtttest.ConnectOptions) { o.Properties.ReceiveMaximum = 1 })
		c.MustSubscribe(mqtttest.Sub("t", 2))
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("t", []byte("1"), 2, false)
		pub.MustPublish("t", []byte("2"), 2, false)
		p := c.ExpectPublish()
		c.MustSend(mqtttest.AckPacket(packets.Pubrec, p.PacketID, 0))
		c.Expect(packets.Pubrel)
		c.ExpectNothing(v5Quiet) // quota comes back with PUBCOMP, not PUBREC
		c.MustSend(mqtttest.AckPacket(packets.Pubcomp, p.PacketID, 0))
		if next := c.ExpectPublish(); string(next.Payload) != "2" {
			t.Fatalf("got %s", mqtttest.Describe(next))
		}
	})
	v5Case(t, "MQTT-4.9.0-3", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c", func(o *mqtttest.ConnectOptions) { o.Properties.ReceiveMaximum = 1 })
		c.MustSubscribe(mqtttest.Sub("t", 1), mqtttest.Sub("z", 0))
		pub, _ := v5Open(t, ts, "pub")
		pub.MustPublish("t", []byte("1"), 1, false)
		pub.MustPublish("t", []byte("2"), 1, false)
		c.ExpectPublish()
		if err := c.Ping(); err != nil {
			t.Fatal(err)
		}
		c.MustSubscribe(mqtttest.Sub("y", 1))
		pub.MustPublish("z", []byte("q0"), 0, false)
		c.ExpectMessage("z", []byte("q0"))
		c.MustPublish("elsewhere", []byte("x"), 2, false)
	})
}

func TestV5EnhancedAuth(t *testing.T) {
	v5Case(t, "MQTT-4.12.0-1", func(t *testing.T, ts *testServer) {
		c := v5Dial(t, ts)
		c.MustSend(mqtttest.ConnectPacket(mqtttest.ConnectOptions{ClientID: "c", Clean: true,
			Properties: packets.Properties{AuthenticationMethod: "SCRAM-SHA-256"}}, mqtttest.V5))
		pks := c.ExpectClosed(v5Close)
		if len(pks) > 1 || len(pks) == 1 && (pks[0].FixedHeader.Type != packets.Connack || pks[0].ReasonCode != 0x8C && pks[0].ReasonCode != 0x87) {
			t.Fatalf("got %s, want at most CONNACK 0x8C or 0x87", v5Describe(pks))
		}
	})
	v5Case(t, "MQTT-4.12.0-4", func(t *testing.T, ts *testServer) {
		c := v5Dial(t, ts)
		c.MustSend(mqtttest.ConnectPacket(mqtttest.ConnectOptions{ClientID: "c", Clean: true, Username: []byte("nobody"), Password: []byte("x")}, mqtttest.V5))
		v5ExpectClosed(t, c, packets.Connack, 0x86, false)
	})
	v5Case(t, "MQTT-4.12.0-6", func(t *testing.T, ts *testServer) {
		c, ack := v5Open(t, ts, "c")
		if ack.Properties.AuthenticationMethod != "" || len(ack.Properties.AuthenticationData) > 0 {
			t.Fatalf("CONNACK carries an authentication method: %+v", ack.Properties)
		}
		c.MustSubscribe(mqtttest.Sub("t", 1))
		c.MustPublish("t", []byte("x"), 1, false)
		c.ExpectMessage("t", []byte("x"))
		c.ExpectNothing(v5Quiet) // and no AUTH
	})
	v5Case(t, "MQTT-4.12.1-2", func(t *testing.T, ts *testServer) {
		c, _ := v5Open(t, ts, "c")
		c.MustSend(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Auth}, ReasonCode: 0x19,
			Properties: packets.Properties{AuthenticationMethod: "SCRAM-SHA-256"}})
		pks := c.ExpectClosed(v5Close)
		if len(pks) != 1 || pks[0].FixedHeader.Type != packets.Disconnect || pks[0].ReasonCode < 0x80 {
			t.Fatalf("failed re-authentication answered with %s, want DISCONNECT with an error", v5Describe(pks))
		}
	})
}

func TestV5Errors(t *testing.T) {
	v5Case(t, "MQTT-4.13.1-1", func(t *testing.T, ts *testServer) {
		for _, tc := range []struct {
			raw []byte
			rc  byte
		}{
			{v5RawPublish("t", []byte{0x7F, 0}, "x"), 0x81},               // unknown property
			{v5RawPublish("t", []byte{0x01, 1, 0x01, 1}, "x"), 0x82},      // Payload Format Indicator twice
			{[]byte{0xF0, 0x02, 0x19, 0x00}, 0x82},                        // AUTH without a method agreed
			{v5Frame(0x82, append([]byte{0, 1, 0}, v5Str("t")...)), 0x81}, // no options byte
		} {
			c, _ := v5Open(t, ts, "c")
			c.SendRaw(tc.raw)
			v5ExpectDisconnect(t, c, tc.rc)
		}
	})
	v5Case(t, "MQTT-4.13.2-1", func(t *testing.T, ts *testServer) {
		watch := v5Watch(t, ts, "watch", "#")
		// A refusing CONNACK, with more packets queued behind the CONNECT:
		// closed, and the rest is never processed.
		raw := v5ConnectBytes(t, mqtttest.ConnectOptions{ClientID: "c", Clean: true, Username: []byte("nobody"), Password: []byte("x")})
		raw = append(raw, v5RawPublish("after/connack", nil, "x")...)
		c := v5Dial(t, ts)
		c.SendRaw(raw)
		v5ExpectClosed(t, c, packets.Connack, 0x86, false)
		// A DISCONNECT with an error, likewise.
		c, _ = v5Open(t, ts, "d")
		c.SendRaw(append([]byte{0xC1, 0x00}, v5RawPublish("after/disconnect", nil, "x")...))
		v5ExpectDisconnect(t, c, 0x81)
		watch.ExpectNothing(v5Quiet)
	})
}

// v5WebSocket dials the endpoint's WebSocket with subprotocol mqtt.
func v5WebSocket(t *testing.T, ts *testServer) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), mqtttest.DefaultTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+ts.addr+"/mqtt", &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	return ws
}

// v5WSRead reads one message from ws.
func v5WSRead(t *testing.T, ws *websocket.Conn) (websocket.MessageType, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), mqtttest.DefaultTimeout)
	defer cancel()
	return ws.Read(ctx)
}

func TestV5WebSocket(t *testing.T) {
	v5Case(t, "MQTT-6.0.0-1", func(t *testing.T, ts *testServer) {
		ws := v5WebSocket(t, ts)
		ctx := context.Background()
		if err := ws.Write(ctx, websocket.MessageText, v5ConnectBytes(t, mqtttest.ConnectOptions{ClientID: "c", Clean: true})); err != nil {
			t.Fatal(err)
		}
		if typ, b, err := v5WSRead(t, ws); err == nil {
			t.Fatalf("a text frame was answered with %v % x, want the connection closed", typ, b)
		}
		// A binary frame works.
		ws = v5WebSocket(t, ts)
		ws.Write(ctx, websocket.MessageBinary, v5ConnectBytes(t, mqtttest.ConnectOptions{ClientID: "c", Clean: true}))
		if typ, b, err := v5WSRead(t, ws); err != nil || typ != websocket.MessageBinary || len(b) == 0 || b[0] != 0x20 {
			t.Fatalf("got %v % x %v, want a binary CONNACK", typ, b, err)
		}
	})
	v5Case(t, "MQTT-6.0.0-2", func(t *testing.T, ts *testServer) {
		ws := v5WebSocket(t, ts)
		ctx := context.Background()
		conn := v5ConnectBytes(t, mqtttest.ConnectOptions{ClientID: "c", Clean: true})
		ping := []byte{0xC0, 0x00}
		// CONNECT split over two frames, the second also holding two PINGREQs.
		ws.Write(ctx, websocket.MessageBinary, conn[:5])
		ws.Write(ctx, websocket.MessageBinary, append(append(append([]byte{}, conn[5:]...), ping...), ping...))
		var got []byte
		for !bytes.HasSuffix(got, []byte{0xD0, 0, 0xD0, 0}) && len(got) < 64 {
			typ, b, err := v5WSRead(t, ws)
			if err != nil || typ != websocket.MessageBinary {
				t.Fatalf("after %d bytes: %v %v", len(got), typ, err)
			}
			got = append(got, b...)
		}
		if got[0] != 0x20 || !bytes.HasSuffix(got, []byte{0xD0, 0, 0xD0, 0}) {
			t.Fatalf("got % x, want CONNACK and two PINGRESPs", got)
		}
	})
	v5Case(t, "MQTT-6.0.0-4", func(t *testing.T, ts *testServer) {
		ws := v5WebSocket(t, ts)
		if ws.Subprotocol() != "mqtt" {
			t.Fatalf("subprotocol %q, want mqtt", ws.Subprotocol())
		}
	})
}
