package packet

import (
	"fmt"

	"github.com/mochi-mqtt/server/v2/packets"
)

// MQTT v5 property data types (§2.2.2.2).
type propKind uint8

const (
	propByte propKind = iota + 1
	propUint16
	propUint32
	propVarint
	propString
	propBinary
	propPair
)

// willScope stands for the will properties of CONNECT in propInfo.scope
// (bit 0, which no packet type uses).
const willScope = 0

// propInfo describes one property identifier: its data type and the packet
// types (bit 1<<type, bit 0 for will properties) it may appear in.
type propInfo struct {
	kind  propKind
	scope uint16
}

func scope(types ...byte) uint16 {
	var s uint16
	for _, t := range types {
		s |= 1 << t
	}
	return s
}

// propTable is indexed by property identifier; kind 0 means unknown.
// Source: MQTT 5.0 §2.2.2.2 Table 2-4.
var propTable = [43]propInfo{
	packets.PropPayloadFormat:          {propByte, scope(packets.Publish, willScope)},
	packets.PropMessageExpiryInterval:  {propUint32, scope(packets.Publish, willScope)},
	packets.PropContentType:            {propString, scope(packets.Publish, willScope)},
	packets.PropResponseTopic:          {propString, scope(packets.Publish, willScope)},
	packets.PropCorrelationData:        {propBinary, scope(packets.Publish, willScope)},
	packets.PropSubscriptionIdentifier: {propVarint, scope(packets.Publish, packets.Subscribe)},
	packets.PropSessionExpiryInterval:  {propUint32, scope(packets.Connect, packets.Connack, packets.Disconnect)},
	packets.PropAssignedClientID:       {propString, scope(packets.Connack)},
	packets.PropServerKeepAlive:        {propUint16, scope(packets.Connack)},
	packets.PropAuthenticationMethod:   {propString, scope(packets.Connect, packets.Connack, packets.Auth)},
	packets.PropAuthenticationData:     {propBinary, scope(packets.Connect, packets.Connack, packets.Auth)},
	packets.PropRequestProblemInfo:     {propByte, scope(packets.Connect)},
	packets.PropWillDelayInterval:      {propUint32, scope(willScope)},
	packets.PropRequestResponseInfo:    {propByte, scope(packets.Connect)},
	packets.PropResponseInfo:           {propString, scope(packets.Connack)},
	packets.PropServerReference:        {propString, scope(packets.Connack, packets.Disconnect)},
	packets.PropReasonString: {propString, scope(packets.Connack, packets.Puback, packets.Pubrec, packets.Pubrel,
		packets.Pubcomp, packets.Suback, packets.Unsuback, packets.Disconnect, packets.Auth)},
	packets.PropReceiveMaximum:    {propUint16, scope(packets.Connect, packets.Connack)},
	packets.PropTopicAliasMaximum: {propUint16, scope(packets.Connect, packets.Connack)},
	packets.PropTopicAlias:        {propUint16, scope(packets.Publish)},
	packets.PropMaximumQos:        {propByte, scope(packets.Connack)},
	packets.PropRetainAvailable:   {propByte, scope(packets.Connack)},
	packets.PropUser: {propPair, scope(packets.Connect, packets.Connack, packets.Publish, packets.Puback,
		packets.Pubrec, packets.Pubrel, packets.Pubcomp, packets.Subscribe, packets.Suback, packets.Unsubscribe,
		packets.Unsuback, packets.Disconnect, packets.Auth, willScope)},
	packets.PropMaximumPacketSize:    {propUint32, scope(packets.Connect, packets.Connack)},
	packets.PropWildcardSubAvailable: {propByte, scope(packets.Connack)},
	packets.PropSubIDAvailable:       {propByte, scope(packets.Connack)},
	packets.PropSharedSubAvailable:   {propByte, scope(packets.Connack)},
}

// uvarint decodes an MQTT Variable Byte Integer (§1.5.5) of at most four
// bytes at b[off:]. ok is false if b ends first or a fifth byte would be
// needed.
func uvarint(b []byte, off int) (v, next int, ok bool) {
	for i := 0; i < 4; i++ {
		if off+i >= len(b) {
			return 0, 0, false
		}
		c := b[off+i]
		v |= int(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v, off + i + 1, true
		}
	}
	return 0, 0, false
}

