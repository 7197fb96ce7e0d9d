package store

// Subscription is a durable subscription, stored under
// SubscriptionKey(ClientID, name).
type Subscription struct {
	ClientID          string
	Filter            string
	ShareName         string // "" unless a shared subscription
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	SubscriptionID    uint32 // MQTT v5 subscription identifier; 0 = none
	MaxMessages       uint32 // buffer limit from the subscription policy; 0 = engine default
	Behavior          byte   // MaxMessagesBehavior, engine-defined values
}

// Subscription option bits in the encoding.
const (
	subOptNoLocal           = 1 << 0
	subOptRetainAsPublished = 1 << 1
	subOptKnown             = subOptNoLocal | subOptRetainAsPublished
)

// Encode returns the version-1 encoding of s (layout in the package doc).
func (s *Subscription) Encode() []byte {
	w := recordWriter{buf: make([]byte, 0, 20+len(s.ClientID)+len(s.Filter)+len(s.ShareName))}
	var opts byte
	if s.NoLocal {
		opts |= subOptNoLocal
	}
	if s.RetainAsPublished {
		opts |= subOptRetainAsPublished
	}
	w.u8(recordV1)
	w.u8(s.QoS)
	w.u8(opts)
	w.u8(s.RetainHandling)
	w.u32(s.SubscriptionID)
	w.u32(s.MaxMessages)
	w.u8(s.Behavior)
	w.str(s.ClientID)
	w.str(s.Filter)
	w.str(s.ShareName)
	return w.buf
}

// DecodeSubscription decodes an encoded Subscription. Errors wrap ErrCorrupt.
func DecodeSubscription(b []byte) (Subscription, error) {
	r := newRecordReader("subscription", b)
	s := Subscription{QoS: r.u8("qos")}
	opts := r.u8("options")
	if opts&^subOptKnown != 0 {
		r.fail("unknown option bits 0x%02x", opts&^subOptKnown)
	}
	s.NoLocal = opts&subOptNoLocal != 0
	s.RetainAsPublished = opts&subOptRetainAsPublished != 0
	s.RetainHandling = r.u8("retain handling")
	s.SubscriptionID = r.u32("subscription id")
	s.MaxMessages = r.u32("max messages")
	s.Behavior = r.u8("behavior")
	s.ClientID = r.str("client id")
	s.Filter = r.str("filter")
	s.ShareName = r.str("share name")
	if err := r.finish(); err != nil {
		return Subscription{}, err
	}
	return s, nil
}
