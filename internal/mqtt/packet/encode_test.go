package packet

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

func TestEncodeAckKeepsSuccessRangeReason(t *testing.T) {
	for _, typ := range []byte{packets.Puback, packets.Pubrec} {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: typ}, ProtocolVersion: 5, PacketID: 0x0102, ReasonCode: 0x10}
		got := encodeT(t, pk)
		if want := []byte{typ << 4, 3, 1, 2, 0x10}; !bytes.Equal(got, want) {
			t.Errorf("%s 0x10: % x, want % x", packets.PacketNames[typ], got, want)
		}
		pk.ReasonCode = 0
		if got, want := encodeT(t, pk), []byte{typ << 4, 2, 1, 2}; !bytes.Equal(got, want) {
			t.Errorf("%s success: % x, want the short form % x", packets.PacketNames[typ], got, want)
		}
	}
}

// TestEncodeMaxSize: a packet over the peer's Maximum Packet Size is
// refused with its size and nothing is written; reason string and user
// properties are dropped first when that is enough.
func TestEncodeMaxSize(t *testing.T) {
	pk := publish(5, "a/b", "0123456789")
	full := len(encodeT(t, pk))
	var buf bytes.Buffer
	buf.WriteString("queued")
	pk.Mods.MaxSize = uint32(full - 1)
	n, err := Encode(&buf, &pk)
	if !errors.Is(err, ErrTooLarge) || n != full || buf.String() != "queued" {
		t.Fatalf("Encode over MaxSize = %d, %v, buffer %q; want ErrTooLarge, %d, buffer untouched", n, err, buf.String(), full)
	}
	pk.Mods.MaxSize = uint32(full)
	if n, err := Encode(&buf, &pk); err != nil || n != full {
		t.Fatalf("Encode at exactly MaxSize = %d, %v", n, err)
	}

	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, ProtocolVersion: 5, PacketID: 1,
		ReasonCode: 0x87, Properties: packets.Properties{ReasonString: "not authorized to publish there"}}
	ack.Mods.MaxSize = 10
	got := encodeT(t, ack)
	if len(got) > 10 {
		t.Fatalf("PUBACK with MaxSize 10 kept its reason string: % x", got)
	}
}

// TestEncodeForwardsRequestResponse: Response Topic and Correlation Data
// survive Encode (mochi drops them unless AllowResponseInfo is set).
func TestEncodeForwardsRequestResponse(t *testing.T) {
	pk := publish(5, "req", "?")
	pk.Properties.ResponseTopic = "resp/1"
	pk.Properties.CorrelationData = []byte{1, 2, 3}
	pk.Properties.User = []packets.UserProperty{{Key: "k", Val: "v"}}
	r := NewReader(bytes.NewReader(encodeT(t, pk)), 0)
	r.SetVersion(5)
	var got packets.Packet
	if err := r.Read(&got); err != nil {
		t.Fatal(err)
	}
	if got.Properties.ResponseTopic != "resp/1" || !bytes.Equal(got.Properties.CorrelationData, []byte{1, 2, 3}) || len(got.Properties.User) != 1 {
		t.Fatalf("properties after a round trip: %+v", got.Properties)
	}
}

func TestEncodeErrors(t *testing.T) {
	var buf bytes.Buffer
	pk := publish(4, "a", "x")
	pk.PacketID = 0 // QoS 1 without a packet identifier
	if _, err := Encode(&buf, &pk); !errors.Is(err, ErrProtocol) || buf.Len() != 0 {
		t.Fatalf("QoS 1 without packet ID: %v, %d bytes written", err, buf.Len())
	}
	bad := packets.Packet{FixedHeader: packets.FixedHeader{Type: 0}}
	if _, err := Encode(&buf, &bad); err == nil || buf.Len() != 0 {
		t.Fatalf("type 0: %v", err)
	}
}

