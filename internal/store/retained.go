package store

// Retained is the retained message of a topic, stored under
// RetainedKey(topic); the message itself lives under MessageKey(MessageID).
type Retained struct {
	MessageID uint64
}

// Encode returns the version-1 encoding of r (layout in the package doc).
func (r *Retained) Encode() []byte {
	w := recordWriter{buf: make([]byte, 0, 9)}
	w.u8(recordV1)
	w.u64(r.MessageID)
	return w.buf
}

// DecodeRetained decodes an encoded Retained. Errors wrap ErrCorrupt.
func DecodeRetained(b []byte) (Retained, error) {
	r := newRecordReader("retained", b)
	ret := Retained{MessageID: r.u64("message id")}
	if err := r.finish(); err != nil {
		return Retained{}, err
	}
	return ret, nil
}
