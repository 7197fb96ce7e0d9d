package packet

import (
	"errors"
	"fmt"

	"github.com/mochi-mqtt/server/v2/packets"
)

// MQTT v5 reason codes this package produces. The engine sends them in
// DISCONNECT or CONNACK (v5) or closes the connection (3.1/3.1.1).
const (
	ReasonMalformed       byte = 0x81 // Malformed Packet
	ReasonProtocol        byte = 0x82 // Protocol Error
	ReasonUnsupportedVers byte = 0x84 // Unsupported Protocol Version (CONNACK only)
	ReasonTooLarge        byte = 0x95 // Packet too large
)

// Category sentinels. errors.Is(err, ErrMalformed) is true for every *Error
// whose Reason is 0x81, and likewise for the others, so the engine can
// branch without looking at numbers.
var (
	ErrMalformed = errors.New("malformed packet")
	ErrProtocol  = errors.New("protocol error")
	ErrTooLarge  = errors.New("packet too large")
)

// Error is a decode, encode or validation failure of one packet.
//
// Reason is the MQTT v5 reason code the engine should send (0x81, 0x82,
// 0x95, or another code from a validator such as 0x84 or 0x94); Type is the
// MQTT packet type (packets.Connect ...), 0 when the fixed header itself was
// unreadable; Err is the cause, often a mochi packets.Code.
type Error struct {
	Reason byte
	Type   byte
	Err    error
}

func (e *Error) Error() string {
	name := packets.PacketNames[e.Type]
	if e.Type == 0 {
		name = "packet"
	}
	return fmt.Sprintf("mqtt %s: reason 0x%02X: %v", name, e.Reason, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches the category sentinel of e's Reason.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrMalformed:
		return e.Reason == ReasonMalformed
	case ErrProtocol:
		return e.Reason == ReasonProtocol
	case ErrTooLarge:
		return e.Reason == ReasonTooLarge
	}
	return false
}

// Reason returns the reason code carried by err and whether err carries
// one (it does for every *Error in its chain).
func Reason(err error) (byte, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason, true
	}
	return 0, false
}

func malformed(typ byte, format string, args ...any) error {
	return &Error{Reason: ReasonMalformed, Type: typ, Err: fmt.Errorf(format, args...)}
}

func protocolErr(typ byte, format string, args ...any) error {
	return &Error{Reason: ReasonProtocol, Type: typ, Err: fmt.Errorf(format, args...)}
}

// decodeError classifies an error returned by a mochi Decode method. Mochi
// reports protocol violations it notices while decoding with code 0x82; every
// other failure while decoding (short buffer, bad UTF-8, a client
// identifier it could not read...) means the bytes are malformed.
func decodeError(typ byte, err error) error {
	var code packets.Code
	if errors.As(err, &code) && code.Code == ReasonProtocol {
		return &Error{Reason: ReasonProtocol, Type: typ, Err: err}
	}
	return &Error{Reason: ReasonMalformed, Type: typ, Err: err}
}

// codeError turns a mochi validation Code into an *Error, or nil on success.
func codeError(typ byte, code packets.Code) error {
	if code.Code == packets.CodeSuccess.Code {
		return nil
	}
	return &Error{Reason: code.Code, Type: typ, Err: code}
}
