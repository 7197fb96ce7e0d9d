package mqtt

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// MQTT 3.1.1 conformance: data representation (1.5.3), fixed-header flags
// (2.2.2), CONNECT (3.1), CONNACK (3.2) and DISCONNECT (3.14).

// v311Policy is a test Policy: it refuses connections with refuse (a v5
// reason code) when non-zero, and denies publishing to topics starting
// with denyPrefix.
type v311Policy struct {
	refuse     byte
	denyPrefix string
}

func (p v311Policy) Connect(_ *config.Config, info ConnInfo) (Client, byte) {
	if p.refuse != 0 {
		return nil, p.refuse
	}
	return v311PolicyClient{configClient{endpoint: info.Endpoint}, p.denyPrefix}, 0
}

type v311PolicyClient struct {
	configClient
	denyPrefix string
}

func (c v311PolicyClient) MayPublish(_ *config.Config, topic string) bool {
	return c.denyPrefix == "" || !strings.HasPrefix(topic, c.denyPrefix)
}

// v311WithUser configures the messaging user "u311" with password "p311".
func v311WithUser(t *testing.T) func(*testServer) {
	return func(ts *testServer) {
		h, err := config.HashPassword("p311")
		if err != nil {
			t.Fatal(err)
		}
		if ts.cfg.Users == nil {
			ts.cfg.Users = map[string]*config.User{}
		}
		ts.cfg.Users["u311"] = &config.User{Name: "u311", Password: h}
	}
}

// v311MalformedConnectCases lists CONNECT packets a server must drop without a CONNACK
// (user "u311" with password "p311" exists).
func v311MalformedConnectCases() []v311RawCase {
	id := v311Field("malformed")
	return []v311RawCase{
		{"MQTT-1.5.3-1/client-id-ill-formed", v311RawConnect(0x02, 0, v311Field("a\xc3\x28b"))},
		{"MQTT-1.5.3-1/client-id-surrogate", v311RawConnect(0x02, 0, v311Field("a\xed\xa0\x80b"))},
		{"MQTT-1.5.3-2/client-id-nul", v311RawConnect(0x02, 0, v311Field("a\x00b"))},
		{"MQTT-3.1.2-3/reserved-flag", v311RawConnect(0x03, 0, id)},
		{"MQTT-3.1.2-9/will-flag-without-will-fields", v311RawConnect(0x06, 0, id)},
		{"MQTT-3.1.2-9/will-flag-without-will-message", v311RawConnect(0x06, 0, id, v311Field("w/t"))},
		{"MQTT-3.1.2-11/will-fields-without-will-flag", v311RawConnect(0x02, 0, id, v311Field("w/t"), v311Field("m"))},
		{"MQTT-3.1.2-13/will-qos-without-will-flag", v311RawConnect(0x0a, 0, id)},
		{"MQTT-3.1.2-14/will-qos-3", v311RawConnect(0x1e, 0, id, v311Field("w/t"), v311Field("m"))},
		{"MQTT-3.1.2-15/will-retain-without-will-flag", v311RawConnect(0x22, 0, id)},
		{"MQTT-3.1.2-18/user-name-without-flag", v311RawConnect(0x02, 0, id, v311Field("u311"))},
		{"MQTT-3.1.2-19/user-name-flag-without-user-name", v311RawConnect(0x82, 0, id)},
		{"MQTT-3.1.2-20/password-without-flag", v311RawConnect(0x82, 0, id, v311Field("u311"), v311Field("p311"))},
		{"MQTT-3.1.2-21/password-flag-without-password", v311RawConnect(0xc2, 0, id, v311Field("u311"))},
		{"MQTT-3.1.2-22/password-without-user-name", v311RawConnect(0x42, 0, id, v311Field("p311"))},
		{"MQTT-3.1.3-3/no-client-id", v311RawConnect(0x02, 0)},
		{"MQTT-3.1.3-4/client-id-not-utf8", v311RawConnect(0x02, 0, v311Field("\xff\xfe"))},
		{"MQTT-3.1.3-10/will-topic-not-utf8", v311RawConnect(0x06, 0, id, v311Field("w/\xc3\x28"), v311Field("m"))},
		{"MQTT-3.1.3-11/user-name-not-utf8", v311RawConnect(0xc2, 0, id, v311Field("u\xed\xbf\xbf"), v311Field("p311"))},
		{"MQTT-3.1.4-1/truncated-variable-header", v311Frame(0x10, v311Field("MQTT"), []byte{4})},
		{"MQTT-3.2.2-6/client-id-length-overruns-packet", v311RawConnect(0x02, 0, []byte{0, 20, 'a'})},
	}
}

