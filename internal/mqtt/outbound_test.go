package mqtt

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// waitFor polls cond until it holds or the wait times out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (o *outbound) writerRunning() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.mu.writing
}

func readN(t *testing.T, c net.Conn, n int) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLong))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The writer goroutine exists only while the connection is busy; appends
// after it stopped start a new one, and nothing is lost or reordered.
func TestOutboundWriterRunsOnlyWhileBusy(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	o := newOutbound(server, 1<<20, nil)
	o.idleAfter = time.Millisecond
	if o.writerRunning() {
		t.Fatal("a writer runs before anything was queued")
	}
	for _, msg := range []string{"first", "second", "third"} {
		if r := o.appendPacket([]byte(msg), false); r != appended {
			t.Fatalf("append %q: %v", msg, r)
		}
		if got := readN(t, client, len(msg)); got != msg {
			t.Fatalf("read %q, want %q", got, msg)
		}
		waitFor(t, "the writer to stop when idle", func() bool { return !o.writerRunning() })
	}
	// A busy writer (many writes) waits idleAfter before it stops.
	for i := range busyWrites + 2 {
		msg := string(rune('a' + i))
		o.appendPacket([]byte(msg), false)
		if got := readN(t, client, 1); got != msg {
			t.Fatalf("read %q, want %q", got, msg)
		}
	}
	waitFor(t, "a busy writer to stop after idleAfter", func() bool { return !o.writerRunning() })
	select {
	case <-o.done:
		t.Fatal("done closed while the connection is open")
	default:
	}

	// closeAfterFlush writes what is pending, then closes.
	o.appendPacket([]byte("last"), false)
	o.closeAfterFlush()
	if got := readN(t, client, 4); got != "last" {
		t.Fatalf("read %q, want last", got)
	}
	if _, err := client.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection still open after closeAfterFlush")
	}
	select {
	case <-o.done:
	case <-time.After(waitLong):
		t.Fatal("done not closed after the flush")
	}
	if r := o.appendPacket([]byte("late"), false); r != refusedClosed {
		t.Fatalf("append after close: %v, want refusedClosed", r)
	}
}

// Closing an idle queue (no writer) ends it at once, with or without a
// flush.
func TestOutboundCloseWhileIdle(t *testing.T) {
	for _, flush := range []bool{false, true} {
		server, client := net.Pipe()
		o := newOutbound(server, 1<<20, nil)
		if flush {
			o.closeAfterFlush()
		} else {
			o.closeNow()
		}
		select {
		case <-o.done:
		case <-time.After(waitLong):
			t.Fatalf("flush=%v: done not closed", flush)
		}
		if _, err := client.Read(make([]byte, 1)); err == nil {
			t.Fatalf("flush=%v: connection still open", flush)
		}
		o.closeNow() // idempotent
		client.Close()
	}
}

// closeAfter appends its last packet and closes in one step: a packet
// appended at the same time either goes before it or is refused, never
// after it ([MQTT-3.14.4-1]).
func TestOutboundCloseAfterIsLast(t *testing.T) {
	for round := 0; round < 50; round++ {
		server, client := net.Pipe()
		o := newOutbound(server, 1<<20, nil)
		start := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			<-start
			for i := 0; i < 100; i++ {
				if o.appendPacket([]byte("p"), false) == refusedClosed {
					return
				}
			}
		}()
		close(start)
		o.closeAfter([]byte("D"))
		<-done
		all, _ := io.ReadAll(client)
		if len(all) == 0 || all[len(all)-1] != 'D' || bytes.Count(all, []byte("D")) != 1 {
			t.Fatalf("round %d: wire %q, want the D last", round, all)
		}
		if r := o.appendPacket([]byte("late"), false); r != refusedClosed {
			t.Fatalf("append after closeAfter: %v", r)
		}
	}
}

// An optional (QoS 0) packet larger than the whole bound goes into an
// empty queue: refusing it there would refuse it for ever. A second one,
// behind it, is refused as usual.
func TestOutboundOversizedOptionalIntoEmptyQueue(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	o := newOutbound(server, 8, nil)
	defer o.closeNow()
	big := "0123456789abcdef" // twice the bound
	if r := o.appendPacket([]byte(big), true); r != appended {
		t.Fatalf("oversized optional packet into an empty queue: %v, want appended", r)
	}
	// The writer holds big (net.Pipe writes wait for the reader), so the
	// queue may be empty again; fill it past the bound with a required
	// packet, behind which an optional one does not fit.
	o.appendPacket([]byte("required-ack"), false)
	if r := o.appendPacket([]byte("x"), true); r != refusedFull {
		t.Fatalf("optional packet behind a full queue: %v, want refusedFull", r)
	}
	if got := readN(t, client, len(big)+len("required-ack")); got != big+"required-ack" {
		t.Fatalf("read %q", got)
	}
}

// A QoS 0 message larger than MaxPendingBytes reaches an idle subscriber
// (the endpoint's MaxMessageSize may well exceed the outbound bound).
func TestQoS0LargerThanPendingBoundDelivered(t *testing.T) {
	ts := startServer(t, func(ts *testServer) { ts.opts.Limits.MaxPendingBytes = 1 << 10 })
	for _, v := range []byte{4, 5} {
		sub := mqtttest.Dial(t, ts.addr, v)
		sub.MustConnect(mqtttest.ConnectOptions{ClientID: mqtttest.ClientID(t), Clean: true})
		sub.MustSubscribe(mqtttest.Sub("big/#", 0))
		pub := mqtttest.Dial(t, ts.addr, 5)
		pub.MustConnect(mqtttest.ConnectOptions{ClientID: mqtttest.ClientID(t) + "p", Clean: true})
		payload := bytes.Repeat([]byte{'b'}, 4<<10)
		pub.MustPublish("big/live", payload, 1, false)
		sub.ExpectMessage("big/live", payload)
		// Through the buffer too: a retained message sent on subscribing.
		pub.MustPublish("big/retained", payload, 1, true)
		sub.MustSubscribe(mqtttest.Sub("big/retained", 0))
		sub.ExpectMessage("big/retained", payload)
		pub.MustPublish("big/retained", nil, 1, true)
	}
}
