package mqtt

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// commitGate holds the store's commits while held: installed as the
// store's BeforeSync, it stands for a disk that does not finish a sync.
type commitGate struct {
	mu   sync.Mutex
	held chan struct{} // non-nil while held; closed by release
}

func (g *commitGate) beforeSync() error {
	g.mu.Lock()
	ch := g.held
	g.mu.Unlock()
	if ch != nil {
		<-ch
	}
	return nil
}

func (g *commitGate) hold() {
	g.mu.Lock()
	g.held = make(chan struct{})
	g.mu.Unlock()
}

func (g *commitGate) release() {
	g.mu.Lock()
	if g.held != nil {
		close(g.held)
		g.held = nil
	}
	g.mu.Unlock()
}

// withCommitGate makes the test server's store commits wait on g, and sets
// the per-connection and server-wide commit budgets (0: the default).
func withCommitGate(g *commitGate, perConn, total int) func(*testServer) {
	return func(ts *testServer) {
		ts.storeOpts.BeforeSync = g.beforeSync
		ts.opts.Limits.MaxUncommittedBytes = perConn
		ts.opts.Limits.MaxUncommittedBytesTotal = total
	}
}

// flood sends pks from a goroutine, whose writes block once the server
// stops reading; it gives up at the first error (the connection closed, or
// the client's write timeout).
func flood(c *mqtttest.Conn, pks []*packets.Packet) {
	go func() {
		for _, pk := range pks {
			if c.Send(pk) != nil {
				return
			}
		}
	}()
}

// publishes builds n PUBLISHes to topic of size bytes each.
func publishes(c *mqtttest.Conn, topic string, qos byte, retain bool, n, size int) []*packets.Packet {
	pks := make([]*packets.Packet, n)
	for i := range pks {
		payload := bytes.Repeat([]byte{byte('a' + i%26)}, size)
		pks[i] = c.PublishPacket(topic, payload, qos, retain)
	}
	return pks
}

// waitReadersPaused waits until want readers wait for their commits. It
// fails at once if the server has read every publish sent (MessagesIn
// reached all) first: with commits held, nothing held a reader back.
func waitReadersPaused(t *testing.T, ts *testServer, want int64, all uint64) {
	t.Helper()
	st := &ts.e.stats
	waitFor(t, fmt.Sprintf("%d reader(s) to wait for their commits", want), func() bool {
		if st.ReadersPaused.Load() >= want {
			return true
		}
		if st.MessagesIn.Load() >= all {
			t.Fatalf("MessagesIn reached %d, every publish sent, while no commit completed, %d bytes waiting for the store: no backpressure",
				all, st.UncommittedBytes.Load())
		}
		return false
	})
}

