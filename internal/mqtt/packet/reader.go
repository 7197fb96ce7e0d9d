package packet

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/mochi-mqtt/server/v2/packets"
)

// MaxPacketSize is the largest packet MQTT can frame: one header byte, four
// length bytes and a Remaining Length of 268,435,455.
const MaxPacketSize = 1 + 4 + 268_435_455

// bodyStep is the body size allocated up front; larger bodies grow in
// doubling steps as their bytes arrive, so a peer that announces a large
// packet and stalls holds at most twice what it has sent.
const bodyStep = 64 << 10

// Reader reads MQTT control packets from one connection.
//
// Ownership: a packet returned by Read owns its memory. Mochi decodes
// without copying (TopicName, Payload, client ID, property strings all point
// into the packet body, strings through unsafe), so Read gives every packet
// that can hold such a reference a fresh body allocation of exactly its
// Remaining Length, which it never touches again. Only packets whose decoded
// form holds no reference into the body (PINGREQ/PINGRESP, and acks,
// CONNACK, DISCONNECT and AUTH with at most 3 body bytes) are read through
// the Reader's reusable buffer. Because strings share memory with byte
// slices of the same packet, callers must never modify a decoded packet's
// byte slices in place.
//
// Errors: io.EOF exactly when the stream ends cleanly between packets;
// io.ErrUnexpectedEOF (wrapped) when it ends inside one; *Error (see
// ErrMalformed, ErrProtocol, ErrTooLarge) when the bytes are refused; other
// errors from the underlying reader wrapped. Every error is sticky: after
// one the stream position is undefined and the connection must be closed.
//
// A Reader is not safe for concurrent use; one reader goroutine per
// connection owns it.
type Reader struct {
	br      *bufio.Reader
	max     int
	version byte
	small   [3]byte // reusable body for packets that decode into values only
	err     error
}

// NewReader returns a Reader over r (used directly if it is a
// *bufio.Reader) that refuses packets whose total size (fixed header
// included, as MQTT 5.0 Maximum Packet Size counts it) exceeds maxSize;
// maxSize <= 0 or above MaxPacketSize means MaxPacketSize.
func NewReader(r io.Reader, maxSize int) *Reader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	if maxSize <= 0 || maxSize > MaxPacketSize {
		maxSize = MaxPacketSize
	}
	return &Reader{br: br, max: maxSize}
}

// Version returns the protocol version packets are decoded with: 0 before a
// CONNECT has been read, then 3 (3.1), 4 (3.1.1) or 5 (5.0).
func (r *Reader) Version() byte { return r.version }

// SetVersion sets the protocol version for the following packets; use it for
// the client side of a connection or to override what CONNECT said.
func (r *Reader) SetVersion(v byte) { r.version = v }

// Read reads and decodes the next packet into pk, overwriting all of it.
//
// The first CONNECT read while Version is 0 sets the version from its
// protocol level if that is 3, 4 or 5. Read checks framing and encoding
// (what makes a packet Malformed or, where noticed while decoding, a
// Protocol Error); semantic checks are in the Validate functions.
func (r *Reader) Read(pk *packets.Packet) error {
	if r.err != nil {
		return r.err
	}
	if err := r.read(pk); err != nil {
		r.err = err
		return err
	}
	return nil
}

func (r *Reader) read(pk *packets.Packet) error {
	b0, err := r.br.ReadByte()
	if err != nil {
		if err == io.EOF {
			return io.EOF
		}
		return fmt.Errorf("read mqtt fixed header: %w", err)
	}
	*pk = packets.Packet{ProtocolVersion: r.version}
	typ := b0 >> 4
	switch {
	case typ == packets.Reserved:
		return malformed(typ, "reserved packet type 0")
	case typ == packets.Auth && r.version != 5:
		return malformed(typ, "AUTH outside MQTT 5.0")
	case typ == packets.Publish && b0&0x06 == 0x06:
		return malformed(typ, "PUBLISH with QoS 3") // [MQTT-3.3.1-4]
	}
	if err := pk.FixedHeader.Decode(b0); err != nil {
		return decodeError(typ, err)
	}
	remaining, lenBytes, err := r.readRemainingLength(typ)
	if err != nil {
		return err
	}
	if total := 1 + lenBytes + remaining; total > r.max {
		return &Error{Reason: ReasonTooLarge, Type: typ,
			Err: fmt.Errorf("packet of %d bytes exceeds the maximum of %d", total, r.max)}
	}
	pk.FixedHeader.Remaining = remaining

	var body []byte
	if holdsNoReferences(typ, remaining) {
		body = r.small[:remaining]
		_, err = io.ReadFull(r.br, body)
	} else {
		body, err = r.readBody(remaining)
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("read mqtt %s body of %d bytes: %w", packets.PacketNames[typ], remaining, err)
	}

	if err := checkLayout(&pk.FixedHeader, body, r.version); err != nil {
		return err
	}
	if err := decodeBody(pk, body); err != nil {
		return err
	}
	if typ == packets.Connect && r.version == 0 && pk.ProtocolVersion >= 3 && pk.ProtocolVersion <= 5 {
		r.version = pk.ProtocolVersion
	}
	return nil
}