// u16 reads a big-endian two-byte integer at b[off:].
func u16(b []byte, off int) (int, bool) {
	if off < 0 || off+2 > len(b) {
		return 0, false
	}
	return int(b[off])<<8 | int(b[off+1]), true
}

// scanProperties checks the v5 property block starting at b[off] for a
// packet of type typ (willScope for will properties) and returns the offset
// after it. Mochi's decoder lets a property run past the declared block
// length, accepts duplicates and never range-checks values; this scan runs
// first so that those packets are refused with the category MQTT 5.0 gives
// them:
//
//   - block or value running past its bounds, unknown identifier, or an
//     identifier not allowed in this packet: Malformed (§2.2.2.2);
//   - a property other than User Property (and Subscription Identifier in
//     PUBLISH) given twice, a value outside its range, or Authentication
//     Data without Authentication Method: Protocol Error (§3.x.2.x).
func scanProperties(b []byte, off int, typ byte) (int, error) {
	pkt := typ
	if typ == willScope {
		pkt = packets.Connect
	}
	length, start, ok := uvarint(b, off)
	if !ok || start+length > len(b) {
		return 0, malformed(pkt, "property length at offset %d does not fit the packet", off)
	}
	end := start + length
	var seen uint64
	for p := start; p < end; {
		id := b[p]
		p++
		if int(id) >= len(propTable) || propTable[id].kind == 0 {
			return 0, malformed(pkt, "unknown property identifier 0x%02X", id)
		}
		info := propTable[id]
		if info.scope&(1<<typ) == 0 {
			return 0, malformed(pkt, "property 0x%02X is not allowed here", id)
		}
		if seen&(1<<id) != 0 && id != packets.PropUser && !(id == packets.PropSubscriptionIdentifier && typ == packets.Publish) {
			return 0, protocolErr(pkt, "property 0x%02X given more than once", id)
		}
		seen |= 1 << id
		var value int
		switch info.kind {
		case propByte:
			if p+1 > end {
				return 0, malformed(pkt, "property 0x%02X runs past the property block", id)
			}
			value = int(b[p])
			p++
		case propUint16:
			value, ok = u16(b[:end], p)
			p += 2
		case propUint32:
			ok = p+4 <= end
			if ok {
				value = int(b[p])<<24 | int(b[p+1])<<16 | int(b[p+2])<<8 | int(b[p+3])
			}
			p += 4
		case propVarint:
			value, p, ok = uvarint(b[:end], p)
		case propString, propBinary:
			var n int
			n, ok = u16(b[:end], p)
			p += 2 + n
			ok = ok && p <= end
		case propPair:
			for range 2 {
				var n int
				n, ok = u16(b[:end], p)
				p += 2 + n
				if ok = ok && p <= end; !ok {
					break
				}
			}
		}
		if !ok {
			return 0, malformed(pkt, "property 0x%02X runs past the property block", id)
		}
		if err := checkPropertyValue(pkt, id, value); err != nil {
			return 0, err
		}
	}
	if seen&(1<<packets.PropAuthenticationData) != 0 && seen&(1<<packets.PropAuthenticationMethod) == 0 {
		return 0, protocolErr(pkt, "authentication data without authentication method")
	}
	return end, nil
}

// checkPropertyValue applies the value ranges MQTT 5.0 calls a Protocol
// Error to violate. Topic Alias 0 is left to mochi's PublishValidate, which
// reports it as 0x94 Topic Alias invalid as §3.3.2.3.4 asks.
func checkPropertyValue(pkt, id byte, v int) error {
	bad := false
	switch id {
	case packets.PropRequestProblemInfo, packets.PropRequestResponseInfo, packets.PropMaximumQos,
		packets.PropRetainAvailable, packets.PropWildcardSubAvailable, packets.PropSubIDAvailable,
		packets.PropSharedSubAvailable, packets.PropPayloadFormat:
		bad = v > 1
	case packets.PropReceiveMaximum, packets.PropMaximumPacketSize, packets.PropSubscriptionIdentifier:
		bad = v == 0
	}
	if bad {
		return &Error{Reason: ReasonProtocol, Type: pkt, Err: fmt.Errorf("property 0x%02X has invalid value %d", id, v)}
	}
	return nil
}
