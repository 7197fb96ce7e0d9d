package mqtttest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Protocol versions as carried in the CONNECT packet.
const (
	V31  byte = 3 // MQTT 3.1 ("MQIsdp")
	V311 byte = 4 // MQTT 3.1.1
	V5   byte = 5 // MQTT 5.0
)

// maxFrameBody is the largest Remaining Length the MQTT variable byte
// integer can carry (268,435,455); a larger value is rejected by the
// decoder before anything is allocated.
const maxFrameBody = 268435455

// Frame is one MQTT control packet as it crossed the wire: the first byte
// of the fixed header and the bytes that followed the Remaining Length.
// Frame keeps what the broker sent even when the codec cannot decode it.
type Frame struct {
	Header byte
	Body   []byte
}

// Type is the control packet type (bits 7-4 of the first byte).
func (f Frame) Type() byte { return f.Header >> 4 }

// Flags are bits 3-0 of the first byte.
func (f Frame) Flags() byte { return f.Header & 0x0f }

// Bytes returns the frame as it was on the wire.
func (f Frame) Bytes() []byte {
	var b bytes.Buffer
	b.WriteByte(f.Header)
	writeLength(&b, len(f.Body))
	b.Write(f.Body)
	return b.Bytes()
}

// Decode decodes the frame with the mochi codec for the given protocol
// version (V311 or V5).
func (f Frame) Decode(version byte) (*packets.Packet, error) {
	return Decode(f, version)
}

// String describes the frame by decoding it as MQTT 5 when possible.
func (f Frame) String() string { return describeFrame(f, V5) }

