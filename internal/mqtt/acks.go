package mqtt

import (
	"sync"

	"github.com/mochi-mqtt/server/v2/packets"
)

// ackQueue keeps a connection's acknowledgements of inbound QoS>0 publishes
// in the order the publishes arrived ([MQTT-4.6.0-2], [MQTT-4.6.0-3]),
// and its PUBRELs in the order their PUBRECs arrived ([MQTT-4.6.0-4]): an
// acknowledgement whose store commit finished early waits for the earlier
// ones.
type ackQueue struct {
	c  *conn
	mu sync.Mutex
	q  []*ackSlot
}

type ackSlot struct {
	pk   packets.Packet
	done bool
	// after runs, under no lock, once the ack was queued for writing.
	after func()
}

// reserve appends a slot for an acknowledgement of type typ.
func (a *ackQueue) reserve(typ byte, pid uint16) *ackSlot {
	s := &ackSlot{pk: packets.Packet{FixedHeader: packets.FixedHeader{Type: typ}, PacketID: pid}}
	if typ == packets.Pubrel {
		s.pk.FixedHeader.Qos = 1 // PUBREL's fixed header flags are 0010
	}
	a.mu.Lock()
	a.q = append(a.q, s)
	a.mu.Unlock()
	return s
}

// complete fills s's reason code and writes every completed slot at the
// head of the queue.
func (a *ackQueue) complete(s *ackSlot, reason byte) {
	a.mu.Lock()
	s.pk.ReasonCode = reason
	s.done = true
	var ready []*ackSlot
	n := 0
	for n < len(a.q) && a.q[n].done {
		ready = append(ready, a.q[n])
		n++
	}
	if n > 0 {
		copy(a.q, a.q[n:])
		clear(a.q[len(a.q)-n:])
		a.q = a.q[:len(a.q)-n]
		// Written under a.mu so that two completers cannot reorder.
		for _, r := range ready {
			a.c.send(&r.pk)
		}
	}
	a.mu.Unlock()
	for _, r := range ready {
		if r.after != nil {
			r.after()
		}
	}
}