// v311MalformedAfterConnectCases lists packets that, sent after an accepted CONNECT,
// make a server close the connection.
func v311MalformedAfterConnectCases() []v311RawCase {
	pid := []byte{0, 1}
	return []v311RawCase{
		{"MQTT-1.5.3-1/publish-topic-ill-formed", v311Frame(0x30, v311Field("a/\xc3\x28"), []byte("x"))},
		{"MQTT-1.5.3-1/publish-topic-surrogate", v311Frame(0x30, v311Field("a/\xed\xa0\x80"), []byte("x"))},
		{"MQTT-1.5.3-1/subscribe-filter-surrogate", v311Frame(0x82, pid, v311Field("a/\xed\xb0\x80"), []byte{0})},
		{"MQTT-1.5.3-1/unsubscribe-filter-ill-formed", v311Frame(0xa2, pid, v311Field("a/\xc0\xaf"))},
		{"MQTT-1.5.3-2/publish-topic-nul", v311Frame(0x30, v311Field("a/\x00"), []byte("x"))},
		{"MQTT-1.5.3-2/subscribe-filter-nul", v311Frame(0x82, pid, v311Field("a\x00/#"), []byte{0})},
		{"MQTT-2.2.2-2/pingreq-flags", []byte{0xc1, 0}},
		{"MQTT-2.2.2-2/puback-flags", []byte{0x42, 2, 0, 1}},
		{"MQTT-2.2.2-2/pubrec-flags", []byte{0x58, 2, 0, 1}},
		{"MQTT-2.2.2-2/pubcomp-flags", []byte{0x71, 2, 0, 1}},
		{"MQTT-3.6.1-1/pubrel-flags-0000", []byte{0x60, 2, 0, 1}},
		{"MQTT-3.6.1-1/pubrel-flags-0011", []byte{0x63, 2, 0, 1}},
		{"MQTT-3.8.1-1/subscribe-flags-0000", v311Frame(0x80, pid, v311Field("a/b"), []byte{0})},
		{"MQTT-3.8.1-1/subscribe-flags-1010", v311Frame(0x8a, pid, v311Field("a/b"), []byte{0})},
		{"MQTT-3.10.1-1/unsubscribe-flags-0000", v311Frame(0xa0, pid, v311Field("a/b"))},
		{"MQTT-3.10.1-1/unsubscribe-flags-0011", v311Frame(0xa3, pid, v311Field("a/b"))},
		{"MQTT-3.14.1-1/disconnect-flags", []byte{0xe4, 0}},
		{"MQTT-3.14.1-1/disconnect-with-body", []byte{0xe0, 1, 0}},
		{"MQTT-3.1.0-2/second-connect", v311RawConnect(0x02, 0, v311Field("second"))},
		{"MQTT-4.8.0-1/server-only-packet-connack", []byte{0x20, 2, 0, 0}},
		{"MQTT-4.8.0-1/server-only-packet-suback", []byte{0x90, 3, 0, 1, 0}},
		{"MQTT-4.8.0-1/reserved-type-0", []byte{0x00, 0}},
		{"MQTT-4.8.0-1/reserved-type-15", []byte{0xf0, 0}},
		{"MQTT-4.8.0-1/remaining-length-of-5-bytes", []byte{0xc0, 0x80, 0x80, 0x80, 0x80, 0x01}},
	}
}

// Ill-formed strings, strings with U+0000 and, in CONNECT, fields the flags
// do not announce or that are missing: the server closes the connection
// without a CONNACK ([MQTT-3.1.4-1]) and processes nothing.
func TestV311MalformedConnect(t *testing.T) {
	t.Parallel()
	ts := startServer(t, v311WithUser(t))
	for _, tc := range v311MalformedConnectCases() {
		t.Run(tc.name, func(t *testing.T) {
			c := mqtttest.Dial(t, ts.addr, mqtttest.V311)
			if err := c.SendRaw(tc.raw); err != nil {
				t.Fatal(err)
			}
			v311ExpectDropped(t, c, tc.name)
		})
	}
}

// After CONNECT, a packet carrying an ill-formed string, U+0000 or invalid
// fixed-header flags is a protocol violation: the server closes the
// connection ([MQTT-2.2.2-2], [MQTT-4.8.0-1]).
func TestV311MalformedAfterConnect(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	for _, tc := range v311MalformedAfterConnectCases() {
		t.Run(tc.name, func(t *testing.T) {
			c := v311Connect(t, ts, "")
			if err := c.SendRaw(tc.raw); err != nil {
				t.Fatal(err)
			}
			v311ExpectDropped(t, c, tc.name)
		})
	}
}

// [MQTT-1.5.3-3]: EF BB BF in a topic is U+FEFF, kept and matched as is.
func TestV311_1_5_3_3(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	const bomTopic = "bom/\ufeffx"
	sub := v311Connect(t, ts, "s")
	sub.MustSubscribe(mqtttest.Sub(bomTopic, 0))
	plain := v311Connect(t, ts, "p")
	plain.MustSubscribe(mqtttest.Sub("bom/x", 0))
	pub := v311Connect(t, ts, "pub")
	pub.MustPublish(bomTopic, []byte("m"), 0, false)
	got := sub.ExpectMessage(bomTopic, []byte("m"))
	if !bytes.Equal([]byte(got.TopicName), []byte{'b', 'o', 'm', '/', 0xef, 0xbb, 0xbf, 'x'}) {
		t.Fatalf("[MQTT-1.5.3-3] topic arrived as % x, want the BOM kept", got.TopicName)
	}
	plain.ExpectNothing(v311Quiet)
}

