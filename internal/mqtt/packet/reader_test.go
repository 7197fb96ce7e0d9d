package packet

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// encodeT encodes pk or fails the test.
func encodeT(t testing.TB, pk packets.Packet) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := Encode(&buf, &pk); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return buf.Bytes()
}

func publish(version byte, topic, payload string) packets.Packet {
	return packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Publish, Qos: 1},
		ProtocolVersion: version,
		PacketID:        7,
		TopicName:       topic,
		Payload:         []byte(payload),
	}
}

func TestReadEOF(t *testing.T) {
	var pk packets.Packet
	if err := NewReader(bytes.NewReader(nil), 0).Read(&pk); err != io.EOF {
		t.Fatalf("empty stream: %v, want io.EOF", err)
	}
	one := encodeT(t, publish(4, "a/b", "hello"))
	r := NewReader(bytes.NewReader(one), 0)
	r.SetVersion(4)
	if err := r.Read(&pk); err != nil {
		t.Fatal(err)
	}
	if err := r.Read(&pk); err != io.EOF {
		t.Fatalf("after one packet: %v, want io.EOF exactly", err)
	}
	for _, cut := range []int{1, 2, len(one) - 1} {
		r := NewReader(bytes.NewReader(one[:cut]), 0)
		r.SetVersion(4)
		err := r.Read(&pk)
		if !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			t.Errorf("stream cut after %d bytes: %v, want io.ErrUnexpectedEOF", cut, err)
		}
	}
}

// errReader fails every read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestReadErrorsAreWrappedAndSticky(t *testing.T) {
	boom := errors.New("connection reset")
	r := NewReader(errReader{boom}, 0)
	var pk packets.Packet
	if err := r.Read(&pk); !errors.Is(err, boom) {
		t.Fatalf("Read = %v, want it to wrap the transport error", err)
	}
	bad := NewReader(bytes.NewReader(append([]byte{0x00, 0x00}, encodeT(t, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})...)), 0)
	first := bad.Read(&pk)
	if !errors.Is(first, ErrMalformed) {
		t.Fatalf("reserved type 0: %v", first)
	}
	if second := bad.Read(&pk); second != first {
		t.Fatalf("after an error Read returned %v, want the same error again", second)
	}
}

// TestReadMaxSize: the limit counts the whole packet as v5 Maximum Packet
// Size does, and a packet over it is refused before its body is read.
func TestReadMaxSize(t *testing.T) {
	raw := encodeT(t, publish(4, "a/b", "0123456789"))
	for _, tc := range []struct {
		max     int
		tooLong bool
	}{{len(raw), false}, {len(raw) - 1, true}} {
		r := NewReader(bytes.NewReader(raw), tc.max)
		r.SetVersion(4)
		var pk packets.Packet
		err := r.Read(&pk)
		if got := errors.Is(err, ErrTooLarge); got != tc.tooLong {
			t.Errorf("packet of %d bytes, max %d: %v", len(raw), tc.max, err)
		}
		if code, _ := Reason(err); tc.tooLong && code != 0x95 {
			t.Errorf("reason 0x%02X, want 0x95", code)
		}
	}

	// A header announcing 200 MB, with no body behind it: if the Reader
	// tried to read or allocate the body it would report a cut stream or
	// allocate; it must refuse at once.
	huge := []byte{packets.Publish << 4, 0xff, 0xff, 0xff, 0x5f}
	r := NewReader(bytes.NewReader(huge), 1<<20)
	var pk packets.Packet
	allocated := allocatedDuring(func() {
		if err := r.Read(&pk); !errors.Is(err, ErrTooLarge) {
			t.Errorf("200 MB announcement: %v, want ErrTooLarge", err)
		}
	})
	if allocated > 64<<10 {
		t.Errorf("refusing an oversized packet allocated %d bytes", allocated)
	}
}

