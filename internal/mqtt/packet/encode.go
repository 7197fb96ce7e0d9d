package packet

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/mochi-mqtt/server/v2/packets"
)

// ReasonUnspecified is 0x80 Unspecified error, used for packets Encode
// cannot produce at all (an unknown type).
const ReasonUnspecified byte = 0x80

// Encode appends pk, encoded for pk.ProtocolVersion, to buf and returns the
// number of bytes appended.
//
// pk.Mods.MaxSize is the peer's Maximum Packet Size (0: no limit). Within
// it mochi leaves out the Reason String and User Properties that do not fit
// (as MQTT 5.0 [MQTT-3.1.2-25] allows); if the packet still exceeds it,
// Encode appends nothing and returns an *Error with ReasonTooLarge and the
// size the packet would have had, so the engine can drop it
// ([MQTT-3.1.2-24]) and account for it. On any error buf is left as it was.
//
// Unlike mochi alone, a v5 PUBACK, PUBREC, PUBREL or PUBCOMP keeps a
// non-zero reason code below 0x80 (0x10 No matching subscribers) when it has
// no properties.
//
// Encode sets pk.FixedHeader.Remaining, the fixed-header flags of every
// type but PUBLISH (0010 for PUBREL, SUBSCRIBE and UNSUBSCRIBE, 0000
// otherwise [MQTT-2.1.3-1]) and, for every type but CONNACK,
// pk.Mods.AllowResponseInfo (mochi otherwise drops Response Topic and
// Correlation Data from PUBLISH; for CONNACK the engine decides, since
// Response Information is sent only on request [MQTT-3.1.2-28]).
func Encode(buf *bytes.Buffer, pk *packets.Packet) (int, error) {
	start := buf.Len()
	if pk.FixedHeader.Type != packets.Connack {
		pk.Mods.AllowResponseInfo = true
	}
	if typ := pk.FixedHeader.Type; typ != packets.Publish {
		// Mochi builds byte 1 from these fields; outside PUBLISH the spec
		// fixes them: 0010 for PUBREL, SUBSCRIBE, UNSUBSCRIBE, else 0000.
		pk.FixedHeader.Dup, pk.FixedHeader.Retain, pk.FixedHeader.Qos = false, false, 0
		if typ == packets.Pubrel || typ == packets.Subscribe || typ == packets.Unsubscribe {
			pk.FixedHeader.Qos = 1
		}
	}
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(buf)
	case packets.Connack:
		err = pk.ConnackEncode(buf)
	case packets.Publish:
		err = pk.PublishEncode(buf)
	case packets.Puback:
		err = pk.PubackEncode(buf)
	case packets.Pubrec:
		err = pk.PubrecEncode(buf)
	case packets.Pubrel:
		err = pk.PubrelEncode(buf)
	case packets.Pubcomp:
		err = pk.PubcompEncode(buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(buf)
	case packets.Suback:
		err = pk.SubackEncode(buf)
	case packets.Unsubscribe:
		err = pk.UnsubscribeEncode(buf)
	case packets.Unsuback:
		err = pk.UnsubackEncode(buf)
	case packets.Pingreq:
		err = pk.PingreqEncode(buf)
	case packets.Pingresp:
		err = pk.PingrespEncode(buf)
	case packets.Disconnect:
		err = pk.DisconnectEncode(buf)
	case packets.Auth:
		err = pk.AuthEncode(buf)
	default:
		err = &Error{Reason: ReasonUnspecified, Type: pk.FixedHeader.Type,
			Err: fmt.Errorf("encode: %w: type %d", packets.ErrNoValidPacketAvailable, pk.FixedHeader.Type)}
	}
	if err != nil {
		buf.Truncate(start)
		var e *Error
		if errors.As(err, &e) {
			return 0, err
		}
		var code packets.Code
		if errors.As(err, &code) {
			return 0, &Error{Reason: code.Code, Type: pk.FixedHeader.Type, Err: fmt.Errorf("encode: %w", err)}
		}
		return 0, &Error{Reason: ReasonUnspecified, Type: pk.FixedHeader.Type, Err: fmt.Errorf("encode: %w", err)}
	}
	if isAck(pk.FixedHeader.Type) && pk.ProtocolVersion == 5 && pk.ReasonCode != 0 && pk.FixedHeader.Remaining == 2 {
		// Mochi writes the reason code only from 0x80 up or with
		// properties, losing e.g. PUBACK 0x10 No matching subscribers.
		// MQTT 5.0 §3.4.2.1 allows omitting it only when it is 0x00.
		buf.Truncate(start)
		pk.FixedHeader.Remaining = 3
		pk.FixedHeader.Encode(buf)
		buf.Write([]byte{byte(pk.PacketID >> 8), byte(pk.PacketID), pk.ReasonCode})
	}
	n := buf.Len() - start
	if pk.Mods.MaxSize > 0 && n > int(pk.Mods.MaxSize) {
		buf.Truncate(start)
		return n, &Error{Reason: ReasonTooLarge, Type: pk.FixedHeader.Type,
			Err: fmt.Errorf("encoded size %d exceeds the peer's maximum packet size %d", n, pk.Mods.MaxSize)}
	}
	return n, nil
}

// isAck reports whether typ is PUBACK, PUBREC, PUBREL or PUBCOMP.
func isAck(typ byte) bool {
	return typ >= packets.Puback && typ <= packets.Pubcomp
}
