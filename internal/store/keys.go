package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Kind is the first byte of every key: the record kind it holds.
type Kind byte

// The record kinds. Values are part of the on-disk format and never change.
const (
	KindMeta         Kind = 0x01
	KindMessage      Kind = 0x02
	KindReference    Kind = 0x03
	KindSubscription Kind = 0x04
	KindClientState  Kind = 0x05
	KindRetained     Kind = 0x06
	KindQueueEntry   Kind = 0x07
)

// String names the kind for logs and errors.
func (k Kind) String() string {
	switch k {
	case KindMeta:
		return "meta"
	case KindMessage:
		return "message"
	case KindReference:
		return "reference"
	case KindSubscription:
		return "subscription"
	case KindClientState:
		return "client state"
	case KindRetained:
		return "retained"
	case KindQueueEntry:
		return "queue entry"
	}
	return fmt.Sprintf("kind 0x%02x", byte(k))
}

// KeyKind returns the kind of key (0 for an empty key).
func KeyKind(key []byte) Kind {
	if len(key) == 0 {
		return 0
	}
	return Kind(key[0])
}

// KindPrefix returns the prefix shared by every key of kind k.
func KindPrefix(k Kind) []byte { return []byte{byte(k)} }

// Escaping of identifiers inside keys (see the package doc).
const (
	escByte       = 0x00
	escEscaped    = 0xFF // 00 FF stands for a 00 byte of the identifier
	escTerminator = 0x01 // 00 01 ends the identifier
)

// appendID appends the escaped, terminated form of id to dst.
func appendID(dst []byte, id string) []byte {
	for i := 0; i < len(id); i++ {
		if id[i] == escByte {
			dst = append(dst, escByte, escEscaped)
			continue
		}
		dst = append(dst, id[i])
	}
	return append(dst, escByte, escTerminator)
}

// readID decodes one escaped identifier from the front of b and returns it
// and the rest of b.
func readID(b []byte) (string, []byte, error) {
	var id []byte
	for i := 0; i < len(b); i++ {
		if b[i] != escByte {
			continue
		}
		if i+1 >= len(b) {
			return "", nil, fmt.Errorf("%w: key identifier ends inside an escape", ErrCorrupt)
		}
		switch b[i+1] {
		case escTerminator:
			id = append(id, b[:i]...)
			return string(id), b[i+2:], nil
		case escEscaped:
			id = append(id, b[:i+1]...)
			b = b[i+2:]
			i = -1
		default:
			return "", nil, fmt.Errorf("%w: key identifier has invalid escape 00 %02x", ErrCorrupt, b[i+1])
		}
	}
	return "", nil, fmt.Errorf("%w: key identifier is not terminated", ErrCorrupt)
}

func appendSeq(dst []byte, seq uint64) []byte { return binary.BigEndian.AppendUint64(dst, seq) }