// [MQTT-2.2.2-1]: every packet the server sends carries the fixed-header
// flags of the flag table (0010 for PUBREL, 0000 for the others that have
// no flags).
func TestV311_2_2_2_1(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	c := mqtttest.Dial(t, ts.addr, mqtttest.V311)
	want := map[byte]byte{
		packets.Connack: 0, packets.Suback: 0, packets.Unsuback: 0, packets.Puback: 0,
		packets.Pubrec: 0, packets.Pubrel: 2, packets.Pubcomp: 0, packets.Pingresp: 0,
	}
	check := func(f mqtttest.Frame) {
		t.Helper()
		if w, ok := want[f.Type()]; ok && f.Flags() != w {
			t.Fatalf("[MQTT-2.2.2-1] %s sent with flags %04b, want %04b", mqtttest.TypeName(f.Type()), f.Flags(), w)
		}
		delete(want, f.Type())
	}
	// step sends pk, then reads frames (answering the server's PUBLISH,
	// PUBREC and PUBREL) until each type in until has arrived.
	step := func(pk *packets.Packet, until ...byte) {
		t.Helper()
		c.MustSend(pk)
		for len(until) > 0 {
			f, err := c.NextFrame(waitLong)
			if err != nil {
				t.Fatalf("waiting for %v: %v", until, err)
			}
			check(f)
			switch f.Type() {
			case packets.Publish:
				if f.Flags()&0x06 == 0x02 {
					c.MustSend(mqtttest.AckPacket(packets.Puback, v311FramePID(f), 0))
				} else {
					c.MustSend(mqtttest.AckPacket(packets.Pubrec, v311FramePID(f), 0))
				}
			case packets.Pubrec:
				c.MustSend(mqtttest.AckPacket(packets.Pubrel, v311FramePID(f), 0))
			case packets.Pubrel:
				c.MustSend(mqtttest.AckPacket(packets.Pubcomp, v311FramePID(f), 0))
			}
			for i, u := range until {
				if u == f.Type() {
					until = append(until[:i], until[i+1:]...)
					break
				}
			}
		}
	}
	step(mqtttest.ConnectPacket(mqtttest.ConnectOptions{ClientID: v311ID(t, ""), Clean: true}, 4), packets.Connack)
	step(c.SubscribePacket(mqtttest.Sub("flags/+", 2)), packets.Suback)
	step(c.PublishPacket("flags/1", []byte("x"), 1, false), packets.Puback, packets.Publish)
	step(c.PublishPacket("flags/2", []byte("x"), 2, false), packets.Pubrec, packets.Pubcomp, packets.Pubrel)
	step(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe}, PacketID: 9,
		Filters: packets.Subscriptions{{Filter: "flags/+"}}}, packets.Unsuback)
	step(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}}, packets.Pingresp)
	if len(want) != 0 {
		t.Fatalf("never saw %v", want)
	}
}

// v311FramePID reads the packet identifier at the start of an ack's body, or
// after the topic of a PUBLISH.
func v311FramePID(f mqtttest.Frame) uint16 {
	b := f.Body
	if f.Type() == packets.Publish {
		n := int(b[0])<<8 | int(b[1])
		b = b[2+n:]
	}
	return uint16(b[0])<<8 | uint16(b[1])
}

// [MQTT-3.1.0-1]: a first packet other than CONNECT closes the connection
// without an answer.
func TestV311_3_1_0_1(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	for name, raw := range map[string][]byte{
		"pingreq":   {0xc0, 0},
		"publish":   v311Frame(0x30, v311Field("a/b"), []byte("x")),
		"subscribe": v311Frame(0x82, []byte{0, 1}, v311Field("a/b"), []byte{0}),
		"connack":   {0x20, 2, 0, 0},
	} {
		t.Run(name, func(t *testing.T) {
			c := mqtttest.Dial(t, ts.addr, mqtttest.V311)
			c.SendRaw(raw)
			v311ExpectDropped(t, c, "[MQTT-3.1.0-1] first packet "+name)
		})
	}
}

// [MQTT-3.1.0-2]: a second CONNECT ends the connection as a protocol
// violation, and it is not processed (its will is never published).
func TestV311_3_1_0_2(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	watch := v311Connect(t, ts, "w")
	watch.MustSubscribe(mqtttest.Sub("second/#", 0))
	c := v311WillClient(t, ts, "c", &mqtttest.Will{Topic: "second/first", Payload: []byte("violation")})
	second := mqtttest.ConnectPacket(mqtttest.ConnectOptions{ClientID: v311ID(t, "c"), Clean: true,
		Will: &mqtttest.Will{Topic: "second/will", Payload: []byte("w")}}, 4)
	c.MustSend(second)
	v311ExpectDropped(t, c, "[MQTT-3.1.0-2]")
	// The violation ends the first connection abnormally: its will, and
	// only its will, is published.
	watch.ExpectMessage("second/first", []byte("violation"))
	watch.ExpectNothing(v311Quiet)
}

