package packet

import "github.com/mochi-mqtt/server/v2/packets"

// checkLayout runs the structural checks mochi's decoders skip, on the body
// of a packet whose fixed header has been decoded. version is the
// connection's protocol version (CONNECT carries its own). Where the body is
// too short to find a field, checkLayout returns nil and leaves the error to
// mochi, which bounds-checks every read except the one noted for SUBSCRIBE.
func checkLayout(fh *packets.FixedHeader, body []byte, version byte) error {
	typ := fh.Type
	n := len(body)
	switch typ {
	case packets.Pingreq, packets.Pingresp:
		if n != 0 {
			return malformed(typ, "remaining length %d, want 0", n)
		}
		return nil
	}
	if typ == packets.Connect {
		return checkConnect(body)
	}
	if version != 5 {
		// 3.1 / 3.1.1 fixed-length packets: anything else is not the packet
		// the spec describes (3.1.1 §3.2-3.14).
		want := -1
		switch typ {
		case packets.Connack, packets.Puback, packets.Pubrec, packets.Pubrel, packets.Pubcomp, packets.Unsuback:
			want = 2
		case packets.Disconnect:
			want = 0
		}
		if want >= 0 && n != want {
			return malformed(typ, "remaining length %d, want %d", n, want)
		}
		if typ == packets.Subscribe {
			return checkSubscribePayload(body, 2, version)
		}
		return nil
	}
	var err error
	switch typ {
	case packets.Connack, packets.Subscribe, packets.Suback, packets.Unsubscribe, packets.Unsuback:
		if n < 2 {
			return nil
		}
		var end int
		if end, err = scanProperties(body, 2, typ); err == nil && typ == packets.Subscribe {
			err = checkSubscribePayload(body, end, version)
		}
	case packets.Publish:
		tl, ok := u16(body, 0)
		off := 2 + tl
		if fh.Qos > 0 {
			off += 2
		}
		if ok && off <= n {
			_, err = scanProperties(body, off, typ)
		}
	case packets.Puback, packets.Pubrec, packets.Pubrel, packets.Pubcomp:
		if n > 3 {
			_, err = scanProperties(body, 3, typ)
		}
	case packets.Disconnect, packets.Auth:
		if n > 1 {
			_, err = scanProperties(body, 1, typ)
		}
	}
	return err
}

// checkConnect scans the v5 CONNECT and will property blocks, and checks
// the fields 5.0 makes a Malformed Packet to break: the reserved flag is 0
// [MQTT-3.1.2-3], and the payload holds exactly the fields the flags
// announce, so bytes left after them (a will, user name or password sent
// without its flag) are refused [MQTT-3.1.2-16] [MQTT-3.1.2-18].
//
//	protocol name (2+n) | version (1) | flags (1) | keepalive (2) | properties | client id (2+n) | will properties | ...
func checkConnect(body []byte) error {
	nameLen, ok := u16(body, 0)
	off := 2 + nameLen
	if !ok || off+4 > len(body) || body[off] != 5 {
		return nil
	}
	flags := body[off+1]
	if flags&0x01 != 0 {
		return malformed(packets.Connect, "reserved connect flag is set")
	}
	end, err := scanProperties(body, off+4, packets.Connect)
	if err != nil {
		return err
	}
	idLen, ok := u16(body, end)
	if off = end + 2 + idLen; !ok || off > len(body) {
		return nil
	}
	fields := 0 // length-prefixed fields after the client id (and will properties)
	if flags&0x04 != 0 {
		if off, err = scanProperties(body, off, willScope); err != nil {
			return err
		}
		fields += 2 // will topic, will payload
	}
	if flags&0x80 != 0 {
		fields++
	}
	if flags&0x40 != 0 {
		fields++
	}
	for range fields {
		n, ok := u16(body, off)
		if !ok {
			return nil // short: mochi reports it
		}
		off += 2 + n
	}
	if off < len(body) {
		return malformed(packets.Connect, "%d bytes after the fields the connect flags announce", len(body)-off)
	}
	return nil
}

// checkSubscribePayload walks the (filter, options) pairs from off. Every
// pair must be complete (mochi's v5 decoder indexes past the end of the
// body otherwise), and the options byte is checked as the specs require:
// 3.1.1 [MQTT-3.8.3-4] upper six bits zero, QoS 0-2, else malformed;
// 5.0 [MQTT-3.8.3-5] bits 6-7 zero else malformed, QoS 3 or Retain
// Handling 3 is a Protocol Error (§3.8.3.1).
func checkSubscribePayload(body []byte, off int, version byte) error {
	const typ = packets.Subscribe
	for off < len(body) {
		n, ok := u16(body, off)
		if !ok || off+2+n >= len(body) {
			return malformed(typ, "topic filter at offset %d has no options byte", off)
		}
		off += 2 + n
		opt := body[off]
		off++
		if version != 5 {
			if opt&0xfc != 0 || opt&0x03 == 3 {
				return malformed(typ, "requested QoS byte 0x%02X", opt)
			}
			continue
		}
		switch {
		case opt&0xc0 != 0:
			return malformed(typ, "reserved subscription option bits set in 0x%02X", opt)
		case opt&0x03 == 3:
			return protocolErr(typ, "maximum QoS 3 in subscription options")
		case (opt>>4)&0x03 == 3:
			return protocolErr(typ, "retain handling 3 in subscription options")
		}
	}
	return nil
}
