package mqtt

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// withFreeSpace makes the store read its free space from free, with a
// reserve of 100 MiB.
func withFreeSpace(free *atomic.Uint64) func(*testServer) {
	return func(ts *testServer) {
		ts.storeOpts.MinFreeBytes = 100 << 20
		ts.storeOpts.FreeSpace = func() (uint64, bool) { return free.Load(), true }
	}
}

// publishUntil publishes numbered QoS 1 messages to topic until one is
// answered with reason (0 or 0x97), and returns how many were answered
// otherwise before it.
func publishUntil(t *testing.T, pub *mqtttest.Conn, topic string, reason byte) int {
	t.Helper()
	for i, deadline := 0, time.Now().Add(waitLong); time.Now().Before(deadline); i++ {
		ack, err := pub.Publish(topic, fmt.Appendf(nil, "%05d", i), 1, false)
		if err != nil {
			t.Fatal(err)
		}
		if ack.ReasonCode == reason {
			return i
		}
		if ack.ReasonCode != 0 && ack.ReasonCode != 0x97 {
			t.Fatalf("publish %d: reason 0x%02X", i, ack.ReasonCode)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no publish to %s answered 0x%02X", topic, reason)
	return 0
}

// TestLowDiskSpaceRefusesNewMessages: when the store's filesystem falls
// below the free-space reserve, a publish is refused with 0x97 (v5) or
// closes the connection (3.1.1), and a refused retained publish leaves the
// topic's retained message as it was; consumers still receive and
// acknowledge what is buffered; with space back, publishing resumes
// without a restart.
func TestLowDiskSpaceRefusesNewMessages(t *testing.T) {
	var free atomic.Uint64
	free.Store(1 << 30)
	ts := startServer(t, withFreeSpace(&free))
	fillOffline(t, ts, "slow")
	pub := mqtttest.Dial(t, ts.addr, 5)
	pub.MustConnect(mqtttest.ConnectOptions{ClientID: "pub5", Clean: true})
	if ack, err := pub.Publish("r/t", []byte("old"), 1, true); err != nil || ack.ReasonCode != 0x10 {
		t.Fatalf("retained publish: %v %v", mqtttest.Describe(ack), err)
	}

	free.Store(80 << 20)
	buffered := publishUntil(t, pub, "q/a", 0x97)
	if ack, err := pub.Publish("q/a", []byte("qos2"), 2, false); err != nil || ack.FixedHeader.Type != packets.Pubrec || ack.ReasonCode != 0x97 {
		t.Fatalf("QoS 2 on a low disk: %v, %v; want PUBREC 0x97", mqtttest.Describe(ack), err)
	}
	if ack, err := pub.Publish("r/t", []byte("new"), 1, true); err != nil || ack.ReasonCode != 0x97 {
		t.Fatalf("retained publish on a low disk: %v, %v; want 0x97", mqtttest.Describe(ack), err)
	}
	expectRetained := func(want string) {
		t.Helper()
		c := mqtttest.Dial(t, ts.addr, 5)
		c.MustConnect(mqtttest.ConnectOptions{ClientID: mqtttest.ClientID(t), Clean: true})
		c.MustSubscribe(mqtttest.Sub("r/t", 0))
		if pk := c.ExpectPublish(); string(pk.Payload) != want || !pk.FixedHeader.Retain {
			t.Fatalf("retained message of r/t: %q (retain %v), want %q", pk.Payload, pk.FixedHeader.Retain, want)
		}
		c.Disconnect(0)
	}
	expectRetained("old")

	v4 := mqtttest.Dial(t, ts.addr, 4)
	v4.MustConnect(mqtttest.ConnectOptions{ClientID: "pub4", Clean: true})
	v4.MustSend(v4.PublishPacket("q/a", []byte("v4"), 1, false))
	if kind, _ := v4.WaitClosed(waitLong); !kind.ClosedByBroker() {
		t.Fatalf("3.1.1 publisher not disconnected on a low disk: %v", kind)
	}

	// The consumer drains what was buffered before: its acknowledgements
	// are deletions, which a low disk still takes.
	sub := mqtttest.Dial(t, ts.addr, 5)
	o := persistentV5("slow")
	o.Properties.ReceiveMaximum = 10
	sub.MustConnect(o)
	receiveInWindows(t, sub, buffered, 10)
	sub.ExpectNothing(50 * time.Millisecond)

	free.Store(1 << 30)
	publishUntil(t, pub, "q/b", 0x00)
	if ack, err := pub.Publish("r/t", []byte("new"), 1, true); err != nil || ack.ReasonCode != 0x10 {
		t.Fatalf("retained publish with space back: %v, %v", mqtttest.Describe(ack), err)
	}
	ts.restart()
	expectRetained("new")
}

// TestLowDiskSpaceLeavesFullBufferAlone: a publish refused for disk space
// into a full DiscardOldMessages buffer costs the buffer nothing: it is
// refused before routing, so no old message is evicted in memory while
// its record stays on disk.
func TestLowDiskSpaceLeavesFullBufferAlone(t *testing.T) {
	var free atomic.Uint64
	free.Store(1 << 30)
	ts := startServer(t, withTopicLimit(20, "DiscardOldMessages"), withFreeSpace(&free))
	fillOffline(t, ts, "slow")
	pub := mqtttest.Dial(t, ts.addr, 5)
	pub.MustConnect(mqtttest.ConnectOptions{ClientID: "pub", Clean: true})
	for i := range 20 {
		pub.MustPublish("q/a", fmt.Appendf(nil, "%05d", i), 1, false)
	}
	free.Store(80 << 20)
	publishUntil(t, pub, "q/a", 0x97) // those before it were accepted, and evicted
	before := subStats(t, ts, "slow")
	for i := range 5 {
		if ack, err := pub.Publish("q/a", []byte("refused"), 1, false); err != nil || ack.ReasonCode != 0x97 {
			t.Fatalf("publish %d on a low disk: %v, %v; want 0x97", i, mqtttest.Describe(ack), err)
		}
	}
	if st := subStats(t, ts, "slow"); st.Buffered != before.Buffered || st.Dropped != before.Dropped {
		t.Fatalf("refused publishes changed the full buffer: %+v, before them %+v", st, before)
	}
}