// [MQTT-3.1.2-1]: a CONNECT with a protocol name other than "MQTT" is not
// processed as MQTT 3.1.1: no CONNACK accepting it, and the connection ends.
func TestV311_3_1_2_1(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	for _, name := range []string{"MQTX", "mqtt", "MQIsdp"} {
		c := mqtttest.Dial(t, ts.addr, mqtttest.V311)
		c.SendRaw(v311RawConnectAs(name, 4, 0x02, 0, v311Field("proto")))
		kind, frames := c.WaitClosed(v311Closes)
		if !kind.ClosedByBroker() {
			t.Fatalf("[MQTT-3.1.2-1] protocol name %q: connection %v", name, kind)
		}
		for _, f := range frames {
			if f.Type() == packets.Connack && len(f.Body) == 2 && f.Body[1] == 0 {
				t.Fatalf("[MQTT-3.1.2-1] protocol name %q was accepted as MQTT 3.1.1", name)
			}
		}
	}
}

// [MQTT-3.1.2-2]: an unsupported protocol level gets CONNACK 0x01 and the
// connection is closed.
func TestV311_3_1_2_2(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	for _, level := range []byte{0, 2, 6, 255} {
		c := mqtttest.Dial(t, ts.addr, mqtttest.V311)
		c.SendRaw(v311RawConnectAs("MQTT", level, 0x02, 0, v311Field("level")))
		v311ExpectRefused(t, c, 0x01, fmt.Sprintf("[MQTT-3.1.2-2] level %d", level))
	}
}

// [MQTT-3.1.2-4]: Clean Session 0 resumes the session of the client
// identifier (its subscriptions) and keeps it after the connection ends;
// [MQTT-3.2.2-2], [MQTT-3.2.2-3]: Session Present says whether it existed.
func TestV311_3_1_2_4(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	id := v311ID(t, "")
	c, ack := v311Persistent(t, ts, id)
	if ack.SessionPresent {
		t.Fatal("[MQTT-3.2.2-3] Session Present 1 for a new session")
	}
	c.MustSubscribe(mqtttest.Sub("resume/#", 1))
	c.Disconnect(0)
	c.ExpectClosed(v311Closes)

	c, ack = v311Persistent(t, ts, id)
	if !ack.SessionPresent {
		t.Fatal("[MQTT-3.1.2-4] the session was not resumed (Session Present 0)")
	}
	pub := v311Connect(t, ts, "pub")
	pub.MustPublish("resume/a", []byte("m"), 1, false)
	c.ExpectMessage("resume/a", []byte("m"))
}

// [MQTT-3.2.2-2]: accepted Clean Session 0 with a stored session, also
// after a server restart: Session Present 1.
func TestV311_3_2_2_2(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	id := v311ID(t, "")
	c, _ := v311Persistent(t, ts, id)
	c.MustSubscribe(mqtttest.Sub("sp/#", 1))
	c.Close()
	_, ack := v311Persistent(t, ts, id) // after a network failure
	if !ack.SessionPresent || ack.ReasonCode != 0 {
		t.Fatalf("[MQTT-3.2.2-2] CONNACK %s, want Session Present 1, code 0", mqtttest.Describe(ack))
	}
	ts.restart()
	_, ack = v311Persistent(t, ts, id)
	if !ack.SessionPresent {
		t.Fatalf("[MQTT-3.2.2-2] after restart: CONNACK %s, want Session Present 1", mqtttest.Describe(ack))
	}
}

// [MQTT-3.2.2-3]: accepted Clean Session 0 without a stored session:
// Session Present 0, return code 0.
func TestV311_3_2_2_3(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	_, ack := v311Persistent(t, ts, v311ID(t, ""))
	if ack.SessionPresent || ack.ReasonCode != 0 {
		t.Fatalf("[MQTT-3.2.2-3] CONNACK %s, want Session Present 0, code 0", mqtttest.Describe(ack))
	}
}

// [MQTT-3.1.2-5]: while a Clean Session 0 client is away, the server keeps
// storing the QoS 1 and QoS 2 messages that match its subscriptions and
// delivers them when it returns.
func TestV311_3_1_2_5(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	id := v311ID(t, "")
	c, _ := v311Persistent(t, ts, id)
	c.MustSubscribe(mqtttest.Sub("away/#", 2))
	c.Disconnect(0)
	c.ExpectClosed(v311Closes)

	pub := v311Connect(t, ts, "pub")
	pub.MustPublish("away/1", []byte("q1"), 1, false)
	pub.MustPublish("away/2", []byte("q2"), 2, false)

	c, _ = v311Persistent(t, ts, id)
	got := v311Received(t, c, 2)
	if string(got[0].Payload) != "q1" || got[0].FixedHeader.Qos != 1 ||
		string(got[1].Payload) != "q2" || got[1].FixedHeader.Qos != 2 {
		t.Fatalf("[MQTT-3.1.2-5] got %s, %s; want q1 at QoS 1, q2 at QoS 2",
			mqtttest.Describe(got[0]), mqtttest.Describe(got[1]))
	}
}

