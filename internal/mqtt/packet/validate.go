package packet

import (
	"bytes"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/mochi-mqtt/server/v2/packets"
)

// The Validate functions apply the semantic rules mochi's Validate methods
// check, plus the ones noted on each function that mochi leaves out. They
// return nil or an *Error whose Reason is the code to send. Topic names and
// filters are checked by internal/mqtt/topic, not here.

// ValidateConnect checks a decoded CONNECT (mochi ConnectValidate) and maps
// a wrong protocol name or level to 0x84 Unsupported Protocol Version (the
// CONNACK code for it; 3.1.1 return code 0x01) [MQTT-3.1.2-1]
// [MQTT-3.1.2-2]. Added checks (Protocol Error):
//   - Will QoS must be 0 when the Will Flag is 0 [MQTT-3.1.2-11] (3.1.1
//     [MQTT-3.1.2-13] for Will Retain is mochi's).
//   - 3.1/3.1.1 only: Password Flag requires the User Name Flag
//     [MQTT-3.1.2-22] (5.0 allows a password alone).
//   - 3.1/3.1.1 only: the payload holds exactly the fields the flags
//     announce; a will, user name or password present without its flag
//     (bytes left after the announced fields) is refused [MQTT-3.1.2-11]
//     [MQTT-3.1.2-18] [MQTT-3.1.2-20].
//   - The User Name is well-formed UTF-8 without U+0000 (3.1.1
//     [MQTT-3.1.3-11]); mochi decodes it as bytes.
//
// And 0x85 Client Identifier not valid (3.1.1 return code 0x02) for an
// empty client identifier in 3.1, or in 3.1.1 with CleanSession 0
// [MQTT-3.1.3-8]. 5.0 lets the server assign one (§3.1.3.1). The 3.1 limit of
// 23 characters is not enforced, as most servers do not.
func ValidateConnect(pk *packets.Packet) error {
	code := pk.ConnectValidate()
	switch code {
	case packets.ErrProtocolViolationProtocolName, packets.ErrProtocolViolationProtocolVersion:
		return &Error{Reason: ReasonUnsupportedVers, Type: packets.Connect, Err: code}
	}
	if err := codeError(packets.Connect, code); err != nil {
		return err
	}
	if !pk.Connect.WillFlag && pk.Connect.WillQos != 0 {
		return protocolErr(packets.Connect, "will QoS %d without will flag", pk.Connect.WillQos)
	}
	if pk.ProtocolVersion < 5 && pk.Connect.PasswordFlag && !pk.Connect.UsernameFlag {
		return protocolErr(packets.Connect, "password flag without user name flag")
	}
	if pk.ProtocolVersion < 5 && pk.FixedHeader.Remaining > v3ConnectLen(&pk.Connect) {
		return protocolErr(packets.Connect, "%d bytes after the fields the connect flags announce",
			pk.FixedHeader.Remaining-v3ConnectLen(&pk.Connect))
	}
	if pk.Connect.UsernameFlag && (!utf8.Valid(pk.Connect.Username) || bytes.IndexByte(pk.Connect.Username, 0) >= 0) {
		return &Error{Reason: ReasonMalformed, Type: packets.Connect, Err: errors.New("user name is not a valid UTF-8 string")}
	}
	if pk.Connect.ClientIdentifier == "" && (pk.ProtocolVersion == 3 || (pk.ProtocolVersion == 4 && !pk.Connect.Clean)) {
		return &Error{Reason: packets.ErrClientIdentifierNotValid.Code, Type: packets.Connect, Err: packets.ErrClientIdentifierNotValid}
	}
	return nil
}

// v3ConnectLen is the Remaining Length of a 3.1/3.1.1 CONNECT holding
// exactly the fields its flags announce.
func v3ConnectLen(p *packets.ConnectParams) int {
	n := 2 + len(p.ProtocolName) + 4 + 2 + len(p.ClientIdentifier) // name, level, flags, keep alive, id
	if p.WillFlag {
		n += 2 + len(p.WillTopic) + 2 + len(p.WillPayload)
	}
	if p.UsernameFlag {
		n += 2 + len(p.Username)
	}
	if p.PasswordFlag {
		n += 2 + len(p.Password)
	}
	return n
}

// ValidatePublish checks an inbound PUBLISH (mochi PublishValidate): packet
// ID present exactly for QoS > 0, no wildcard in the topic, a topic or a
// topic alias, topic alias within topicAliasMax (0x94 otherwise), no
// Subscription Identifier from a client [MQTT-3.3.4-6].
func ValidatePublish(pk *packets.Packet, topicAliasMax uint16) error {
	return codeError(packets.Publish, pk.PublishValidate(topicAliasMax))
}

// ValidateSubscribe checks a SUBSCRIBE (mochi SubscribeValidate: at least
// one filter, identifier range) and adds: No Local on a shared subscription
// ("$share/..." or MessageSight's "$SharedSubscription/...") is a Protocol
// Error in 5.0 [MQTT-3.8.3-4].
func ValidateSubscribe(pk *packets.Packet) error {
	if err := codeError(packets.Subscribe, pk.SubscribeValidate()); err != nil {
		return err
	}
	if pk.ProtocolVersion == 5 {
		for _, f := range pk.Filters {
			if f.NoLocal && (strings.HasPrefix(f.Filter, "$share/") || strings.HasPrefix(f.Filter, "$SharedSubscription/")) {
				return &Error{Reason: ReasonProtocol, Type: packets.Subscribe, Err: packets.ErrProtocolViolationInvalidSharedNoLocal}
			}
		}
	}
	return nil
}

// ValidateUnsubscribe checks an UNSUBSCRIBE (mochi UnsubscribeValidate: at
// least one filter [MQTT-3.10.3-2]).
func ValidateUnsubscribe(pk *packets.Packet) error {
	return codeError(packets.Unsubscribe, pk.UnsubscribeValidate())
}

// ValidateAuth checks an AUTH reason code is 0x00, 0x18 or 0x19
// [MQTT-3.15.2-1].
func ValidateAuth(pk *packets.Packet) error {
	return codeError(packets.Auth, pk.AuthValidate())
}

// ValidateAck checks the reason code of an inbound PUBACK, PUBREC, PUBREL,
// PUBCOMP, SUBACK or UNSUBACK against the codes MQTT 5.0 allows for that
// packet (a Protocol Error otherwise). 3.1/3.1.1 acks decode with reason
// 0x00, which is always allowed.
func ValidateAck(pk *packets.Packet) error {
	if !pk.ReasonCodeValid() {
		return protocolErr(pk.FixedHeader.Type, "reason code 0x%02X not allowed in %s", pk.ReasonCode, packets.PacketNames[pk.FixedHeader.Type])
	}
	return nil
}