// TestReadAllocatesAsBytesArrive: a peer announcing a large packet and
// sending little of it makes the Reader allocate little.
func TestReadAllocatesAsBytesArrive(t *testing.T) {
	stalled := []byte{packets.Publish << 4, 0x80, 0x80, 0x40} // 1 MiB announced
	stalled = append(stalled, 0, 3, 'a', '/', 'b')
	r := NewReader(bytes.NewReader(stalled), 8<<20)
	var pk packets.Packet
	allocated := allocatedDuring(func() {
		if err := r.Read(&pk); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("Read = %v, want io.ErrUnexpectedEOF", err)
		}
	})
	if allocated > 256<<10 {
		t.Errorf("1 MiB announced, 5 bytes sent: allocated %d bytes", allocated)
	}

	// And a large packet that does arrive is read whole.
	big := publish(4, "big", string(bytes.Repeat([]byte{'x'}, 300<<10)))
	r = NewReader(bytes.NewReader(encodeT(t, big)), 0)
	r.SetVersion(4)
	if err := r.Read(&pk); err != nil || len(pk.Payload) != 300<<10 || cap(pk.Payload) > 300<<10+16 {
		t.Fatalf("300 KiB publish: %v, payload %d bytes (cap %d)", err, len(pk.Payload), cap(pk.Payload))
	}
}

func allocatedDuring(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestReadRemainingLengthOverFourBytes(t *testing.T) {
	r := NewReader(bytes.NewReader([]byte{packets.Publish << 4, 0x80, 0x80, 0x80, 0x80, 0x00}), 0)
	var pk packets.Packet
	if err := r.Read(&pk); !errors.Is(err, ErrMalformed) {
		t.Fatalf("5-byte remaining length: %v, want ErrMalformed", err)
	}
}

// TestReadOwnership: a decoded packet does not change when the next one is
// read (mochi's decoded strings and slices point into the body).
func TestReadOwnership(t *testing.T) {
	var stream []byte
	stream = append(stream, encodeT(t, publish(5, "first/topic", "first payload"))...)
	stream = append(stream, encodeT(t, publish(5, "other/topic", "other payload"))...)
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, ProtocolVersion: 5, PacketID: 9, ReasonCode: 0x10}
	stream = append(stream, encodeT(t, ack)...)
	r := NewReader(bufio.NewReaderSize(bytes.NewReader(stream), 16), 0) // tiny buffer: bodies span refills
	r.SetVersion(5)
	var first, second, third packets.Packet
	for _, pk := range []*packets.Packet{&first, &second, &third} {
		if err := r.Read(pk); err != nil {
			t.Fatal(err)
		}
	}
	if first.TopicName != "first/topic" || string(first.Payload) != "first payload" {
		t.Fatalf("first packet changed after later reads: %q %q", first.TopicName, first.Payload)
	}
	if second.TopicName != "other/topic" || third.PacketID != 9 || third.ReasonCode != 0x10 {
		t.Fatalf("later packets wrong: %+v %+v", second, third)
	}
}

// TestReadAcksWithoutAllocating: acks decode into values only, so they are
// read through the Reader's reusable buffer.
func TestReadAcksWithoutAllocating(t *testing.T) {
	const n = 200
	var stream []byte
	for range n {
		stream = append(stream, encodeT(t, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, ProtocolVersion: 5, PacketID: 3, ReasonCode: 0x10})...)
	}
	r := NewReader(bytes.NewReader(stream), 0)
	r.SetVersion(5)
	var pk packets.Packet
	allocs := testing.AllocsPerRun(n-1, func() {
		if err := r.Read(&pk); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 || pk.PacketID != 3 || pk.ReasonCode != 0x10 {
		t.Fatalf("reading a PUBACK: %.1f allocations, packet %+v", allocs, pk)
	}
}

func TestReadVersionFromConnect(t *testing.T) {
	connect := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: 5,
		Connect:         packets.ConnectParams{ProtocolName: []byte("MQTT"), ClientIdentifier: "c1", Clean: true},
		Properties:      packets.Properties{ReceiveMaximum: 10},
	}
	pub := publish(5, "a", "x")
	pub.Properties.ContentType = "text/plain"
	stream := append(encodeT(t, connect), encodeT(t, pub)...)
	connect3 := connect
	connect3.ProtocolVersion = 4
	stream = append(stream, encodeT(t, connect3)...)
	stream = append(stream, encodeT(t, pub)...)
	r := NewReader(bytes.NewReader(stream), 0)
	var pk packets.Packet
	if err := r.Read(&pk); err != nil || r.Version() != 5 || pk.Properties.ReceiveMaximum != 10 {
		t.Fatalf("CONNECT: %v, version %d, %+v", err, r.Version(), pk.Properties)
	}
	if err := r.Read(&pk); err != nil || pk.Properties.ContentType != "text/plain" || string(pk.Payload) != "x" {
		t.Fatalf("v5 PUBLISH after v5 CONNECT: %v %+v", err, pk)
	}
	if err := r.Read(&pk); err != nil || r.Version() != 5 {
		t.Fatalf("a second CONNECT must not change the version: %v, version %d", err, r.Version())
	}
}

