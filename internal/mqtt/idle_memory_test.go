package mqtt

import (
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// An idle connection costs the server one small read buffer: the
// listener's peek at the first byte (WebSocket or MQTT) keeps no buffer of
// its own for the life of the connection, and the connection's read buffer
// is readBufferSize. The bound on heap per connection is that buffer plus
// the connection, session and socket state (measured at ~4 KiB), with
// slack; the former 4 KiB peek buffer or an 8 KiB read buffer exceeds it.
// Goroutine stacks are logged, not bounded (the race detector doubles
// them); their number is: an idle connection keeps its reader goroutine
// only, its writer stops once the CONNACK is written.
func TestIdleConnectionMemory(t *testing.T) {
	const conns = 200
	const bound = 9 << 10
	ts := startServer(t)
	connect, err := mqtttest.Encode(mqtttest.ConnectPacket(mqtttest.ConnectOptions{Clean: true}, mqtttest.V311), mqtttest.V311)
	if err != nil {
		t.Fatal(err)
	}
	usage := func() (heap, stack uint64) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse, ms.StackInuse
	}
	heap0, stack0 := usage()
	goroutines0 := runtime.NumGoroutine()
	var ncs []net.Conn
	defer func() {
		for _, nc := range ncs {
			nc.Close()
		}
	}()
	for range conns {
		nc, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		ncs = append(ncs, nc)
		nc.SetDeadline(time.Now().Add(waitLong))
		if _, err := nc.Write(connect); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(nc, make([]byte, 4)); err != nil { // CONNACK
			t.Fatal(err)
		}
	}
	waitFor(t, "the writers of idle connections to stop", func() bool {
		return runtime.NumGoroutine()-goroutines0 <= conns+conns/10
	})
	heap1, stack1 := usage()
	// The baseline is taken again after the connections are gone, so that
	// garbage freed meanwhile (earlier tests' servers in this process) does
	// not count against, or for, the connections.
	for _, nc := range ncs {
		nc.Close()
	}
	ncs = nil
	deadline := time.Now().Add(waitLong)
	for ts.e.Counters().ConnectionsActive > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	heap2, stack2 := usage()
	base, baseStack := min(heap0, heap2), min(stack0, stack2)
	if heap1 < base {
		t.Skipf("heap shrank while connections were open (%d -> %d): no measurement", base, heap1)
	}
	heap, stack := (heap1-base)/conns, (max(stack1, baseStack)-baseStack)/conns
	t.Logf("per idle connection: %d bytes of heap, %d of goroutine stacks (client side included)", heap, stack)
	if heap > bound {
		t.Fatalf("an idle connection costs %d bytes of heap, want at most %d", heap, bound)
	}
}
