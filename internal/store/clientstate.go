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
	// InboundQoS2 are the packet identifiers of QoS 2 messages received from
	// the client and acknowledged with PUBREC, whose PUBREL has not arrived:
	// a resent PUBLISH with one of them must not be routed again.
	InboundQoS2 []uint16
	// Owner identifies who the session belongs to (engine-defined: the
	// authenticated user and certificate name), so that another identity
	// never resumes it. OwnerKnown is false for a record written before
	// version 3, which did not record it.
	Owner      string
	OwnerKnown bool
}

const (
	// clientStateV2 adds InboundQoS2 to version 1.
	clientStateV2 = 2
	// clientStateV3 adds Owner to version 1: the inbound QoS 2 count
	// (which may be 0) and identifiers, then the owner.
	clientStateV3 = 3
)

// Encode returns the encoding of c (layout in the package doc): version 3
// when c records its owner, else version 2 when it has InboundQoS2, else
// version 1.
func (c *ClientState) Encode() []byte {
	w := recordWriter{buf: make([]byte, 0, 26+len(c.ClientID)+len(c.Will)+2*len(c.InboundQoS2)+len(c.Owner))}
	switch {
	case c.OwnerKnown:
		w.u8(clientStateV3)
	case len(c.InboundQoS2) > 0:
		w.u8(clientStateV2)
	default:
		w.u8(recordV1)
	}
	w.u8(c.ProtocolVersion)
	w.u32(c.SessionExpiry)
	w.i64(c.Disconnected)
	w.u16(c.NextPacketID)
	w.str(c.ClientID)
	w.bytes(c.Will)
	if c.OwnerKnown || len(c.InboundQoS2) > 0 {
		w.u16(uint16(len(c.InboundQoS2)))
		for _, id := range c.InboundQoS2 {
			w.u16(id)
		}
	}
	if c.OwnerKnown {
		w.str(c.Owner)
	}
	return w.buf
}

// DecodeClientState decodes an encoded ClientState (version 1, 2 or 3).
// The result does not alias b. Errors wrap ErrCorrupt.
func DecodeClientState(b []byte) (ClientState, error) {
	r := newVersionedReader("client state", b, clientStateV3)
	c := ClientState{
		ProtocolVersion: r.u8("protocol version"),
		SessionExpiry:   r.u32("session expiry"),
		Disconnected:    r.i64("disconnected"),
		NextPacketID:    r.u16("next packet id"),
		ClientID:        r.str("client id"),
	}
	c.Will = r.bytes("will")
	if r.version >= clientStateV2 {
		n := int(r.u16("inbound qos 2 count"))
		if n == 0 && r.version == clientStateV2 {
			r.fail("version 2 with no inbound qos 2 identifiers")
		}
		if r.err == nil && len(r.b) < 2*n {
			r.fail("inbound qos 2 count %d exceeds the record", n)
		}
		for i := 0; i < n && r.err == nil; i++ {
			c.InboundQoS2 = append(c.InboundQoS2, r.u16("inbound qos 2 id"))
		}
	}
	if r.version == clientStateV3 {
		c.Owner, c.OwnerKnown = r.str("owner"), true
	}
	if err := r.finish(); err != nil {
		return ClientState{}, err
	}
	return c, nil
}
