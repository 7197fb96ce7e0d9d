package mqtt

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

func withQueue(name string, max int, concurrent, allowSend bool) func(*testServer) {
	return func(ts *testServer) {
		ts.cfg.Queues[name] = &config.Queue{Name: name, AllowSend: allowSend, ConcurrentConsumers: concurrent, MaxMessages: max}
	}
}

// consume reads QoS 1 messages until n distinct payloads were seen in
// total across consumers (seen is shared), acknowledging each; it stops
// after a quiet period or when stop is closed.
func consume(t *testing.T, c *mqtttest.Conn, seen *sync.Map, dups *int64, mu *sync.Mutex, quiet time.Duration) int {
	got := 0
	for {
		pk, err := c.AwaitType(packets.Publish, quiet)
		if err != nil {
			return got
		}
		if _, loaded := seen.LoadOrStore(string(pk.Payload), true); loaded {
			mu.Lock()
			*dups++
			mu.Unlock()
		}
		got++
		if err := c.Acknowledge(pk); err != nil {
			return got
		}
	}
}

// Three consumers share one queue: every message is consumed exactly once.
func TestQueueDeliversEachMessageToOneConsumer(t *testing.T) {
	const n = 3000
	ts := startServer(t, withQueue("Q1", n*2, true, true))
	var consumers []*mqtttest.Conn
	for i := range 3 {
		c := mqtttest.Dial(t, ts.addr, 5)
		c.MustConnect(mqtttest.ConnectOptions{ClientID: fmt.Sprint("consumer", i), Clean: true})
		c.MustSubscribe(mqtttest.Sub("$queue/Q1", 1))
		consumers = append(consumers, c)
	}
	pub := mqtttest.Dial(t, ts.addr, 4)
	pub.MustConnect(mqtttest.ConnectOptions{ClientID: "sender", Clean: true})
	for i := range n {
		pub.MustPublish("$queue/Q1", fmt.Appendf(nil, "%05d", i), 1, false)
	}
	var seen sync.Map
	var dups int64
	var mu sync.Mutex
	counts := make([]int, 3)
	var wg sync.WaitGroup
	for i, c := range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			counts[i] = consume(t, c, &seen, &dups, &mu, time.Second)
		}()
	}
	wg.Wait()
	total := 0
	seen.Range(func(any, any) bool { total++; return true })
	if total != n || dups != 0 {
		t.Fatalf("consumed %d distinct of %d with %d duplicates (per consumer %v)", total, n, dups, counts)
	}
	for i, c := range counts {
		if c == 0 {
			t.Errorf("consumer %d got nothing: deliveries are not shared (%v)", i, counts)
		}
	}
	if d := ts.e.QueueDepth("Q1"); d != 0 {
		t.Fatalf("queue depth %d after every message was acknowledged", d)
	}
}

// A consumer that disconnects without acknowledging gives its messages back
// to the queue, in order and with DUP set, and they survive a restart.
func TestQueueReturnsUnacknowledgedAndSurvivesRestart(t *testing.T) {
	ts := startServer(t, withQueue("Q2", 1000, true, true))
	pub := mqtttest.Dial(t, ts.addr, 5)
	pub.MustConnect(mqtttest.ConnectOptions{ClientID: "sender", Clean: true})
	for i := range 20 {
		pub.MustPublish("$queue/Q2", fmt.Appendf(nil, "%02d", i), 1, false)
	}
	// QoS 0 sends are kept on the queue too.
	pub.MustPublish("$queue/Q2", []byte("20"), 0, false)

	greedy := mqtttest.Dial(t, ts.addr, 5)
	o := mqtttest.ConnectOptions{ClientID: "greedy", Clean: true}
	o.Properties.ReceiveMaximum = 5
	greedy.MustConnect(o)
	greedy.MustSubscribe(mqtttest.Sub("$queue/Q2", 1))
	for range 5 {
		greedy.Expect(packets.Publish) // received, never acknowledged
	}
	greedy.Close()

	ts.restart()
	if d := ts.e.QueueDepth("Q2"); d != 21 {
		t.Fatalf("queue depth after restart: %d, want 21", d)
	}
	c := mqtttest.Dial(t, ts.addr, 5)
	c.MustConnect(mqtttest.ConnectOptions{ClientID: "careful", Clean: true})
	c.MustSubscribe(mqtttest.Sub("$queue/Q2", 1))
	for i := range 21 {
		pk := c.Expect(packets.Publish)
		if want := fmt.Sprintf("%02d", i); string(pk.Payload) != want {
			t.Fatalf("message %d: got %q", i, pk.Payload)
		}
		if pk.FixedHeader.Dup != (i < 5) {
			t.Fatalf("message %d: DUP=%v; want DUP only on the five sent before", i, pk.FixedHeader.Dup)
		}
		c.MustAcknowledge(pk)
	}
	c.ExpectNothing(100 * time.Millisecond)
}