func TestValidateAdditions(t *testing.T) {
	connect := func(version byte, mod func(*packets.Packet)) *packets.Packet {
		name := []byte("MQTT")
		if version == 3 {
			name = []byte("MQIsdp")
		}
		pk := &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: version,
			Connect: packets.ConnectParams{ProtocolName: name, ClientIdentifier: "c"}}
		mod(pk)
		return pk
	}
	passwordOnly := func(pk *packets.Packet) { pk.Connect.PasswordFlag, pk.Connect.Password = true, []byte("pw") }
	tests := []struct {
		id     string
		err    error
		reason byte // 0: valid
	}{
		{"MQTT-3.1.2-22 v3.1.1 password without user name", ValidateConnect(connect(4, passwordOnly)), ReasonProtocol},
		{"3.1.2.9 v5 allows a password alone", ValidateConnect(connect(5, passwordOnly)), 0},
		{"MQTT-3.1.2-11 will QoS without will flag", ValidateConnect(connect(4, func(pk *packets.Packet) { pk.Connect.WillQos = 1 })), ReasonProtocol},
		{"MQTT-3.1.2-2 protocol level 6", ValidateConnect(connect(6, func(*packets.Packet) {})), ReasonUnsupportedVers},
		{"3.1 MQIsdp level 3", ValidateConnect(connect(3, func(*packets.Packet) {})), 0},
		{"MQTT-3.1.3-8 v3.1.1 empty client ID, clean session 0", ValidateConnect(connect(4, func(pk *packets.Packet) { pk.Connect.ClientIdentifier = "" })), 0x85},
		{"MQTT-3.1.3-7 v3.1.1 empty client ID, clean session 1", ValidateConnect(connect(4, func(pk *packets.Packet) { pk.Connect.ClientIdentifier, pk.Connect.Clean = "", true })), 0},
		{"3.1 empty client ID", ValidateConnect(connect(3, func(pk *packets.Packet) { pk.Connect.ClientIdentifier, pk.Connect.Clean = "", true })), 0x85},
		{"3.1.3.1 v5 empty client ID, clean start 0", ValidateConnect(connect(5, func(pk *packets.Packet) { pk.Connect.ClientIdentifier = "" })), 0},
		{"MQTT-3.8.3-4 v5 No Local on a shared subscription", ValidateSubscribe(&packets.Packet{ProtocolVersion: 5, PacketID: 1,
			Filters: packets.Subscriptions{{Filter: "$share/g/a", NoLocal: true}}}), ReasonProtocol},
		{"MQTT-3.8.3-4 v5 No Local on a MessageSight shared subscription", ValidateSubscribe(&packets.Packet{ProtocolVersion: 5, PacketID: 1,
			Filters: packets.Subscriptions{{Filter: "$SharedSubscription/g/a", NoLocal: true}}}), ReasonProtocol},
		{"3.8.3.1 No Local on an ordinary subscription", ValidateSubscribe(&packets.Packet{ProtocolVersion: 5, PacketID: 1,
			Filters: packets.Subscriptions{{Filter: "a", NoLocal: true}}}), 0},
		{"3.5.2.1 PUBREC reason 0x87 allowed", ValidateAck(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrec}, ProtocolVersion: 5, ReasonCode: 0x87}), 0},
		{"3.6.2.1 PUBREL reason 0x87 not allowed", ValidateAck(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel}, ProtocolVersion: 5, ReasonCode: 0x87}), ReasonProtocol},
	}
	for _, tc := range tests {
		got, _ := Reason(tc.err)
		if (tc.reason == 0) != (tc.err == nil) || got != tc.reason {
			t.Errorf("[%s] = %v, want reason 0x%02X", tc.id, tc.err, tc.reason)
		}
	}
}

// TestEncodeReservedFlags: the flags of non-PUBLISH packets are the ones
// the spec reserves, whatever the caller left in FixedHeader [MQTT-2.1.3-1].
func TestEncodeReservedFlags(t *testing.T) {
	for _, tc := range []struct {
		typ   byte
		first byte
	}{{packets.Pubrel, 0x62}, {packets.Puback, 0x40}, {packets.Subscribe, 0x82}, {packets.Unsubscribe, 0xa2}, {packets.Pingresp, 0xd0}} {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: tc.typ, Retain: true, Dup: true}, ProtocolVersion: 4, PacketID: 1,
			Filters: packets.Subscriptions{{Filter: "a"}}}
		if tc.typ == packets.Puback {
			pk.FixedHeader.Qos = 2
		}
		if got := encodeT(t, pk); got[0] != tc.first {
			t.Errorf("%s: first byte 0x%02x, want 0x%02x", packets.PacketNames[tc.typ], got[0], tc.first)
		}
	}
}
