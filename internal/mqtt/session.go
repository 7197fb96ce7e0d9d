package mqtt

import (
	"slices"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/store"
)

// session is the server side of an MQTT session: it outlives connections
// when persistent. All fields are guarded by Engine.mu.
type session struct {
	clientID   string
	persistent bool   // state is in the store
	version    byte   // protocol version of the last connection
	expiry     uint32 // session expiry interval in seconds; maxExpiry = never

	conn *conn // nil while offline

	subs map[string]*subscription // by filter as subscribed (incl. $share/...)

	// inflight maps outbound packet identifiers to entries in flight to
	// this session (from its own buffers and from shared groups).
	inflight map[uint16]*entry
	nextPID  uint16
	sendSeq  uint64

	// unsent are entries in flight from an earlier connection that the
	// client's Receive Maximum did not let resendInflightLocked send on
	// this one yet, in their original order; they keep their packet
	// identifiers ([MQTT-4.4.0-1]) and go out as the window opens
	// (pumpLocked). unsentN counts those still marked (entry.unsent):
	// an entry acknowledged or removed meanwhile leaves the count at once
	// and the list when it reaches the head.
	unsent  []*entry
	unsentN int

	// inQoS2 holds packet identifiers of inbound QoS 2 publishes that were
	// PUBREC'd and not yet released ([MQTT-4.3.3-9] and friends).
	inQoS2 map[uint16]struct{}

	// client limits of the current connection
	receiveMax int    // client's Receive Maximum (65535 for 3.1.1)
	maxPacket  uint32 // client's Maximum Packet Size; 0 = unlimited

	will         *will
	willTimer    *time.Timer
	expiryTimer  *time.Timer
	disconnected time.Time

	takenOver bool // a newer connection took this session over
	destroyed bool

	userID string // user name of the last connection (notifications)
	// owner is who the session belongs to (sessionOwner of its last
	// connection): another identity does not resume it. ownerKnown is
	// false for a session recovered from a record that did not say.
	owner      string
	ownerKnown bool
	arrived    map[string]int // while offline: messages per topic for notifying subscriptions
}

// maxExpiry means the session never expires (3.1.1 CleanSession=0, or v5
// Session Expiry Interval 0xFFFFFFFF).
const maxExpiry = ^uint32(0)

// subscription is one subscription of a session. Guarded by Engine.mu.
type subscription struct {
	sess   *session
	filter string // as subscribed
	opts   packets.Subscription
	group  *sharedGroup // nil for an ordinary subscription
	buf    *buffer      // own buffer, or the group's
	// notify: arrivals while the session is offline are announced
	// (TopicPolicy DisconnectedClientNotification; see notify.go).
	notify bool
}

func newSession(clientID string) *session {
	return &session{
		clientID: clientID,
		subs:     make(map[string]*subscription),
		inflight: make(map[uint16]*entry),
		inQoS2:   make(map[uint16]struct{}),
	}
}

// online reports whether a connection is attached.
func (s *session) online() bool { return s.conn != nil }

// allocPID returns a free outbound packet identifier, or 0 if all 65535
// are in use.
func (s *session) allocPID() uint16 {
	for range 65535 {
		s.nextPID++
		if s.nextPID == 0 {
			s.nextPID = 1
		}
		if _, used := s.inflight[s.nextPID]; !used {
			return s.nextPID
		}
	}
	return 0
}

// putState writes the session's client state record into b: protocol
// version, expiry, the disconnect time and a pending delayed will while
// offline, and the inbound QoS 2 packet identifiers awaiting PUBREL (so
// that a PUBLISH resent after a server restart is not routed twice,
// [MQTT-4.3.3-10]).
func (s *session) putState(b *store.Batch) {
	cs := store.ClientState{ClientID: s.clientID, ProtocolVersion: s.version, SessionExpiry: s.expiry,
		Owner: s.owner, OwnerKnown: s.ownerKnown}
	if s.conn == nil && !s.disconnected.IsZero() {
		cs.Disconnected = s.disconnected.UnixNano()
		if s.will != nil && !s.will.due.IsZero() {
			cs.Will = encodeWill(s.will)
		}
	}
	for id := range s.inQoS2 {
		cs.InboundQoS2 = append(cs.InboundQoS2, id)
	}
	slices.Sort(cs.InboundQoS2)
	b.Put(store.ClientStateKey(s.clientID), cs.Encode())
}

// windowOpen reports whether another QoS>0 PUBLISH may be sent
// ([MQTT-3.3.4-7]: no more than Receive Maximum unacknowledged). Entries
// waiting in unsent were not sent on this connection.
func (s *session) windowOpen() bool { return len(s.inflight)-s.unsentN < s.receiveMax }

// adoptInflight puts ent, recovered from the store in flight, back in s's
// in-flight window under its packet identifier; false when the identifier
// is 0 or already taken.
func (s *session) adoptInflight(ent *entry) bool {
	if ent.pid == 0 || s.inflight[ent.pid] != nil {
		return false
	}
	ent.consumer = s
	s.sendSeq++
	ent.sendSeq = s.sendSeq
	s.inflight[ent.pid] = ent
	return true
}

// addUnsent appends ent to the unsent list.
func (s *session) addUnsent(ent *entry) {
	ent.unsent = true
	s.unsentN++
	s.unsent = append(s.unsent, ent)
}

// takeUnsent unmarks ent: it is being sent, was acknowledged, or is gone.
func (s *session) takeUnsent(ent *entry) {
	if ent.unsent {
		ent.unsent = false
		s.unsentN--
	}
}

// resetUnsent empties the unsent list (the connection ended, or a new one
// starts sorting them again); the entries stay in flight.
func (s *session) resetUnsent() {
	for _, ent := range s.unsent {
		ent.unsent = false
	}
	s.unsent, s.unsentN = nil, 0
}
