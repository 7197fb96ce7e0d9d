package store

// Reference delivery states (Reference.State).
const (
	RefQueued      byte = 0 // not yet sent
	RefSent        byte = 1 // sent at least once; resend with DUP
	RefPubrecRecvd byte = 2 // QoS 2: PUBREC received, PUBREL pending
)

// Reference points from a subscription (RefKey) or a queue (QueueEntryKey)
// at a stored message, with its delivery state for that holder.
type Reference struct {
	MessageID uint64
	State     byte   // RefQueued, RefSent or RefPubrecRecvd; other values are engine-defined
	PacketID  uint16 // packet identifier in use while in flight; 0 = none
}

// Encode returns the version-1 encoding of r (layout in the package doc).
func (r *Reference) Encode() []byte {
	w := recordWriter{buf: make([]byte, 0, 12)}
	w.u8(recordV1)
	w.u64(r.MessageID)
	w.u8(r.State)
	w.u16(r.PacketID)
	return w.buf
}

// DecodeReference decodes an encoded Reference. Errors wrap ErrCorrupt.
func DecodeReference(b []byte) (Reference, error) {
	r := newRecordReader("reference", b)
	ref := Reference{MessageID: r.u64("message id"), State: r.u8("state"), PacketID: r.u16("packet id")}
	if err := r.finish(); err != nil {
		return Reference{}, err
	}
	return ref, nil
}
