package store

// ClientState is what survives of an MQTT session between connections,
// stored under ClientStateKey(ClientID).
type ClientState struct {
	ClientID        string
	ProtocolVersion byte   // 3 (3.1), 4 (3.1.1) or 5
	SessionExpiry   uint32 // seconds; MQTT v5 session expiry interval
	Disconnected    int64  // unix nanoseconds of the disconnect; 0 while connected
	// Will is the pending will message, opaque to the store (engine-defined);
	// nil when there is none.
	Will         []byte
	NextPacketID uint16
}

// Encode returns the version-1 encoding of c (layout in the package doc).
func (c *ClientState) Encode() []byte {
	w := recordWriter{buf: make([]byte, 0, 24+len(c.ClientID)+len(c.Will))}
	w.u8(recordV1)
	w.u8(c.ProtocolVersion)
	w.u32(c.SessionExpiry)
	w.i64(c.Disconnected)
	w.u16(c.NextPacketID)
	w.str(c.ClientID)
	w.bytes(c.Will)
	return w.buf
}

// DecodeClientState decodes an encoded ClientState. The result does not
// alias b. Errors wrap ErrCorrupt.
func DecodeClientState(b []byte) (ClientState, error) {
	r := newRecordReader("client state", b)
	c := ClientState{
		ProtocolVersion: r.u8("protocol version"),
		SessionExpiry:   r.u32("session expiry"),
		Disconnected:    r.i64("disconnected"),
		NextPacketID:    r.u16("next packet id"),
		ClientID:        r.str("client id"),
	}
	c.Will = r.bytes("will")
	if err := r.finish(); err != nil {
		return ClientState{}, err
	}
	return c, nil
}
