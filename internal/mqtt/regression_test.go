package mqtt

// Regression tests for defects a code review found (each failed before its
// fix): deliveries lost to a closing connection, shared-subscription QoS
// above the granted one, QoS 2 handed to a second member, a failed QoS 2
// commit poisoning its packet identifier, an outbound topic alias recorded
// for a PUBLISH never sent, the session expiry cap bypassed at DISCONNECT,
// retained messages queued behind newer ones, silent connections never
// timed out, and wills published by a graceful shutdown.

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// R1: a shared-subscription member granted QoS 0 receives QoS 1 PUBLISHes.
func TestRegressionSharedQoSAboveGranted(t *testing.T) {
	ts := startServer(t)
	a, _ := v5Open(t, ts, "ra")
	a.MustSubscribe(mqtttest.Sub("$share/g/r1", 0))
	b, _ := v5Open(t, ts, "rb")
	b.MustSubscribe(mqtttest.Sub("$share/g/r1", 1))
	p, _ := v5Open(t, ts, "rp")
	for i := 0; i < 4; i++ {
		p.MustPublish("r1", []byte{byte(i)}, 1, false)
	}
	for i := 0; i < 2; i++ {
		pk, err := a.Next(2 * time.Second)
		if err != nil {
			t.Fatalf("a: %v", err)
		}
		if pk.FixedHeader.Type == packets.Publish && pk.FixedHeader.Qos > 0 {
			t.Errorf("member granted QoS 0 got PUBLISH with QoS %d (pid %d)", pk.FixedHeader.Qos, pk.PacketID)
		}
	}
}

// R2: a QoS 2 message whose PUBREC arrived from member A is given to member B
// when A disconnects (persistent session, not ended).
func TestRegressionSharedQoS2Duplicate(t *testing.T) {
	ts := startServer(t)
	// B joins first, then goes offline (persistent), so A gets the message.
	b, _ := v5Open(t, ts, "rb2", v5Persistent)
	b.MustSubscribe(mqtttest.Sub("$share/g/r2", 2))
	b.Disconnect(0)
	b.WaitClosed(2 * time.Second)
	a, _ := v5Open(t, ts, "ra2", v5Persistent)
	a.MustSubscribe(mqtttest.Sub("$share/g/r2", 2))
	p, _ := v5Open(t, ts, "rp2")
	p.MustPublish("r2", []byte("once"), 2, false)
	pub := a.ExpectPublish()
	a.MustSend(mqtttest.AckPacket(packets.Pubrec, pub.PacketID, 0))
	if _, err := a.AwaitAck(packets.Pubrel, pub.PacketID, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	// B comes back, then A's network connection breaks before PUBCOMP.
	b2, _ := v5Open(t, ts, "rb2", v5Persistent)
	a.NetConn().Close()
	pk, err := b2.Next(2 * time.Second)
	if err == nil && pk.FixedHeader.Type == packets.Publish {
		t.Errorf("QoS 2 message already PUBREC'd by A delivered again to B: %s dup=%v", pk.Payload, pk.FixedHeader.Dup)
	}
}

// R3: a TCP (or TLS, or WebSocket) connection that never sends a byte is
// closed after the connect timeout.
func TestRegressionIdleConnNoTimeout(t *testing.T) {
	ts := startServer(t, func(ts *testServer) { ts.opts.Limits.ConnectTimeout = 500 * time.Millisecond })
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var buf [1]byte
	_, err = nc.Read(buf[:])
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Errorf("silent connection still open after 5s (connect timeout 500ms)")
	}
}