// TestReadRefusals: hand-built packets mochi's decoder accepts, mis-reads
// or panics on, refused with the reason MQTT gives them.
func TestReadRefusals(t *testing.T) {
	pub5 := func(props ...byte) []byte { // v5 QoS 0 PUBLISH "a" with the given property block
		body := append([]byte{0, 1, 'a'}, props...)
		return append([]byte{packets.Publish << 4, byte(len(body))}, body...)
	}
	sub := func(opts byte, props ...byte) []byte {
		body := append([]byte{0, 1}, props...)
		body = append(body, 0, 1, 'a', opts)
		return append([]byte{packets.Subscribe<<4 | 2, byte(len(body))}, body...)
	}
	connect5 := func(props ...byte) []byte {
		body := append([]byte{0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 30}, props...)
		body = append(body, 0, 1, 'c')
		return append([]byte{packets.Connect << 4, byte(len(body))}, body...)
	}
	tests := []struct {
		id      string
		version byte
		raw     []byte
		reason  byte
	}{
		{"2.1.2 reserved type 0", 4, []byte{0x00, 0x00}, ReasonMalformed},
		{"2.1.2 AUTH outside v5", 4, []byte{packets.Auth << 4, 0x00}, ReasonMalformed},
		{"MQTT-3.3.1-4 QoS 3", 4, []byte{packets.Publish<<4 | 6, 5, 0, 1, 'a', 0, 1}, ReasonMalformed},
		{"MQTT-3.3.1-2 DUP on QoS 0", 4, []byte{packets.Publish<<4 | 8, 3, 0, 1, 'a'}, ReasonProtocol},
		{"MQTT-3.8.1-1 SUBSCRIBE flags", 4, []byte{packets.Subscribe << 4, 6, 0, 1, 0, 1, 'a', 0}, ReasonMalformed},
		{"MQTT-2.1.3-1 PUBACK flags", 4, []byte{packets.Puback<<4 | 1, 2, 0, 1}, ReasonMalformed},
		{"3.12 PINGREQ with a body", 4, []byte{packets.Pingreq << 4, 1, 0}, ReasonMalformed},
		{"3.4 v3.1.1 PUBACK of 3 bytes", 4, []byte{packets.Puback << 4, 3, 0, 1, 0}, ReasonMalformed},
		{"3.14 v3.1.1 DISCONNECT with a body", 4, []byte{packets.Disconnect << 4, 1, 0}, ReasonMalformed},
		{"MQTT-1.5.4-1 bad UTF-8 topic", 4, []byte{packets.Publish << 4, 3, 0, 1, 0xff}, ReasonMalformed},
		{"MQTT-1.5.4-2 NUL in topic", 4, []byte{packets.Publish << 4, 3, 0, 1, 0x00}, ReasonMalformed},
		{"MQTT-3.8.3-4 v3.1.1 SUBSCRIBE QoS byte 0x04", 4, sub(0x04), ReasonMalformed},
		{"MQTT-3.8.3-4 v3.1.1 SUBSCRIBE QoS 3", 4, sub(0x03), ReasonMalformed},
		{"3.8.3 v5 SUBSCRIBE without options byte (mochi panics)", 5, []byte{packets.Subscribe<<4 | 2, 6, 0, 1, 0, 0, 1, 'a'}, ReasonMalformed},
		{"MQTT-3.8.3-5 v5 SUBSCRIBE reserved option bits", 5, sub(0x40, 0), ReasonMalformed},
		{"3.8.3.1 v5 SUBSCRIBE QoS 3", 5, sub(0x03, 0), ReasonProtocol},
		{"3.8.3.1 v5 SUBSCRIBE retain handling 3", 5, sub(0x30, 0), ReasonProtocol},
		{"3.8.2.1.2 v5 subscription identifier 0", 5, sub(0x01, 2, 0x0b, 0), ReasonProtocol},
		{"2.2.2.2 property past its block", 5, pub5(2, 0x03, 0, 5, 'a', 'b', 'c', 'd', 'e'), ReasonMalformed},
		{"2.2.2.2 property block past the packet", 5, pub5(9, 0x01, 1), ReasonMalformed},
		{"2.2.2.2 unknown property", 5, pub5(2, 0x07, 0), ReasonMalformed},
		{"2.2.2.2 property not allowed in PUBLISH", 5, pub5(5, 0x11, 0, 0, 0, 1), ReasonMalformed},
		{"3.3.2.3 content type twice", 5, pub5(8, 0x03, 0, 1, 'x', 0x03, 0, 1, 'y'), ReasonProtocol},
		{"3.1.2.11.3 receive maximum 0", 5, connect5(3, 0x21, 0, 0), ReasonProtocol},
		{"3.1.2.11.4 maximum packet size 0", 5, connect5(5, 0x27, 0, 0, 0, 0), ReasonProtocol},
		{"3.1.2.11.7 request problem information 2", 5, connect5(2, 0x17, 2), ReasonProtocol},
		{"3.1.2.11.10 authentication data without method", 5, connect5(4, 0x16, 0, 1, 'x'), ReasonProtocol},
		{"3.1.3.2 will delay in CONNECT properties", 5, connect5(5, 0x18, 0, 0, 0, 1), ReasonMalformed},
	}
	for _, tc := range tests {
		r := NewReader(bytes.NewReader(tc.raw), 0)
		if tc.raw[0]>>4 != packets.Connect {
			r.SetVersion(tc.version)
		}
		var pk packets.Packet
		err := r.Read(&pk)
		var e *Error
		if !errors.As(err, &e) || e.Reason != tc.reason || e.Type != tc.raw[0]>>4 {
			t.Errorf("[%s] Read = %v, want *Error reason 0x%02X type %d", tc.id, err, tc.reason, tc.raw[0]>>4)
		}
	}
}