// connCount is how many connections the engine serves.
func (ts *testServer) connCount() int {
	s := &ts.e.conns
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// chargeBound is the most one publish of size payload bytes is charged:
// its batch (payload, topic, record and reference headers) and the
// fixed overhead.
func chargeBound(size int) int64 { return int64(size + uncommittedOverhead + 4<<10) }

// While its commits are held, a publisher's reader stops reading once its
// publishes waiting for the store reach MaxUncommittedBytes, whatever has
// to be stored: a retained QoS 0 message (the audit's flood, which kept
// one message and queued them all), or QoS 1/2 for a durable subscriber
// (3.1.1 has no Receive Maximum; v5's counts packets, not bytes). Once
// the commits complete, every publish is read and acknowledged in order.
func TestReaderWaitsForCommits(t *testing.T) {
	const (
		budget = 512 << 10
		size   = 64 << 10
		n      = 32 // 2 MiB, four budgets
	)
	cases := []struct {
		name    string
		version byte
		qos     byte
		retain  bool
	}{
		{"3.1.1 QoS 0 retained", mqtttest.V311, 0, true},
		{"3.1.1 QoS 1 durable", mqtttest.V311, 1, false},
		{"3.1.1 QoS 2 durable", mqtttest.V311, 2, false},
		{"5.0 QoS 0 retained", mqtttest.V5, 0, true},
		{"5.0 QoS 1 durable", mqtttest.V5, 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gate := &commitGate{}
			ts := startServer(t, withCommitGate(gate, budget, 0))
			t.Cleanup(gate.release)
			if !tc.retain { // an offline durable subscriber: each message is stored
				sub := mqtttest.Dial(t, ts.addr, tc.version)
				o := mqtttest.ConnectOptions{ClientID: "durable"}
				if tc.version == mqtttest.V5 {
					o = persistentV5("durable")
				}
				sub.MustConnect(o)
				sub.MustSubscribe(mqtttest.Sub("flood/#", 2))
				sub.Disconnect(0)
				ts.waitOffline("durable")
			}
			pub := mqtttest.Dial(t, ts.addr, tc.version)
			pub.MustConnect(mqtttest.ConnectOptions{ClientID: "flooder", Clean: true})
			pks := publishes(pub, "flood/one", tc.qos, tc.retain, n, size)

			gate.hold()
			st := &ts.e.stats
			base := st.MessagesIn.Load()
			flood(pub, pks)
			waitReadersPaused(t, ts, 1, base+n)
			read := st.MessagesIn.Load() - base
			waiting := st.UncommittedBytes.Load()
			if waiting > budget+chargeBound(size) {
				t.Errorf("%d bytes wait for the store, want at most the budget %d and one publish", waiting, budget)
			}
			if read > budget/size+1 {
				t.Errorf("the reader read %d publishes of %d bytes before waiting, want at most %d", read, size, budget/size+1)
			}
			t.Logf("paused after %d publishes, %d bytes waiting for the store", read, waiting)

			gate.release()
			if tc.qos > 0 {
				ack := byte(packets.Puback)
				if tc.qos == 2 {
					ack = packets.Pubrec
				}
				for _, pk := range pks { // in publish order ([MQTT-4.6.0-2])
					got, err := pub.AwaitType(ack, waitLong)
					if err != nil {
						t.Fatal(err)
					}
					if got.PacketID != pk.PacketID {
						t.Fatalf("got %s, want the acknowledgement of %d", mqtttest.Describe(got), pk.PacketID)
					}
				}
			}
			waitFor(t, "every publish to be read and committed", func() bool {
				return st.MessagesIn.Load() == base+n && st.UncommittedBytes.Load() == 0 && st.ReadersPaused.Load() == 0
			})
		})
	}
}

// One publish larger than the whole budget still passes (the reader checks
// before it reads); the next one waits for its commit.
func TestPublishLargerThanCommitBudget(t *testing.T) {
	const budget, size = 16 << 10, 128 << 10
	gate := &commitGate{}
	ts := startServer(t, withCommitGate(gate, budget, 0))
	t.Cleanup(gate.release)
	pub := mqtttest.Dial(t, ts.addr, mqtttest.V311)
	pub.MustConnect(mqtttest.ConnectOptions{ClientID: "big", Clean: true})
	pks := publishes(pub, "big/one", 1, true, 2, size)

	gate.hold()
	st := &ts.e.stats
	base := st.MessagesIn.Load()
	flood(pub, pks)
	waitReadersPaused(t, ts, 1, base+2)
	if read := st.MessagesIn.Load() - base; read != 1 {
		t.Errorf("read %d publishes before waiting, want 1", read)
	}
	gate.release()
	for _, pk := range pks {
		if _, err := pub.AwaitAck(packets.Puback, pk.PacketID, waitLong); err != nil {
			t.Fatal(err)
		}
	}
}