// R4: retained message delivered after a newer message from the same
// publisher when a publish lands while the SUBSCRIBE commit is pending.
func TestRegressionRetainedAfterNewer(t *testing.T) {
	var mu sync.Mutex
	var gate chan struct{}
	ts := startServer(t, func(ts *testServer) {
		ts.storeOpts.BeforeSync = func() error {
			mu.Lock()
			g := gate
			gate = nil
			mu.Unlock()
			if g != nil {
				<-g
			}
			return nil
		}
	})
	p, _ := v5Open(t, ts, "rp4")
	p.MustPublish("r4", []byte("old"), 0, true)
	time.Sleep(200 * time.Millisecond) // retained commit done
	s, _ := v5Open(t, ts, "rs4", v5Persistent)
	g := make(chan struct{})
	mu.Lock()
	gate = g
	mu.Unlock()
	s.MustSend(s.SubscribePacket(mqtttest.Sub("r4", 0)))
	time.Sleep(200 * time.Millisecond)
	p.MustPublish("r4", []byte("new"), 0, false)
	time.Sleep(200 * time.Millisecond)
	close(g)
	var got []string
	for i := 0; i < 3; i++ {
		pk, err := s.Next(time.Second)
		if err != nil {
			break
		}
		if pk.FixedHeader.Type == packets.Publish {
			got = append(got, string(pk.Payload))
		}
	}
	t.Logf("subscriber received %v", got)
	if len(got) == 2 && got[0] == "new" && got[1] == "old" {
		t.Errorf("stale retained 'old' delivered after 'new' from the same publisher")
	}
}

// R5: an outbound topic alias is recorded although the PUBLISH that would
// have established it was never sent (too large for the client).
func TestRegressionAliasRecordedForDroppedPublish(t *testing.T) {
	ts := startServer(t)
	s, _ := v5Open(t, ts, "rs5", func(o *mqtttest.ConnectOptions) {
		o.Properties.TopicAliasMaximum = 10
		o.Properties.MaximumPacketSize = 200
	})
	s.MustSubscribe(mqtttest.Sub("r5", 0))
	p, _ := v5Open(t, ts, "rp5")
	p.MustPublish("r5", make([]byte, 500), 0, false) // too large for s: dropped
	p.MustPublish("r5", []byte("small"), 0, false)
	pk := s.ExpectPublish()
	t.Logf("got topic=%q alias=%d payload=%q", pk.TopicName, pk.Properties.TopicAlias, pk.Payload)
	if pk.TopicName == "" {
		t.Errorf("first PUBLISH the client sees uses alias %d with an empty topic: an alias it was never told", pk.Properties.TopicAlias)
	}
}

type capPolicy struct{ ConfigPolicy }
type capClient struct{ configClient }

func (capClient) MaxSessionExpiry() uint32 { return 60 }
func (p capPolicy) Connect(cfg *config.Config, info ConnInfo) (Client, byte) {
	return capClient{configClient{endpoint: info.Endpoint}}, 0
}

// R6: the policy's session expiry cap is bypassed by DISCONNECT's Session
// Expiry Interval.
func TestRegressionDisconnectExpiryBypassesCap(t *testing.T) {
	ts := startServer(t, func(ts *testServer) { ts.opts.Policy = capPolicy{} })
	c, ack := v5Open(t, ts, "rs6", v5Expiry(60))
	_ = ack
	c.MustSend(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect},
		Properties: packets.Properties{SessionExpiryInterval: 0xFFFFFFFF, SessionExpiryIntervalFlag: true}})
	c.WaitClosed(2 * time.Second)
	time.Sleep(100 * time.Millisecond)
	ts.e.mu.Lock()
	s := ts.e.mu.sessions["rs6"]
	var exp uint32
	if s != nil {
		exp = s.expiry
	}
	ts.e.mu.Unlock()
	if exp > 60 {
		t.Errorf("session expiry after DISCONNECT = %#x, above the policy cap 60 (never expires)", exp)
	}
}

// R7: after a transient commit failure answered with PUBREC 0x80, the packet
// identifier stays in inQoS2; the client's next QoS 2 message with that
// identifier ([MQTT-4.3.3-9]: a new message) is acknowledged and dropped.
func TestRegressionQoS2FailedCommitPoisonsPID(t *testing.T) {
	var arm func()
	ts := startServer(t, func(ts *testServer) { arm = failNextCommit(ts) })
	s, _ := v5Open(t, ts, "rs7", v5Persistent)
	s.MustSubscribe(mqtttest.Sub("r7", 2))
	p, _ := v5Open(t, ts, "rp7")
	arm()
	pk := p.PublishPacket("r7", []byte("first"), 2, false)
	pk.PacketID = 77
	rec, err := p.PublishWith(pk)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first PUBREC reason %#x", rec.ReasonCode)
	pk2 := p.PublishPacket("r7", []byte("second"), 2, false)
	pk2.PacketID = 77
	ack, err := p.PublishWith(pk2)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second ack type %d reason %#x", ack.FixedHeader.Type, ack.ReasonCode)
	got, err := s.Next(time.Second)
	if err != nil || got.FixedHeader.Type != packets.Publish {
		t.Errorf("second QoS 2 message (acknowledged with reason %#x) never delivered: %v", ack.ReasonCode, err)
	}
}