// TestReadShortForms: MQTT 5.0 short packets mochi mis-reads.
func TestReadShortForms(t *testing.T) {
	tests := []struct {
		id     string
		raw    []byte
		reason byte
	}{
		{"3.14.2.1 DISCONNECT with only a reason code", []byte{packets.Disconnect << 4, 1, 0x04}, 0x04},
		{"3.14.2.1 DISCONNECT with no body", []byte{packets.Disconnect << 4, 0}, 0x00},
		{"3.15.2.1 AUTH with no body", []byte{packets.Auth << 4, 0}, 0x00},
		{"3.15.2.1 AUTH with only a reason code", []byte{packets.Auth << 4, 1, 0x18}, 0x18},
		{"3.4.2.1 PUBACK without reason code", []byte{packets.Puback << 4, 2, 0, 1}, 0x00},
		{"3.4.2.1 PUBACK with only a reason code", []byte{packets.Puback << 4, 3, 0, 1, 0x10}, 0x10},
	}
	for _, tc := range tests {
		r := NewReader(bytes.NewReader(tc.raw), 0)
		r.SetVersion(5)
		var pk packets.Packet
		if err := r.Read(&pk); err != nil || pk.ReasonCode != tc.reason {
			t.Errorf("[%s] Read = %v, reason 0x%02X; want 0x%02X", tc.id, err, pk.ReasonCode, tc.reason)
		}
	}
}

// TestDecodePanicIsMalformed: a panic in mochi's decoder (here: v5
// SUBSCRIBE whose filter has no options byte, which checkLayout normally
// refuses first) becomes a Malformed error instead of crashing the server.
func TestDecodePanicIsMalformed(t *testing.T) {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: 5}
	body := []byte{0, 1, 0, 0, 1, 'a'}
	if err := checkLayout(&pk.FixedHeader, body, 5); !errors.Is(err, ErrMalformed) {
		t.Fatalf("checkLayout = %v, want ErrMalformed", err)
	}
	err := decodeBody(&pk, body)
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("decodeBody on a body that panics mochi = %v, want ErrMalformed", err)
	}
}