// Decode turns a frame into a mochi packet, decoded as the given protocol
// version would lay it out.
func Decode(f Frame, version byte) (*packets.Packet, error) {
	pk := &packets.Packet{ProtocolVersion: version}
	if err := pk.FixedHeader.Decode(f.Header); err != nil {
		return nil, fmt.Errorf("decode fixed header %#02x: %w", f.Header, err)
	}
	pk.FixedHeader.Remaining = len(f.Body)
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectDecode(f.Body)
	case packets.Connack:
		err = pk.ConnackDecode(f.Body)
	case packets.Publish:
		err = pk.PublishDecode(f.Body)
	case packets.Puback:
		err = pk.PubackDecode(f.Body)
	case packets.Pubrec:
		err = pk.PubrecDecode(f.Body)
	case packets.Pubrel:
		err = pk.PubrelDecode(f.Body)
	case packets.Pubcomp:
		err = pk.PubcompDecode(f.Body)
	case packets.Subscribe:
		err = pk.SubscribeDecode(f.Body)
	case packets.Suback:
		err = pk.SubackDecode(f.Body)
	case packets.Unsubscribe:
		err = pk.UnsubscribeDecode(f.Body)
	case packets.Unsuback:
		err = pk.UnsubackDecode(f.Body)
	case packets.Pingreq:
		err = pk.PingreqDecode(f.Body)
	case packets.Pingresp:
		err = pk.PingrespDecode(f.Body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(f.Body)
		if version == V5 && len(f.Body) == 1 {
			// A Reason Code without a Property Length is a valid MQTT 5
			// DISCONNECT; mochi v2.7.9 skips the code when Remaining
			// Length is 1 and would report 0x00 (normal) instead.
			pk.ReasonCode = f.Body[0]
		}
	case packets.Auth:
		// AUTH may omit the Reason Code (0x00) and the Property Length;
		// mochi v2.7.9 requires both.
		switch len(f.Body) {
		case 0:
			pk.ReasonCode = 0
		case 1:
			pk.ReasonCode = f.Body[0]
		default:
			err = pk.AuthDecode(f.Body)
		}
	default:
		err = fmt.Errorf("packet type %d is reserved", pk.FixedHeader.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s (% x): %w", TypeName(pk.FixedHeader.Type), f.Bytes(), err)
	}
	return pk, nil
}

// Encode encodes pk with the mochi codec as the given protocol version.
// pk is not modified. Encode fills in what a well-formed packet needs and
// a test rarely wants to spell out:
//   - ProtocolVersion is set to version when pk leaves it zero;
//   - a CONNECT without a protocol name gets "MQTT" ("MQIsdp" for 3.1);
//   - PUBREL, SUBSCRIBE and UNSUBSCRIBE get their mandatory flags 0b0010;
//   - Response Topic and Correlation Data are always encoded (the codec
//     otherwise drops them unless told the peer allows them).
//
// To send a packet that breaks these rules, encode it and patch the bytes
// before SendRaw.
func Encode(pk *packets.Packet, version byte) ([]byte, error) {
	cp := *pk
	if cp.ProtocolVersion == 0 {
		cp.ProtocolVersion = version
	}
	cp.Mods.AllowResponseInfo = true
	var buf bytes.Buffer
	var err error
	switch cp.FixedHeader.Type {
	case packets.Connect:
		if len(cp.Connect.ProtocolName) == 0 {
			if cp.ProtocolVersion == V31 {
				cp.Connect.ProtocolName = []byte("MQIsdp")
			} else {
				cp.Connect.ProtocolName = []byte("MQTT")
			}
		}
		err = cp.ConnectEncode(&buf)
	case packets.Connack:
		err = cp.ConnackEncode(&buf)
	case packets.Publish:
		err = cp.PublishEncode(&buf)
	case packets.Puback:
		err = cp.PubackEncode(&buf)
	case packets.Pubrec:
		err = cp.PubrecEncode(&buf)
	case packets.Pubrel:
		cp.FixedHeader.Qos = 1
		err = cp.PubrelEncode(&buf)
	case packets.Pubcomp:
		err = cp.PubcompEncode(&buf)
	case packets.Subscribe:
		cp.FixedHeader.Qos = 1
		err = cp.SubscribeEncode(&buf)
	case packets.Suback:
		err = cp.SubackEncode(&buf)
	case packets.Unsubscribe:
		cp.FixedHeader.Qos = 1
		err = cp.UnsubscribeEncode(&buf)
	case packets.Unsuback:
		err = cp.UnsubackEncode(&buf)
	case packets.Pingreq:
		err = cp.PingreqEncode(&buf)
	case packets.Pingresp:
		err = cp.PingrespEncode(&buf)
	case packets.Disconnect:
		err = cp.DisconnectEncode(&buf)
	case packets.Auth:
		err = cp.AuthEncode(&buf)
	default:
		err = fmt.Errorf("packet type %d is reserved", cp.FixedHeader.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", TypeName(cp.FixedHeader.Type), err)
	}
	return buf.Bytes(), nil
}

// readFrame reads one frame. It returns io.EOF only when the stream ended
// cleanly between frames; a stream that ends inside a frame gives
// io.ErrUnexpectedEOF.
func readFrame(br *bufio.Reader) (Frame, error) {
	h, err := br.ReadByte()
	if err != nil {
		return Frame{}, err
	}
	n, _, err := packets.DecodeLength(br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, fmt.Errorf("read remaining length after %#02x: %w", h, err)
	}
	if n < 0 || n > maxFrameBody {
		return Frame{}, fmt.Errorf("remaining length %d out of range", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, fmt.Errorf("read %d-byte body of %s: %w", n, TypeName(h>>4), err)
	}
	return Frame{Header: h, Body: body}, nil
}

// writeLength appends n as an MQTT variable byte integer.
func writeLength(b *bytes.Buffer, n int) {
	for i := 0; i < 4; i++ {
		eb := byte(n % 128)
		n /= 128
		if n > 0 {
			eb |= 0x80
		}
		b.WriteByte(eb)
		if n == 0 {
			return
		}
	}
}

// TypeName is the upper-case name of a control packet type, as the
// specifications write it (CONNACK, PUBLISH, ...).
func TypeName(t byte) string {
	if name, ok := packets.PacketNames[t]; ok {
		return strings.ToUpper(name)
	}
	return fmt.Sprintf("TYPE(%d)", t)
}

// Describe renders a decoded packet on one line for failure messages.
func Describe(pk *packets.Packet) string {
	if pk == nil {
		return "<nil packet>"
	}
	fh := pk.FixedHeader
	var b strings.Builder
	b.WriteString(TypeName(fh.Type))
	switch fh.Type {
	case packets.Connack:
		fmt.Fprintf(&b, " reason=%#02x sessionPresent=%v", pk.ReasonCode, pk.SessionPresent)
	case packets.Publish:
		fmt.Fprintf(&b, " topic=%q qos=%d dup=%v retain=%v", pk.TopicName, fh.Qos, fh.Dup, fh.Retain)
		if fh.Qos > 0 {
			fmt.Fprintf(&b, " id=%d", pk.PacketID)
		}
		fmt.Fprintf(&b, " payload=%s", shortBytes(pk.Payload))
	case packets.Puback, packets.Pubrec, packets.Pubrel, packets.Pubcomp:
		fmt.Fprintf(&b, " id=%d reason=%#02x", pk.PacketID, pk.ReasonCode)
	case packets.Suback, packets.Unsuback:
		fmt.Fprintf(&b, " id=%d reasons=% x", pk.PacketID, pk.ReasonCodes)
	case packets.Subscribe, packets.Unsubscribe:
		fmt.Fprintf(&b, " id=%d filters=[", pk.PacketID)
		for i, f := range pk.Filters {
			if i > 0 {
				b.WriteString(" ")
			}
			fmt.Fprintf(&b, "%s@%d", f.Filter, f.Qos)
		}
		b.WriteString("]")
	case packets.Disconnect, packets.Auth:
		fmt.Fprintf(&b, " reason=%#02x", pk.ReasonCode)
	case packets.Connect:
		fmt.Fprintf(&b, " clientID=%q clean=%v version=%d", pk.Connect.ClientIdentifier, pk.Connect.Clean, pk.ProtocolVersion)
	}
	if rs := pk.Properties.ReasonString; rs != "" {
		fmt.Fprintf(&b, " reasonString=%q", rs)
	}
	return b.String()
}

func describeFrame(f Frame, version byte) string {
	pk, err := Decode(f, version)
	if err != nil {
		return fmt.Sprintf("undecodable %s frame (% x): %v", TypeName(f.Type()), shortRaw(f.Bytes()), err)
	}
	return Describe(pk)
}

func shortBytes(p []byte) string {
	const max = 32
	if len(p) <= max {
		return fmt.Sprintf("%q", p)
	}
	return fmt.Sprintf("%q...(%d bytes)", p[:max], len(p))
}

func shortRaw(p []byte) []byte {
	if len(p) > 64 {
		return p[:64]
	}
	return p
}