// [MQTT-3.1.2-6], [MQTT-3.1.4-3], [MQTT-3.2.2-1]: Clean Session 1 discards
// the previous session (subscriptions and stored messages), answers Session
// Present 0, and its own session does not outlive the connection.
func TestV311_3_1_2_6(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	id := v311ID(t, "")
	c, _ := v311Persistent(t, ts, id)
	c.MustSubscribe(mqtttest.Sub("clean/#", 1))
	c.Close()
	pub := v311Connect(t, ts, "pub")
	pub.MustPublish("clean/stored", []byte("old"), 1, false)

	c = mqtttest.Dial(t, ts.addr, mqtttest.V311)
	ack := c.MustConnect(mqtttest.ConnectOptions{ClientID: id, Clean: true})
	if ack.SessionPresent {
		t.Fatal("[MQTT-3.2.2-1] Clean Session 1 answered with Session Present 1")
	}
	pub.MustPublish("clean/new", []byte("new"), 1, false)
	c.ExpectNothing(v311Quiet) // neither the stored message nor the old subscription
	c.MustSubscribe(mqtttest.Sub("clean/#", 1))
	c.Disconnect(0)
	c.ExpectClosed(v311Closes)

	pub.MustPublish("clean/after", []byte("after"), 1, false)
	c, ack = v311Persistent(t, ts, id)
	if ack.SessionPresent {
		t.Fatal("[MQTT-3.1.2-6] the Clean Session 1 session outlived its connection")
	}
	c.ExpectNothing(v311Quiet)
}

// [MQTT-3.1.2-7]: retained messages outlive the session that published
// them.
func TestV311_3_1_2_7(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	pub := v311Connect(t, ts, "pub")
	pub.MustPublish("kept/r", []byte("r"), 1, true)
	pub.Disconnect(0)
	pub.ExpectClosed(v311Closes)
	sub := v311Connect(t, ts, "sub")
	sub.MustSubscribe(mqtttest.Sub("kept/#", 1))
	if got := sub.ExpectMessage("kept/r", []byte("r")); !got.FixedHeader.Retain {
		t.Fatal("[MQTT-3.1.2-7] retained message delivered without RETAIN")
	}
}

// v311WillClient connects a clean-session client with will w.
func v311WillClient(t *testing.T, ts *testServer, suffix string, w *mqtttest.Will) *mqtttest.Conn {
	t.Helper()
	c := mqtttest.Dial(t, ts.addr, mqtttest.V311)
	c.MustConnect(mqtttest.ConnectOptions{ClientID: v311ID(t, suffix), Clean: true, Will: w})
	return c
}

// Wills: published when the connection ends without DISCONNECT, with the
// will's QoS and RETAIN; discarded on DISCONNECT; never without a will.
func TestV311Will(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	watch := v311Connect(t, ts, "watch")
	watch.MustSubscribe(mqtttest.Sub("will/#", 2))

	t.Run("MQTT-3.1.2-8", func(t *testing.T) {
		c := v311WillClient(t, ts, "a", &mqtttest.Will{Topic: "will/8", Payload: []byte("gone"), QoS: 1})
		c.Close() // network failure
		got := watch.ExpectMessage("will/8", []byte("gone"))
		if got.FixedHeader.Qos != 1 {
			t.Fatalf("will delivered at QoS %d, want 1", got.FixedHeader.Qos)
		}
		// A protocol violation also publishes the will.
		c = v311WillClient(t, ts, "b", &mqtttest.Will{Topic: "will/8b", Payload: []byte("bad")})
		c.SendRaw([]byte{0xc0, 1, 0}) // PINGREQ with a body
		c.ExpectClosed(v311Closes)
		watch.ExpectMessage("will/8b", []byte("bad"))
	})
	t.Run("MQTT-3.1.2-10", func(t *testing.T) {
		// Published once, then gone from the session: a persistent
		// session resumed without a will publishes none the next time.
		id := v311ID(t, "p")
		c := mqtttest.Dial(t, ts.addr, mqtttest.V311)
		c.MustConnect(mqtttest.ConnectOptions{ClientID: id, Will: &mqtttest.Will{Topic: "will/10", Payload: []byte("once")}})
		c.Close()
		watch.ExpectMessage("will/10", []byte("once"))
		c, _ = v311Persistent(t, ts, id)
		c.Close()
		watch.ExpectNothing(v311Quiet)
	})
	t.Run("MQTT-3.1.2-12", func(t *testing.T) {
		c := v311Connect(t, ts, "n")
		c.Close()
		watch.ExpectNothing(v311Quiet)
	})
	t.Run("MQTT-3.1.2-16", func(t *testing.T) {
		c := v311WillClient(t, ts, "r0", &mqtttest.Will{Topic: "will/16", Payload: []byte("plain")})
		c.Close()
		if got := watch.ExpectMessage("will/16", []byte("plain")); got.FixedHeader.Retain {
			t.Fatal("will with Will Retain 0 delivered with RETAIN 1")
		}
		late := v311Connect(t, ts, "late16")
		late.MustSubscribe(mqtttest.Sub("will/16", 0))
		late.ExpectNothing(v311Quiet) // not retained
	})
	t.Run("MQTT-3.1.2-17", func(t *testing.T) {
		c := v311WillClient(t, ts, "r1", &mqtttest.Will{Topic: "will/17", Payload: []byte("kept"), Retain: true})
		c.Close()
		watch.ExpectMessage("will/17", []byte("kept"))
		late := v311Connect(t, ts, "late17")
		late.MustSubscribe(mqtttest.Sub("will/17", 0))
		if got := late.ExpectMessage("will/17", []byte("kept")); !got.FixedHeader.Retain {
			t.Fatal("will with Will Retain 1 was not retained")
		}
	})
	t.Run("MQTT-3.14.4-3", func(t *testing.T) {
		c := v311WillClient(t, ts, "d", &mqtttest.Will{Topic: "will/disc", Payload: []byte("no")})
		c.Disconnect(0)
		c.ExpectClosed(v311Closes)
		watch.ExpectNothing(v311Quiet)
	})
	t.Run("MQTT-3.14.1-1", func(t *testing.T) {
		// A DISCONNECT with reserved bits set is a violation, not a
		// normal disconnection: the connection closes and the will fires.
		c := v311WillClient(t, ts, "df", &mqtttest.Will{Topic: "will/bad-disc", Payload: []byte("yes")})
		c.SendRaw([]byte{0xe1, 0})
		c.ExpectClosed(v311Closes)
		watch.ExpectMessage("will/bad-disc", []byte("yes"))
	})
	t.Run("MQTT-3.1.2-24/keep-alive-expiry-fires-the-will", func(t *testing.T) {
		c := mqtttest.Dial(t, ts.addr, mqtttest.V311)
		c.MustConnect(mqtttest.ConnectOptions{ClientID: v311ID(t, "k"), Clean: true, KeepAlive: 1,
			Will: &mqtttest.Will{Topic: "will/ka", Payload: []byte("silent")}})
		c.ExpectClosed(4 * time.Second)
		watch.ExpectMessage("will/ka", []byte("silent"))
	})
}

