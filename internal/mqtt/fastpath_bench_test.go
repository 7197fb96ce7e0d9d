package mqtt

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// BenchmarkQoS0FanOut publishes b.N QoS 0 messages from one 3.1.1 client to
// 100 subscribers over loopback TCP and reports deliveries per second. The
// publisher stays at most a window of messages ahead of the slowest
// subscriber, so nothing is dropped. Compare with the fast path disabled to
// see what deliverNowLocked and the shared encoding save.
func BenchmarkQoS0FanOut(b *testing.B) { benchmarkQoS0(b, 1, 100) }

// BenchmarkQoS0FanIn is the same with 100 publishers and one subscriber.
func BenchmarkQoS0FanIn(b *testing.B) { benchmarkQoS0(b, 100, 1) }

func benchmarkQoS0(b *testing.B, publishers, subscribers int) {
	ts := startServer(b)
	const window = 1000
	pubWire, err := mqtttest.Encode(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish},
		TopicName: "bench/t", Payload: bytes.Repeat([]byte("x"), 64)}, mqtttest.V311)
	if err != nil {
		b.Fatal(err)
	}
	dial := func(id string) net.Conn {
		nc, err := net.Dial("tcp", ts.addr)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { nc.Close() })
		connect, err := mqtttest.Encode(mqtttest.ConnectPacket(mqtttest.ConnectOptions{ClientID: id, Clean: true}, mqtttest.V311), mqtttest.V311)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := nc.Write(connect); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(nc, make([]byte, 4)); err != nil { // CONNACK
			b.Fatal(err)
		}
		return nc
	}

	// Subscribers count whole PUBLISH packets of the known size.
	received := make([]atomic.Int64, subscribers)
	progress := make(chan struct{}, 1)
	var readers sync.WaitGroup
	for i := range subscribers {
		nc := dial(fmt.Sprintf("bsub%d", i))
		sub := mqtttest.Encode
		pk := &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
			Filters: packets.Subscriptions{mqtttest.Sub("bench/#", 0)}}
		wire, err := sub(pk, mqtttest.V311)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := nc.Write(wire); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(nc, make([]byte, 5)); err != nil { // SUBACK
			b.Fatal(err)
		}
		readers.Add(1)
		go func() {
			defer readers.Done()
			buf := make([]byte, 64<<10)
			var n int64
			for {
				k, err := nc.Read(buf)
				n += int64(k)
				received[i].Store(n / int64(len(pubWire)))
				select {
				case progress <- struct{}{}:
				default:
				}
				if err != nil {
					return
				}
			}
		}()
	}
	pubs := make([]net.Conn, publishers)
	for i := range pubs {
		pubs[i] = dial(fmt.Sprintf("bpub%d", i))
	}
	minReceived := func() int64 {
		m := received[0].Load()
		for i := range received {
			m = min(m, received[i].Load())
		}
		return m
	}
	wait := func(target int64) {
		deadline := time.After(30 * time.Second)
		for minReceived() < target {
			select {
			case <-progress:
			case <-deadline:
				b.Fatalf("delivered %d of %d within 30s", minReceived(), target)
			}
		}
	}

	const chunk = 50
	burst := bytes.Repeat(pubWire, chunk)
	b.ResetTimer()
	var sent int64
	for sent < int64(b.N) {
		for _, nc := range pubs {
			n := min(int64(chunk), int64(b.N)-sent)
			if n <= 0 {
				break
			}
			nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if _, err := nc.Write(burst[:n*int64(len(pubWire))]); err != nil {
				b.Fatal(err)
			}
			sent += n
		}
		wait(sent - window)
	}
	wait(sent)
	b.StopTimer()
	b.ReportMetric(float64(sent)*float64(subscribers)/b.Elapsed().Seconds(), "deliveries/s")
	for _, nc := range pubs {
		nc.Close()
	}
	ts.close()
	readers.Wait()
}
