// Package packet reads and writes MQTT 3.1, 3.1.1 and 5.0 control packets.
// It is a thin adapter over github.com/mochi-mqtt/server/v2/packets, which
// holds the per-type codecs and the packets.Packet type the engine works
// with. This package adds what a server's connection loop needs around
// them: framing with a size limit enforced before any body is allocated,
// the structural checks mochi skips, errors typed by MQTT reason code, and
// clear memory ownership. It is pure: no I/O beyond io.Reader/bytes.Buffer,
// nothing else of ours imported.
//
// # Wire format
//
// Every packet is a fixed header followed by Remaining Length bytes:
//
//	 bit   7   6   5   4   3   2   1   0
//	     +---------------+---------------+
//	byte1| packet type   | flags         |   PUBLISH flags: DUP, QoS(2), RETAIN
//	     +---------------+---------------+
//	     | Remaining Length: 1-4 bytes, 7 bits each, least significant
//	     | first, high bit = "another byte follows" (max 268,435,455)
//	     +-------------------------------+
//	     | variable header | [v5 properties] | payload   (Remaining Length bytes)
//	     +-------------------------------+
//
//	v5 property block:  Property Length (Variable Byte Integer) | (identifier | value)*
//
// Total packet size, as MQTT 5.0 Maximum Packet Size counts it, is
// 1 + len(Remaining Length) + Remaining Length. The Reader refuses a packet
// above its limit after reading at most five header bytes, with ErrTooLarge
// (reason 0x95; a 3.1.1 server just closes the connection).
//
// # Errors
//
// Every refusal is an *Error carrying the reason code to send, matched by
// errors.Is against ErrMalformed (0x81), ErrProtocol (0x82) or ErrTooLarge
// (0x95); validators may return other codes (0x84, 0x85, 0x94 ...). The
// split follows MQTT 5.0 §4.13 and the per-packet text: bytes that do not
// parse are Malformed, well-formed packets that break a rule are a Protocol
// Error. For 3.1/3.1.1 both mean "close the connection".
//
// # Ownership
//
// Decoded packets alias their body bytes (mochi decodes without copying);
// Reader gives each such packet a body of its own and reuses a buffer only
// for packets that decode into plain values. See Reader.
package packet