// [MQTT-3.1.2-24]: with Keep Alive 1 s the server keeps a connection that
// sends PINGREQs and drops one that is silent for 1.5 s.
func TestV311_3_1_2_24(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	c := mqtttest.Dial(t, ts.addr, mqtttest.V311)
	c.MustConnect(mqtttest.ConnectOptions{ClientID: v311ID(t, ""), Clean: true, KeepAlive: 1})
	for range 4 { // 2.4 s of pings every 0.6 s: alive throughout
		c.ExpectNothing(600 * time.Millisecond)
		if err := c.Ping(); err != nil {
			t.Fatalf("[MQTT-3.1.2-24] connection dropped although the client pinged: %v", err)
		}
	}
	start := time.Now()
	kind, _ := c.WaitClosed(4 * time.Second)
	took := time.Since(start)
	if !kind.ClosedByBroker() {
		t.Fatalf("[MQTT-3.1.2-24] silent connection not dropped: %v", kind)
	}
	// 1.5 s after the last PINGREQ; the bounds leave room for a loaded
	// machine on both sides.
	if took < time.Second || took > 3*time.Second {
		t.Fatalf("[MQTT-3.1.2-24] dropped %v after the last packet, want about 1.5 x Keep Alive (1.5 s)", took)
	}
}

// [MQTT-3.1.3-1]: payload fields are read in the order Client Identifier,
// Will Topic, Will Message, User Name, Password.
func TestV311_3_1_3_1(t *testing.T) {
	t.Parallel()
	ts := startServer(t, v311WithUser(t))
	watch := v311Connect(t, ts, "w")
	watch.MustSubscribe(mqtttest.Sub("order/#", 0))
	c := mqtttest.Dial(t, ts.addr, mqtttest.V311)
	// flags: user name, password, will, clean.
	c.SendRaw(v311RawConnect(0xc6, 0, v311Field(v311ID(t, "c")), v311Field("order/will"), v311Field("wm"),
		v311Field("u311"), v311Field("p311")))
	if ack := c.Expect(packets.Connack); ack.ReasonCode != 0 {
		t.Fatalf("[MQTT-3.1.3-1] CONNACK code %#x: user name/password not read in order", ack.ReasonCode)
	}
	c.Close()
	watch.ExpectMessage("order/will", []byte("wm"))
}

// [MQTT-3.1.3-2]: the session is identified by the Client Identifier.
func TestV311_3_1_3_2(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	idA, idB := v311ID(t, "a"), v311ID(t, "b")
	a, _ := v311Persistent(t, ts, idA)
	a.MustSubscribe(mqtttest.Sub("ident/a", 1))
	a.Close()
	b, _ := v311Persistent(t, ts, idB)
	b.MustSubscribe(mqtttest.Sub("ident/b", 1))
	b.Close()
	pub := v311Connect(t, ts, "p")
	pub.MustPublish("ident/a", []byte("for-a"), 1, false)
	pub.MustPublish("ident/b", []byte("for-b"), 1, false)
	b, ack := v311Persistent(t, ts, idB)
	if !ack.SessionPresent {
		t.Fatal("[MQTT-3.1.3-2] session of b not found by its identifier")
	}
	b.ExpectMessage("ident/b", []byte("for-b"))
	b.ExpectNothing(v311Quiet)
	a, _ = v311Persistent(t, ts, idA)
	a.ExpectMessage("ident/a", []byte("for-a"))
}