// readSeq decodes the final 8-byte sequence of a key; b must be exactly 8 bytes.
func readSeq(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: key sequence has %d bytes, want 8", ErrCorrupt, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// stripKind checks that key has kind k and returns the rest.
func stripKind(key []byte, k Kind) ([]byte, error) {
	if KeyKind(key) != k {
		return nil, fmt.Errorf("%w: key %x is not a %s key", ErrCorrupt, key, k)
	}
	return key[1:], nil
}

// MessageKey returns the key of the message with the given id.
func MessageKey(id uint64) []byte { return appendSeq([]byte{byte(KindMessage)}, id) }

// ParseMessageKey returns the id in a MessageKey.
func ParseMessageKey(key []byte) (uint64, error) {
	rest, err := stripKind(key, KindMessage)
	if err != nil {
		return 0, err
	}
	return readSeq(rest)
}

// RefPrefix returns the prefix of every reference held by owner (usually
// string(SubscriptionKey(clientID, name))).
func RefPrefix(owner string) []byte { return appendID([]byte{byte(KindReference)}, owner) }

// RefKey returns the key of the reference at position seq of owner.
func RefKey(owner string, seq uint64) []byte { return appendSeq(RefPrefix(owner), seq) }

// ParseRefKey returns the owner and sequence in a RefKey.
func ParseRefKey(key []byte) (owner string, seq uint64, err error) {
	rest, err := stripKind(key, KindReference)
	if err != nil {
		return "", 0, err
	}
	if owner, rest, err = readID(rest); err != nil {
		return "", 0, err
	}
	seq, err = readSeq(rest)
	return owner, seq, err
}

// SubscriptionPrefix returns the prefix of every subscription of clientID.
func SubscriptionPrefix(clientID string) []byte {
	return appendID([]byte{byte(KindSubscription)}, clientID)
}

// SubscriptionKey returns the key of subscription name of clientID. For a
// shared subscription the engine chooses the name (e.g. share name and filter).
func SubscriptionKey(clientID, name string) []byte {
	return appendID(SubscriptionPrefix(clientID), name)
}

// ParseSubscriptionKey returns the client ID and name in a SubscriptionKey.
func ParseSubscriptionKey(key []byte) (clientID, name string, err error) {
	rest, err := stripKind(key, KindSubscription)
	if err != nil {
		return "", "", err
	}
	if clientID, rest, err = readID(rest); err != nil {
		return "", "", err
	}
	if name, rest, err = readID(rest); err != nil {
		return "", "", err
	}
	if len(rest) != 0 {
		return "", "", fmt.Errorf("%w: subscription key has %d trailing bytes", ErrCorrupt, len(rest))
	}
	return clientID, name, nil
}

// ClientStateKey returns the key of the state of clientID.
func ClientStateKey(clientID string) []byte {
	return appendID([]byte{byte(KindClientState)}, clientID)
}

// ParseClientStateKey returns the client ID in a ClientStateKey.
func ParseClientStateKey(key []byte) (string, error) {
	return parseSingleID(key, KindClientState)
}

// RetainedKey returns the key of the retained message of topic.
func RetainedKey(topic string) []byte { return appendID([]byte{byte(KindRetained)}, topic) }

// ParseRetainedKey returns the topic in a RetainedKey.
func ParseRetainedKey(key []byte) (string, error) { return parseSingleID(key, KindRetained) }

// QueuePrefix returns the prefix of every entry of queue.
func QueuePrefix(queue string) []byte { return appendID([]byte{byte(KindQueueEntry)}, queue) }

// QueueEntryKey returns the key of the entry at position seq of queue.
func QueueEntryKey(queue string, seq uint64) []byte { return appendSeq(QueuePrefix(queue), seq) }

// ParseQueueEntryKey returns the queue and sequence in a QueueEntryKey.
func ParseQueueEntryKey(key []byte) (queue string, seq uint64, err error) {
	rest, err := stripKind(key, KindQueueEntry)
	if err != nil {
		return "", 0, err
	}
	if queue, rest, err = readID(rest); err != nil {
		return "", 0, err
	}
	seq, err = readSeq(rest)
	return queue, seq, err
}

func parseSingleID(key []byte, k Kind) (string, error) {
	rest, err := stripKind(key, k)
	if err != nil {
		return "", err
	}
	id, rest, err := readID(rest)
	if err != nil {
		return "", err
	}
	if len(rest) != 0 {
		return "", fmt.Errorf("%w: %s key has %d trailing bytes", ErrCorrupt, k, len(rest))
	}
	return id, nil
}

// PrefixEnd returns the smallest key greater than every key with the given
// prefix, for use as an exclusive upper bound; nil means "no upper bound"
// (the prefix is empty or all 0xFF).
func PrefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// Meta keys, written only by the store (see the package doc).
const (
	metaFormatKey = "\x01format"
	metaLSNKey    = "\x01lsn"
	metaUIDKey    = "\x01uid"
	// metaRestoredKey: message IDs up to its value came from a backup
	// (see MarkRestored).
	metaRestoredKey = "\x01restored"
)