// A reader waiting for its commits holds nothing the rest of the server
// needs: other clients' keep-alive, subscriptions and publishes go on. It
// ends as soon as its connection closes (a takeover, Engine.Close), while
// the commits are still held.
func TestReaderWaitingForCommitsEndsWithConnection(t *testing.T) {
	for _, end := range []string{"takeover", "engine close"} {
		t.Run(end, func(t *testing.T) {
			gate := &commitGate{}
			ts := startServer(t, withCommitGate(gate, 256<<10, 0))
			t.Cleanup(gate.release)
			other := mqtttest.Dial(t, ts.addr, mqtttest.V5)
			other.MustConnect(mqtttest.ConnectOptions{ClientID: "other", Clean: true})
			other.MustSubscribe(mqtttest.Sub("other/#", 0))
			pub := mqtttest.Dial(t, ts.addr, mqtttest.V311)
			pub.MustConnect(mqtttest.ConnectOptions{ClientID: "flooder", Clean: true})
			pks := publishes(pub, "flood/one", 0, true, 32, 32<<10)

			gate.hold()
			base := ts.e.stats.MessagesIn.Load()
			flood(pub, pks)
			waitReadersPaused(t, ts, 1, base+uint64(len(pks)))

			if err := other.Ping(); err != nil { // PINGREQ, PINGRESP
				t.Fatal(err)
			}
			other.MustPublish("other/x", []byte("still here"), 0, false)
			other.ExpectMessage("other/x", []byte("still here"))

			switch end {
			case "takeover":
				again := mqtttest.Dial(t, ts.addr, mqtttest.V311)
				again.MustConnect(mqtttest.ConnectOptions{ClientID: "flooder", Clean: true})
				waitFor(t, "the taken-over reader to end", func() bool {
					return ts.e.stats.ReadersPaused.Load() == 0 && ts.connCount() == 2
				})
				if err := again.Ping(); err != nil {
					t.Fatal(err)
				}
			case "engine close":
				closed := make(chan struct{})
				go func() {
					ts.e.Close()
					close(closed)
				}()
				waitFor(t, "every connection to end", func() bool {
					return ts.e.stats.ReadersPaused.Load() == 0 && ts.connCount() == 0
				})
				gate.release() // Close waits for the commits queued
				select {
				case <-closed:
				case <-time.After(waitLong):
					t.Fatal("Engine.Close did not return after the commits completed")
				}
			}
		})
	}
}

// Above MaxUncommittedBytesTotal, a connection with a publish waiting for
// its commit reads nothing more until that commit completes, even below
// its own budget; one without may still read a publish. The server's total
// stays within the bound plus one publish per connection.
func TestServerWideCommitBound(t *testing.T) {
	const (
		total = 256 << 10
		size  = 32 << 10
		n     = 32 // 1 MiB per publisher, under the per-connection default
	)
	gate := &commitGate{}
	ts := startServer(t, withCommitGate(gate, 0, total))
	t.Cleanup(gate.release)
	var conns []*mqtttest.Conn
	var pks [][]*packets.Packet
	for i := range 2 {
		c := mqtttest.Dial(t, ts.addr, mqtttest.V311)
		c.MustConnect(mqtttest.ConnectOptions{ClientID: fmt.Sprintf("flooder-%d", i), Clean: true})
		conns = append(conns, c)
		pks = append(pks, publishes(c, fmt.Sprintf("flood/%d", i), 1, true, n, size))
	}

	gate.hold()
	st := &ts.e.stats
	base := st.MessagesIn.Load()
	flood(conns[0], pks[0])
	waitReadersPaused(t, ts, 1, base+n)
	flood(conns[1], pks[1])
	waitReadersPaused(t, ts, 2, base+n+1)
	if waiting := st.UncommittedBytes.Load(); waiting > total+2*chargeBound(size) {
		t.Errorf("%d bytes wait for the store, want at most %d and one publish per connection", waiting, total)
	}
	if read := st.MessagesIn.Load() - base; read > total/size+2 {
		t.Errorf("read %d publishes of %d bytes, want at most %d", read, size, total/size+2)
	}

	gate.release()
	for i, c := range conns {
		for _, pk := range pks[i] {
			if _, err := c.AwaitAck(packets.Puback, pk.PacketID, waitLong); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, "every commit to complete", func() bool {
		return st.UncommittedBytes.Load() == 0 && st.ReadersPaused.Load() == 0
	})
}