func rawSend(t *testing.T, nc net.Conn, pk *packets.Packet) {
	t.Helper()
	b, err := mqtttest.Encode(pk, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
}

// R8: QoS 1 messages for a persistent session whose connection is closing
// (DISCONNECT received, writer still flushing) are deleted as "too large".
func TestRegressionClosingConnDropsQoS1(t *testing.T) {
	ts := startServer(t, func(ts *testServer) { ts.opts.Limits.MaxPendingBytes = 256 << 20 })
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.(*net.TCPConn).SetReadBuffer(64 << 10)
	o := mqtttest.ConnectOptions{ClientID: "rs8"}
	v5Persistent(&o)
	rawSend(t, nc, mqtttest.ConnectPacket(o, 5))
	rawSend(t, nc, &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: "r8/one", Qos: 1}, {Filter: "r8/zero", Qos: 0}}})
	time.Sleep(300 * time.Millisecond)
	nc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	hb := make([]byte, 64)
	hn, herr := nc.Read(hb)
	t.Logf("after subscribe: % x %v", hb[:hn], herr)
	p, _ := v5Open(t, ts, "rp8")
	for i := 0; i < 80; i++ { // QoS 0 flood: the writer blocks on the non-reading client
		p.MustPublish("r8/zero", make([]byte, 512<<10), 0, false)
	}
	time.Sleep(500 * time.Millisecond)
	rawSend(t, nc, &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
	time.Sleep(300 * time.Millisecond)
	for i := 0; i < 5; i++ {
		p.MustPublish("r8/one", []byte{byte('0' + i)}, 1, false) // PUBACKed: durable
	}
	ts.e.mu.Lock()
	if ss := ts.e.mu.sessions["rs8"]; ss != nil && ss.subs["r8/one"] != nil {
		b := ss.subs["r8/one"].buf
		t.Logf("r8/one buffer: enqueued=%d dropped=%d live=%d inflight=%d", b.enqueued, b.dropped, b.live, b.inflight)
	}
	ts.e.mu.Unlock()
	time.Sleep(6 * time.Second) // ServeConn gives up on the writer after 5 s and detaches
	nc.Close()
	time.Sleep(200 * time.Millisecond)
	s, ack := v5Open(t, ts, "rs8", v5Persistent)
	t.Logf("session present %v", ack.SessionPresent)
	n := 0
	for {
		pk, err := s.Next(time.Second)
		if err != nil {
			break
		}
		if pk.FixedHeader.Type == packets.Publish && pk.TopicName == "r8/one" {
			n++
			s.MustAcknowledge(pk)
		}
	}
	if n != 5 {
		t.Errorf("persistent session got %d of 5 acknowledged QoS 1 messages after reconnect", n)
	}
}

// R9: Engine.Close publishes the wills of connected clients (persistent
// sessions included), contrary to its doc comment.
func TestRegressionCloseWills(t *testing.T) {
	ts := startServer(t)
	c := mqtttest.Dial(t, ts.addr, mqtttest.V311)
	c.MustConnect(mqtttest.ConnectOptions{ClientID: "rw9", Will: &mqtttest.Will{Topic: "r9/status", Payload: []byte("offline"), QoS: 1, Retain: true}})
	ts.restart()
	ts.e.mu.Lock()
	m := ts.e.mu.retained.get("r9/status")
	ts.e.mu.Unlock()
	if m != nil {
		t.Errorf("graceful Close published the will of persistent session rw9 (retained %q survives restart)", m.payload)
	}
}
