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
	// QoS is the QoS the PUBLISH went out with while in flight (1 or 2),
	// which a restart must resend it with; 0 = not recorded (queued, or
	// written by a build of store format 2 or older).
	QoS byte
	// Consumer is the client ID of the session a shared subscription's
	// QoS 2 delivery is in flight to: it must be completed with that
	// client and no other, also after a restart. Empty otherwise.
	Consumer string
}

const (
	// referenceV2 adds Consumer to version 1.
	referenceV2 = 2
	// referenceV3 adds QoS to version 1, then Consumer (which may be
	// empty).
	referenceV3 = 3
)

// Encode returns the encoding of r (layout in the package doc): version 3
// when r records a QoS, else version 2 when it has a Consumer, else
// version 1.
func (r *Reference) Encode() []byte {
	w := recordWriter{buf: make([]byte, 0, 15+len(r.Consumer))}
	switch {
	case r.QoS != 0:
		w.u8(referenceV3)
	case r.Consumer != "":
		w.u8(referenceV2)
	default:
		w.u8(recordV1)
	}
	w.u64(r.MessageID)
	w.u8(r.State)
	w.u16(r.PacketID)
	switch {
	case r.QoS != 0:
		w.u8(r.QoS)
		w.str(r.Consumer)
	case r.Consumer != "":
		w.str(r.Consumer)
	}
	return w.buf
}

// DecodeReference decodes an encoded Reference. Errors wrap ErrCorrupt.
func DecodeReference(b []byte) (Reference, error) {
	r := newVersionedReader("reference", b, referenceV3)
	ref := Reference{MessageID: r.u64("message id"), State: r.u8("state"), PacketID: r.u16("packet id")}
	switch r.version {
	case referenceV2:
		if ref.Consumer = r.str("consumer"); r.err == nil && ref.Consumer == "" {
			r.fail("version 2 with no consumer")
		}
	case referenceV3:
		if ref.QoS = r.u8("qos"); r.err == nil && ref.QoS != 1 && ref.QoS != 2 {
			r.fail("version 3 with QoS %d", ref.QoS)
		}
		ref.Consumer = r.str("consumer")
	}
	if err := r.finish(); err != nil {
		return Reference{}, err
	}
	return ref, nil
}
