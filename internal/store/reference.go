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
	// Consumer is the client ID of the session a shared subscription's
	// QoS 2 delivery is in flight to: it must be completed with that
	// client and no other, also after a restart. Empty otherwise.
	Consumer string
}

// referenceV2 adds Consumer to version 1.
const referenceV2 = 2

// Encode returns the encoding of r (layout in the package doc): version 1
// when r has no Consumer, else version 2.
func (r *Reference) Encode() []byte {
	w := recordWriter{buf: make([]byte, 0, 13+len(r.Consumer))}
	if r.Consumer == "" {
		w.u8(recordV1)
	} else {
		w.u8(referenceV2)
	}
	w.u64(r.MessageID)
	w.u8(r.State)
	w.u16(r.PacketID)
	if r.Consumer != "" {
		w.str(r.Consumer)
	}
	return w.buf
}

// DecodeReference decodes an encoded Reference. Errors wrap ErrCorrupt.
func DecodeReference(b []byte) (Reference, error) {
	r := newVersionedReader("reference", b, referenceV2)
	ref := Reference{MessageID: r.u64("message id"), State: r.u8("state"), PacketID: r.u16("packet id")}
	if r.version == referenceV2 {
		if ref.Consumer = r.str("consumer"); r.err == nil && ref.Consumer == "" {
			r.fail("version 2 with no consumer")
		}
	}
	if err := r.finish(); err != nil {
		return Reference{}, err
	}
	return ref, nil
}
