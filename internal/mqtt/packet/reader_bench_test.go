package packet

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// loopReader serves the same bytes forever, so a benchmark's Reader never
// runs dry and never touches the network.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.data[l.off:])
	l.off = (l.off + n) % len(l.data)
	return n, nil
}

// BenchmarkReadPublish reads QoS 1 PUBLISH packets: one body allocation per
// packet (the packet owns it) plus what mochi's decoder allocates.
func BenchmarkReadPublish(b *testing.B) {
	for _, tc := range []struct {
		version byte
		payload int
	}{{4, 64}, {4, 1024}, {5, 64}, {5, 16 << 10}} {
		b.Run(fmt.Sprintf("v%d/%dB", tc.version, tc.payload), func(b *testing.B) {
			pk := publish(tc.version, "site/42/device/7/temperature", string(bytes.Repeat([]byte{'x'}, tc.payload)))
			if tc.version == 5 {
				pk.Properties.User = []packets.UserProperty{{Key: "unit", Val: "C"}}
			}
			raw := encodeT(b, pk)
			stream := bytes.Repeat(raw, 64)
			r := NewReader(&loopReader{data: stream}, 0)
			r.SetVersion(tc.version)
			var got packets.Packet
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if err := r.Read(&got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReadPuback reads v5 PUBACKs through the reusable buffer.
func BenchmarkReadPuback(b *testing.B) {
	raw := encodeT(b, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, ProtocolVersion: 5, PacketID: 1, ReasonCode: 0x10})
	r := NewReader(&loopReader{data: bytes.Repeat(raw, 256)}, 0)
	r.SetVersion(5)
	var got packets.Packet
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Read(&got); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodePublish encodes into a reused buffer.
func BenchmarkEncodePublish(b *testing.B) {
	pk := publish(5, "site/42/device/7/temperature", string(bytes.Repeat([]byte{'x'}, 256)))
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if _, err := Encode(&buf, &pk); err != nil {
			b.Fatal(err)
		}
	}
}