// readRemainingLength decodes the Remaining Length: at most four bytes
// (§2.2.3 / §1.5.5); a fifth continuation makes the packet malformed.
// Non-minimal encodings are accepted: the specs bind the sender, not the
// receiver.
func (r *Reader) readRemainingLength(typ byte) (value, n int, err error) {
	for n < 4 {
		c, err := r.br.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, 0, fmt.Errorf("read mqtt remaining length: %w", err)
		}
		value |= int(c&0x7f) << (7 * n)
		n++
		if c&0x80 == 0 {
			return value, n, nil
		}
	}
	return 0, 0, malformed(typ, "remaining length longer than 4 bytes")
}

// readBody reads n bytes into a new slice, allocating as the bytes arrive
// (see bodyStep). The slice never has capacity beyond n.
func (r *Reader) readBody(n int) ([]byte, error) {
	if n <= bodyStep {
		b := make([]byte, n)
		_, err := io.ReadFull(r.br, b)
		return b, err
	}
	b := make([]byte, 0, bodyStep)
	for len(b) < n {
		if len(b) == cap(b) {
			grown := make([]byte, len(b), min(2*cap(b), n))
			copy(grown, b)
			b = grown
		}
		got, err := io.ReadFull(r.br, b[len(b):cap(b)])
		b = b[:len(b)+got]
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}

// holdsNoReferences reports whether a packet of this type and body size
// decodes into plain values only, so its body may live in the reusable
// buffer. Three bytes cannot hold a property with a string or binary value
// (identifier, two length bytes, after at least a reason code or packet ID).
func holdsNoReferences(typ byte, remaining int) bool {
	switch typ {
	case packets.Pingreq, packets.Pingresp, packets.Puback, packets.Pubrec, packets.Pubrel, packets.Pubcomp,
		packets.Connack, packets.Disconnect, packets.Auth:
		return remaining <= 3
	}
	return false
}

// decodeBody hands the body to mochi's decoder for pk.FixedHeader.Type and
// fills the gaps where mochi departs from MQTT 5.0:
//   - DISCONNECT with Remaining Length 1 carries a reason code (§3.14.2.1);
//     mochi only reads it from two bytes on.
//   - AUTH with Remaining Length 0 means reason 0x00 (§3.15.2.1); with 1, a
//     reason code and no properties. Mochi fails both.
//
// A panic inside mochi's decoder is turned into a Malformed error: the
// bytes come from the network and must never take the server down.
func decodeBody(pk *packets.Packet, body []byte) (err error) {
	typ := pk.FixedHeader.Type
	defer func() {
		if p := recover(); p != nil {
			err = malformed(typ, "decoder panic: %v", p)
		}
	}()
	switch typ {
	case packets.Connect:
		err = pk.ConnectDecode(body)
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Pubrec:
		err = pk.PubrecDecode(body)
	case packets.Pubrel:
		err = pk.PubrelDecode(body)
	case packets.Pubcomp:
		err = pk.PubcompDecode(body)
	case packets.Subscribe:
		err = pk.SubscribeDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Unsubscribe:
		err = pk.UnsubscribeDecode(body)
	case packets.Unsuback:
		err = pk.UnsubackDecode(body)
	case packets.Pingreq, packets.Pingresp:
	case packets.Disconnect:
		if pk.ProtocolVersion == 5 && len(body) == 1 {
			pk.ReasonCode = body[0]
			return nil
		}
		err = pk.DisconnectDecode(body)
	case packets.Auth:
		if len(body) <= 1 {
			if len(body) == 1 {
				pk.ReasonCode = body[0]
			}
			return nil
		}
		err = pk.AuthDecode(body)
	}
	if err != nil {
		return decodeError(typ, err)
	}
	return nil
}
