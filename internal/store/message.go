package store

// Message flag bits (Message.Flags). Bits not listed are reserved for later
// engine use and preserved by the encoding.
const (
	// FlagFromBackup marks a message that came back from a restored store
	// backup; the engine delivers it with DUP set. A restore marks its
	// messages with MarkRestored instead; the engine sets this flag on
	// records it writes for such messages.
	FlagFromBackup uint32 = 1 << 0
)

// Message is a published message, stored once under MessageKey(ID) however
// many references point at it. The engine deletes it with its last reference.
type Message struct {
	ID      uint64
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	// Properties are the MQTT v5 properties, opaque to the store; the engine
	// defines their encoding.
	Properties []byte
	Created    int64  // unix nanoseconds
	Expiry     int64  // unix nanoseconds; 0 means the message never expires
	Flags      uint32 // FlagFromBackup, ...
}

// Encode returns the version-1 encoding of m (layout in the package doc).
func (m *Message) Encode() []byte {
	w := recordWriter{buf: make([]byte, 0, 40+len(m.Topic)+len(m.Payload)+len(m.Properties))}
	w.u8(recordV1)
	w.u64(m.ID)
	w.u8(m.QoS)
	w.bool(m.Retain)
	w.i64(m.Created)
	w.i64(m.Expiry)
	w.u32(m.Flags)
	w.str(m.Topic)
	w.bytes(m.Payload)
	w.bytes(m.Properties)
	return w.buf
}

// DecodeMessage decodes an encoded Message. The result does not alias b.
// Errors wrap ErrCorrupt.
func DecodeMessage(b []byte) (Message, error) {
	r := newRecordReader("message", b)
	m := Message{
		ID:      r.u64("id"),
		QoS:     r.u8("qos"),
		Retain:  r.bool("retain"),
		Created: r.i64("created"),
		Expiry:  r.i64("expiry"),
		Flags:   r.u32("flags"),
		Topic:   r.str("topic"),
	}
	m.Payload = r.bytes("payload")
	m.Properties = r.bytes("properties")
	if err := r.finish(); err != nil {
		return Message{}, err
	}
	return m, nil
}