// [MQTT-3.1.3-5]: identifiers of 1 to 23 characters of [0-9a-zA-Z] are
// accepted.
func TestV311_3_1_3_5(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	for _, id := range []string{"a", "Z", "0", "abcdefghijklmnopqrstuvw", "0123456789ABCDEFGHIJKLM", "aZ09"} {
		c := mqtttest.Dial(t, ts.addr, mqtttest.V311)
		ack, err := c.Connect(mqtttest.ConnectOptions{ClientID: id, Clean: true})
		if err != nil || ack.ReasonCode != 0 {
			t.Fatalf("[MQTT-3.1.3-5] client id %q refused: %v %v", id, err, ack)
		}
		c.Disconnect(0)
		c.ExpectClosed(v311Closes)
	}
}

// [MQTT-3.1.3-6]: a zero-length identifier with Clean Session 1 is
// accepted and given a unique identifier: two such clients coexist, each
// with its own session.
func TestV311_3_1_3_6(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	a := mqtttest.Dial(t, ts.addr, mqtttest.V311)
	a.MustConnect(mqtttest.ConnectOptions{Clean: true})
	a.MustSubscribe(mqtttest.Sub("anon/a", 0))
	b := mqtttest.Dial(t, ts.addr, mqtttest.V311)
	b.MustConnect(mqtttest.ConnectOptions{Clean: true})
	b.MustSubscribe(mqtttest.Sub("anon/b", 0))
	pub := v311Connect(t, ts, "p")
	pub.MustPublish("anon/a", []byte("1"), 0, false)
	pub.MustPublish("anon/b", []byte("2"), 0, false)
	a.ExpectMessage("anon/a", []byte("1"))
	b.ExpectMessage("anon/b", []byte("2"))
	a.ExpectNothing(v311Quiet) // neither took the other over nor shares its session
	if err := a.Ping(); err != nil {
		t.Fatalf("[MQTT-3.1.3-6] first anonymous client lost: %v", err)
	}
}

// [MQTT-3.1.3-8]: a zero-length identifier with Clean Session 0 gets
// CONNACK 0x02 and the close.
func TestV311_3_1_3_8(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	c := mqtttest.Dial(t, ts.addr, mqtttest.V311)
	c.SendRaw(v311RawConnect(0x00, 0, v311Field("")))
	v311ExpectRefused(t, c, 0x02, "[MQTT-3.1.3-8]")
}

// [MQTT-3.1.3-9]: an identifier the server's policy rejects gets CONNACK
// 0x02 and the close.
func TestV311_3_1_3_9(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(ts *testServer) { ts.opts.Policy = v311Policy{refuse: 0x85} })
	c := mqtttest.Dial(t, ts.addr, mqtttest.V311)
	c.MustSend(mqtttest.ConnectPacket(mqtttest.ConnectOptions{ClientID: "rejected", Clean: true}, 4))
	v311ExpectRefused(t, c, 0x02, "[MQTT-3.1.3-9]")
}

// [MQTT-3.1.4-2]: a CONNECT with the identifier of a connected client
// disconnects the existing client.
func TestV311_3_1_4_2(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	id := v311ID(t, "")
	first := mqtttest.Dial(t, ts.addr, mqtttest.V311)
	first.MustConnect(mqtttest.ConnectOptions{ClientID: id, Clean: true})
	second := mqtttest.Dial(t, ts.addr, mqtttest.V311)
	second.MustConnect(mqtttest.ConnectOptions{ClientID: id, Clean: true})
	first.ExpectClosed(v311Closes)
	if err := second.Ping(); err != nil {
		t.Fatalf("[MQTT-3.1.4-2] the new connection did not survive the takeover: %v", err)
	}

	// Clean Session 0: the new connection takes the session over with its
	// unacknowledged deliveries, re-sent with DUP.
	id = v311ID(t, "p")
	first, _ = v311Persistent(t, ts, id)
	first.MustSubscribe(mqtttest.Sub("takeover/#", 2))
	pub := v311Connect(t, ts, "pub")
	pub.MustPublish("takeover/1", []byte("q1"), 1, false)
	pub.MustPublish("takeover/2", []byte("q2"), 2, false)
	q1, q2 := first.ExpectPublish(), first.ExpectPublish()
	second, ack := v311Persistent(t, ts, id)
	if !ack.SessionPresent {
		t.Fatal("[MQTT-3.1.4-2] the session did not survive the takeover")
	}
	first.ExpectClosed(v311Closes)
	for _, want := range []*packets.Packet{q1, q2} {
		pk := second.ExpectPublish()
		if pk.PacketID != want.PacketID || !pk.FixedHeader.Dup || string(pk.Payload) != string(want.Payload) {
			t.Fatalf("[MQTT-3.1.4-2] after the takeover got %s, want %s again with DUP", mqtttest.Describe(pk), mqtttest.Describe(want))
		}
		second.MustAcknowledge(pk)
	}
}