func TestQueueRefusals(t *testing.T) {
	ts := startServer(t, withQueue("Full", 2, false, true), withQueue("Closed", 10, true, false))
	pub := mqtttest.Dial(t, ts.addr, 5)
	pub.MustConnect(mqtttest.ConnectOptions{ClientID: "sender", Clean: true})
	for i, want := range []byte{0, 0, 0x97} {
		ack, err := pub.Publish("$queue/Full", fmt.Appendf(nil, "%d", i), 1, false)
		if err != nil || ack.ReasonCode != want {
			t.Fatalf("send %d to a queue of 2: %v %s, want reason 0x%02X", i, err, mqtttest.Describe(ack), want)
		}
	}
	if ack, _ := pub.Publish("$queue/Closed", []byte("x"), 1, false); ack == nil || ack.ReasonCode != 0x87 {
		t.Fatalf("send to AllowSend=false: %s, want 0x87", mqtttest.Describe(ack))
	}
	if ack, _ := pub.Publish("$queue/Nope", []byte("x"), 1, false); ack == nil || ack.ReasonCode != 0x90 {
		t.Fatalf("send to an unknown queue: %s, want 0x90", mqtttest.Describe(ack))
	}
	// ConcurrentConsumers=false: one consumer at a time.
	a := mqtttest.Dial(t, ts.addr, 5)
	a.MustConnect(mqtttest.ConnectOptions{ClientID: "a", Clean: true})
	if ack := a.MustSubscribe(mqtttest.Sub("$queue/Full", 1)); ack.ReasonCodes[0] != 1 {
		t.Fatalf("first consumer refused: %s", mqtttest.Describe(ack))
	}
	b := mqtttest.Dial(t, ts.addr, 4)
	b.MustConnect(mqtttest.ConnectOptions{ClientID: "b", Clean: true})
	if ack, err := b.Subscribe(mqtttest.Sub("$queue/Full", 1)); err != nil || ack.ReasonCodes[0] != 0x80 {
		t.Fatalf("second consumer of a single-consumer queue: %s, want 0x80", mqtttest.Describe(ack))
	}
	// v3.1.1 sender to a full queue is disconnected.
	old := mqtttest.Dial(t, ts.addr, 4)
	old.MustConnect(mqtttest.ConnectOptions{ClientID: "old", Clean: true})
	a.Close()
	old.MustSend(old.PublishPacket("$queue/Closed", []byte("x"), 1, false))
	if kind, _ := old.WaitClosed(waitLong); !kind.ClosedByBroker() {
		t.Fatalf("v3.1.1 send refused by the queue did not disconnect: %v", kind)
	}
}

// A persistent session's queue subscription is part of its state and
// survives a restart: the consumer comes back without subscribing again
// and gets what it left unacknowledged (DUP) and what arrived meanwhile.
func TestQueueConsumerOfPersistentSessionSurvivesRestart(t *testing.T) {
	for _, version := range []byte{4, 5} {
		t.Run(fmt.Sprint("v", version), func(t *testing.T) {
			ts := startServer(t, withQueue("Q4", 1000, true, true))
			o := mqtttest.ConnectOptions{ClientID: "qcons"}
			if version == 5 {
				o.Properties = packets.Properties{SessionExpiryInterval: 3600, SessionExpiryIntervalFlag: true}
			}
			c := mqtttest.Dial(t, ts.addr, version)
			c.MustConnect(o)
			c.MustSubscribe(mqtttest.Sub("$queue/Q4", 1))
			pub := mqtttest.Dial(t, ts.addr, 4)
			pub.MustConnect(mqtttest.ConnectOptions{ClientID: "qsender", Clean: true})
			pub.MustPublish("$queue/Q4", []byte("0"), 1, false)
			c.Expect(packets.Publish) // received, never acknowledged
			c.Close()
			ts.waitOffline("qcons")
			for i := 1; i < 4; i++ {
				pub.MustPublish("$queue/Q4", fmt.Append(nil, i), 1, false)
			}

			ts.restart()
			c = mqtttest.Dial(t, ts.addr, version)
			if ack := c.MustConnect(o); !ack.SessionPresent {
				t.Fatal("session lost")
			}
			for i := range 4 {
				pk, err := c.AwaitType(packets.Publish, waitLong)
				if err != nil {
					t.Fatalf("message %d not delivered to the consumer after the restart: %v", i, err)
				}
				if string(pk.Payload) != fmt.Sprint(i) || pk.FixedHeader.Dup != (i == 0) {
					t.Fatalf("message %d: %s; want payload %d, DUP only on the one sent before", i, mqtttest.Describe(pk), i)
				}
				c.MustAcknowledge(pk)
			}
			c.ExpectNothing(200 * time.Millisecond) // the acknowledgements are in
			if d := ts.e.QueueDepth("Q4"); d != 0 {
				t.Fatalf("queue depth %d after every message was acknowledged", d)
			}
		})
	}
}
