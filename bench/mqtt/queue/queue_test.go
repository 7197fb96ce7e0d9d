package queuebench

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/mqtt"
	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
	"github.com/mqsight/mqsight/internal/store"
	"github.com/mqsight/mqsight/internal/testport"
)

// startEngine runs an engine with queue "Work" on a loopback port.
func startEngine(b *testing.B) string {
	port := testport.Free(b)
	c := config.Default()
	ep := c.Endpoints["DemoEndpoint"]
	ep.Interface, ep.Port = "127.0.0.1", port
	c.Queues["Work"] = &config.Queue{Name: "Work", AllowSend: true, ConcurrentConsumers: true, MaxMessages: 1_000_000}
	dir := b.TempDir()
	st, err := store.Open(filepath.Join(dir, "store"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	e, err := mqtt.New(mqtt.Options{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Apply(c); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close(); st.Close() })
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// BenchmarkQueueOneSenderThreeConsumers sends b.N QoS 1 messages to one
// queue with 64 in flight and measures until all three consumers together
// have acknowledged all of them.
func BenchmarkQueueOneSenderThreeConsumers(b *testing.B) {
	const window = 64
	addr := startEngine(b)
	var consumed atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 3 {
		c := mqtttest.Dial(b, addr, 4)
		c.MustConnect(mqtttest.ConnectOptions{ClientID: fmt.Sprint("consumer", i), Clean: true})
		c.MustSubscribe(mqtttest.Sub("$queue/Work", 1))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				pk, err := c.Next(200 * time.Millisecond)
				if err != nil || pk == nil || pk.FixedHeader.Type != packets.Publish {
					continue
				}
				if c.Acknowledge(pk) != nil {
					return
				}
				consumed.Add(1)
			}
		}()
	}
	sender := mqtttest.Dial(b, addr, 4)
	sender.MustConnect(mqtttest.ConnectOptions{ClientID: "sender", Clean: true})
	b.ResetTimer()
	start := time.Now()
	for sent := 0; sent < b.N; {
		n := min(window, b.N-sent)
		ids := make([]uint16, n)
		for i := range n {
			pk := sender.PublishPacket("$queue/Work", []byte("work item payload of some size"), 1, false)
			sender.MustSend(pk)
			ids[i] = pk.PacketID
		}
		for _, id := range ids {
			if _, err := sender.AwaitAck(packets.Puback, id, 30*time.Second); err != nil {
				b.Fatal(err)
			}
		}
		sent += n
	}
	deadline := time.Now().Add(60 * time.Second)
	for consumed.Load() < int64(b.N) && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	close(done)
	wg.Wait()
	if got := consumed.Load(); got < int64(b.N) {
		b.Fatalf("consumed %d of %d", got, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}
