package mqtt

// Shared helpers of the MQTT 3.1.1 conformance tests
// (conformance_v311_*_test.go). Each test names the normative statement it
// proves, [MQTT-x.y.z-n], in its function or subtest name; the list of
// statements and the test for each is docs/mqtt-conformance.md.
//
// Every helper here is prefixed v311 so that it cannot collide with the
// MQTT 5.0 conformance helpers in the same package.

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

const (
	// v311Closes bounds the wait for the server to close a connection
	// after a protocol violation.
	v311Closes = 3 * time.Second
	// v311Quiet is how long a test listens to prove that nothing arrives.
	v311Quiet = 100 * time.Millisecond
)

// v311RawCase is a packet, as raw bytes, that the server must answer by
// closing the connection; name is "MQTT-x.y.z-n/<case>".
type v311RawCase struct {
	name string
	raw  []byte
}

// v311Field encodes s as an MQTT UTF-8 string (or binary data): a two-byte
// big-endian length followed by the bytes, which are not checked, so tests
// can send ill-formed strings.
func v311Field(s string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(s))), s...)
}

// v311Frame builds a control packet from its first byte and its body parts,
// computing the Remaining Length.
func v311Frame(header byte, body ...[]byte) []byte {
	var b []byte
	for _, p := range body {
		b = append(b, p...)
	}
	out := []byte{header}
	n := len(b)
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		out = append(out, d)
		if n == 0 {
			break
		}
	}
	return append(out, b...)
}

// v311RawConnect builds a 3.1.1 CONNECT with the given connect flags and
// keep alive, and payload fields written as given (each already encoded).
func v311RawConnect(flags byte, keepAlive uint16, payload ...[]byte) []byte {
	return v311RawConnectAs("MQTT", 4, flags, keepAlive, payload...)
}

// v311RawConnectAs is v311RawConnect with another protocol name and level.
func v311RawConnectAs(name string, level, flags byte, keepAlive uint16, payload ...[]byte) []byte {
	vh := append(v311Field(name), level, flags)
	vh = binary.BigEndian.AppendUint16(vh, keepAlive)
	return v311Frame(0x10, append([][]byte{vh}, payload...)...)
}

// v311Connect dials ts and connects a clean-session 3.1.1 client whose
// identifier is derived from the test name and suffix.
func v311Connect(t *testing.T, ts *testServer, suffix string) *mqtttest.Conn {
	t.Helper()
	c := mqtttest.Dial(t, ts.addr, mqtttest.V311)
	c.MustConnect(mqtttest.ConnectOptions{ClientID: v311ID(t, suffix), Clean: true})
	return c
}

// v311Persistent dials ts and connects a 3.1.1 client with Clean Session 0
// under id, returning the connection and the CONNACK.
func v311Persistent(t *testing.T, ts *testServer, id string) (*mqtttest.Conn, *packets.Packet) {
	t.Helper()
	c := mqtttest.Dial(t, ts.addr, mqtttest.V311)
	ack := c.MustConnect(mqtttest.ConnectOptions{ClientID: id})
	return c, ack
}

// v311ID is a new client identifier derived from the test name and suffix;
// every call returns a different one.
func v311ID(t *testing.T, suffix string) string {
	id := mqtttest.ClientID(t)
	if len(id)+len(suffix) > 23 {
		id = id[len(id)+len(suffix)-23:]
	}
	return id + suffix
}

// v311ExpectDropped requires the server to close c without sending any
// packet first (3.1.1 has no server DISCONNECT: a violation is answered by
// closing the network connection). why names the statement.
func v311ExpectDropped(t *testing.T, c *mqtttest.Conn, why string) {
	t.Helper()
	kind, frames := c.WaitClosed(v311Closes)
	if !kind.ClosedByBroker() {
		t.Fatalf("%s: the server did not close the connection (%v)", why, kind)
	}
	for _, f := range frames {
		t.Fatalf("%s: the server sent %v before closing, want nothing", why, f)
	}
}

// v311ExpectRefused requires a CONNACK with return code rc and Session
// Present 0, then the close ([MQTT-3.2.2-4], [MQTT-3.2.2-5]).
func v311ExpectRefused(t *testing.T, c *mqtttest.Conn, rc byte, why string) {
	t.Helper()
	kind, frames := c.WaitClosed(v311Closes)
	if !kind.ClosedByBroker() {
		t.Fatalf("%s: the server did not close the connection after refusing it (%v)", why, kind)
	}
	if len(frames) != 1 || frames[0].Type() != packets.Connack {
		t.Fatalf("%s: got %v before the close, want exactly one CONNACK", why, frames)
	}
	body := frames[0].Body
	if len(body) != 2 || body[0] != 0 || body[1] != rc {
		t.Fatalf("%s: CONNACK body % x, want 00 %02x (Session Present 0, return code %#x)", why, body, rc, rc)
	}
}

// v311Received reads n PUBLISH packets from c (acknowledging each) and
// returns them.
func v311Received(t *testing.T, c *mqtttest.Conn, n int) []*packets.Packet {
	t.Helper()
	var got []*packets.Packet
	for len(got) < n {
		pk, err := c.AwaitType(packets.Publish, waitLong)
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", len(got), n, err)
		}
		c.MustAcknowledge(pk)
		got = append(got, pk)
	}
	return got
}

// v311MosquittoLenient lists the cases of the malformed-packet tables on
// which Mosquitto (2.x) is more lenient than the specification: it ignores
// reserved fixed-header flags of PINGREQ, PUBACK, PUBREC and PUBCOMP
// ([MQTT-2.2.2-2]) and a SUBACK sent by a client.
var v311MosquittoLenient = map[string]bool{
	"MQTT-2.2.2-2/pingreq-flags":             true,
	"MQTT-2.2.2-2/puback-flags":              true,
	"MQTT-2.2.2-2/pubrec-flags":              true,
	"MQTT-2.2.2-2/pubcomp-flags":             true,
	"MQTT-4.8.0-1/server-only-packet-suback": true,
}

// The malformed-packet tables are checked against a reference broker: a
// private Mosquitto closes the connection, without answering, on every case
// but the few where it is known to be lenient. This keeps the tables honest
// (each case is a real violation, built correctly), independently of the
// engine.
func TestV311MalformedTablesAgainstMosquitto(t *testing.T) {
	addr := mqtttest.StartMosquitto(t)
	for _, table := range []struct {
		cases   []v311RawCase
		connect bool
	}{
		{v311MalformedConnectCases(), false},
		{v311MalformedAfterConnectCases(), true},
		{v311InvalidPublishCases(), true},
		{v311InvalidSubscribeCases(), true},
	} {
		for _, tc := range table.cases {
			if v311MosquittoLenient[tc.name] {
				continue
			}
			t.Run(tc.name, func(t *testing.T) {
				c := mqtttest.Dial(t, addr, mqtttest.V311)
				if table.connect {
					c.MustConnect(mqtttest.ConnectOptions{ClientID: v311ID(t, ""), Clean: true})
				}
				c.SendRaw(tc.raw)
				v311ExpectDropped(t, c, "Mosquitto, "+tc.name)
			})
		}
	}
}