// [MQTT-3.1.4-4], [MQTT-3.2.2-1]: a valid CONNECT is answered with CONNACK
// return code 0 (Session Present 0 for Clean Session 1).
func TestV311_3_1_4_4(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	c := mqtttest.Dial(t, ts.addr, mqtttest.V311)
	c.MustSend(mqtttest.ConnectPacket(mqtttest.ConnectOptions{ClientID: v311ID(t, ""), Clean: true}, 4))
	f, err := c.NextFrame(waitLong)
	if err != nil {
		t.Fatal(err)
	}
	if f.Type() != packets.Connack || !bytes.Equal(f.Body, []byte{0, 0}) {
		t.Fatalf("[MQTT-3.1.4-4] got %v, want CONNACK 00 00", f)
	}
}

// [MQTT-3.1.4-5]: after refusing a CONNECT the server processes nothing
// else the client sent (here a retained PUBLISH in the same write).
func TestV311_3_1_4_5(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(ts *testServer) { ts.opts.Policy = v311Policy{refuse: 0x87} })
	c := mqtttest.Dial(t, ts.addr, mqtttest.V311)
	raw := v311RawConnect(0x02, 0, v311Field(v311ID(t, "")))
	raw = append(raw, v311Frame(0x31, v311Field("refused/r"), []byte("x"))...)
	c.SendRaw(raw)
	v311ExpectRefused(t, c, 0x05, "[MQTT-3.1.4-5]")
	ts.e.mu.Lock()
	n := ts.e.mu.retained.len()
	ts.e.mu.Unlock()
	if n != 0 {
		t.Fatalf("[MQTT-3.1.4-5] a PUBLISH after a refused CONNECT was processed (%d retained)", n)
	}
}

// [MQTT-3.2.0-1]: the first packet the server sends is CONNACK, even when
// the client pipelines packets behind its CONNECT.
func TestV311_3_2_0_1(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	c := mqtttest.Dial(t, ts.addr, mqtttest.V311)
	raw := v311RawConnect(0x02, 0, v311Field(v311ID(t, "")))
	raw = append(raw, 0xc0, 0) // PINGREQ
	raw = append(raw, v311Frame(0x82, []byte{0, 7}, v311Field("first/#"), []byte{0})...)
	c.SendRaw(raw)
	for i, want := range []byte{packets.Connack, packets.Pingresp, packets.Suback} {
		f, err := c.NextFrame(waitLong)
		if err != nil {
			t.Fatal(err)
		}
		if f.Type() != want {
			t.Fatalf("[MQTT-3.2.0-1] packet %d from the server is %v, want %s", i, f, mqtttest.TypeName(want))
		}
	}
}

// [MQTT-3.2.2-4], [MQTT-3.2.2-5]: every refusal is a CONNACK with Session
// Present 0 and a non-zero code, then the close, even when a session for
// the identifier is stored.
func TestV311_3_2_2_4(t *testing.T) {
	t.Parallel()
	ts := startServer(t, v311WithUser(t))
	id := v311ID(t, "")
	c, _ := v311Persistent(t, ts, id)
	c.MustSubscribe(mqtttest.Sub("refuse/#", 1))
	c.Close()
	for _, tc := range []struct {
		name string
		pk   *packets.Packet
		rc   byte
	}{
		{"bad password", mqtttest.ConnectPacket(mqtttest.ConnectOptions{ClientID: id, Username: []byte("u311"), Password: []byte("nope")}, 4), 0x04},
		{"unknown user", mqtttest.ConnectPacket(mqtttest.ConnectOptions{ClientID: id, Username: []byte("who"), Password: []byte("p")}, 4), 0x04},
	} {
		c := mqtttest.Dial(t, ts.addr, mqtttest.V311)
		c.MustSend(tc.pk)
		v311ExpectRefused(t, c, tc.rc, "[MQTT-3.2.2-4] "+tc.name)
	}
	c = mqtttest.Dial(t, ts.addr, mqtttest.V311)
	c.SendRaw(v311RawConnectAs("MQTT", 3, 0x00, 0, v311Field(id))) // level 3 is named MQIsdp
	v311ExpectRefused(t, c, 0x01, "[MQTT-3.2.2-4] level 3 named MQTT")
	c, ack := v311Persistent(t, ts, id)
	if !ack.SessionPresent {
		t.Fatal("a refused CONNECT destroyed the stored session")
	}
}

// [MQTT-3.2.2-5]: after a CONNACK with a non-zero code the server closes the
// connection and ignores what follows.
func TestV311_3_2_2_5(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(ts *testServer) { ts.opts.Policy = v311Policy{refuse: 0x88} })
	c := mqtttest.Dial(t, ts.addr, mqtttest.V311)
	raw := v311RawConnect(0x02, 0, v311Field(v311ID(t, "")))
	raw = append(raw, 0xc0, 0) // PINGREQ: never answered
	c.SendRaw(raw)
	v311ExpectRefused(t, c, 0x03, "[MQTT-3.2.2-5]")
}
