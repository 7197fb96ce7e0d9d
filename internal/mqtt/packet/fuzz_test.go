package packet

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// fuzzMax is the Reader limit under fuzzing.
const fuzzMax = 1 << 16

// FuzzReader feeds arbitrary bytes to a Reader for protocol versions 3, 4
// and 5. Properties checked for every input:
//   - no panic; every error is io.EOF, io.ErrUnexpectedEOF or an *Error;
//   - memory allocated while reading stays bounded (a packet announcing more
//     than fuzzMax is refused before its body is allocated);
//   - every decoded packet that passes its validator re-encodes, and the
//     encoding decodes to the same packet. A packet the validator refuses
//     (the engine never forwards one) may fail to encode (QoS 1 with packet
//     ID 0) or lose what cannot be written (a CONNECT reserved bit), but its
//     encoding, if any, must still decode.
//
// The seed corpus is every RawBytes in mochi's TPacketData, for each
// version; it runs in every `go test`.
func FuzzReader(f *testing.F) {
	for _, tc := range allCases() {
		if tc.c.RawBytes == nil {
			continue
		}
		for v := byte(3); v <= 5; v++ {
			f.Add(v, tc.c.RawBytes)
		}
	}
	f.Add(byte(5), []byte{packets.Subscribe<<4 | 2, 6, 0, 1, 0, 0, 1, 'a'})
	f.Add(byte(4), []byte{packets.Publish << 4, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, version byte, data []byte) {
		version = 3 + version%3
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r := NewReader(bytes.NewReader(data), fuzzMax)
		r.SetVersion(version)
		var decoded []packets.Packet
		for range 32 {
			var pk packets.Packet
			err := r.Read(&pk)
			if err != nil {
				var e *Error
				if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.As(err, &e) {
					t.Fatalf("unexpected error type %T: %v", err, err)
				}
				break
			}
			decoded = append(decoded, pk)
		}
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 16*uint64(len(data))+4*fuzzMax {
			t.Fatalf("reading %d bytes allocated %d bytes", len(data), grew)
		}
		for _, pk := range decoded {
			checkReencodes(t, pk, version)
		}
	})
}

// checkReencodes encodes pk and reads it back.
func checkReencodes(t *testing.T, pk packets.Packet, version byte) {
	t.Helper()
	out := pk
	if out.FixedHeader.Type == packets.Connack {
		out.Mods.AllowResponseInfo = true
	}
	valid := validateCase(pk.FixedHeader.Type, &pk) == nil
	var buf bytes.Buffer
	if _, err := Encode(&buf, &out); err != nil {
		if valid {
			t.Fatalf("decoded %s passes validation but does not encode: %v\n%+v", packets.PacketNames[pk.FixedHeader.Type], err, pk)
		}
		return
	}
	r := NewReader(bytes.NewReader(buf.Bytes()), 0)
	r.SetVersion(version)
	var again packets.Packet
	if err := r.Read(&again); err != nil {
		t.Fatalf("re-encoded %s does not decode: %v\n% x", packets.PacketNames[pk.FixedHeader.Type], err, buf.Bytes())
	}
	if valid && !samePacket(again, pk) {
		t.Fatalf("%s changed in a round trip:\n got %+v\nwant %+v", packets.PacketNames[pk.FixedHeader.Type], normalize(again), normalize(pk))
	}
}
