package mqtt

import "github.com/mqsight/mqsight/internal/mqtt/topic"

// groupKey identifies a shared subscription group: its spelling form, share
// name and filter.
type groupKey struct {
	form   topic.ShareForm
	name   string
	filter string
}

// sharedGroup is a shared subscription ([MQTT-4.8.2]): one buffer whose
// entries each go to exactly one member. Guarded by Engine.mu.
type sharedGroup struct {
	key     groupKey
	buf     *buffer
	members []*subscription // in subscription order
	next    int             // round-robin start for the next delivery pass

	// A point-to-point queue (see queue.go) rather than a shared
	// subscription: always durable, outlives its consumers.
	queue      bool
	configured bool // the Queue is in the configuration in force
	allowSend  bool // AllowSend
	concurrent bool // ConcurrentConsumers
}

// storeOwner is the store reference owner of a durable group buffer.
func (k groupKey) storeOwner() string {
	return "\x00share\x00" + string(rune('0'+k.form)) + "\x00" + k.name + "\x00" + k.filter
}

func (g *sharedGroup) addMember(sub *subscription) {
	for i, m := range g.members {
		if m.sess == sub.sess {
			g.members[i] = sub
			return
		}
	}
	g.members = append(g.members, sub)
}

func (g *sharedGroup) removeMember(s *session) {
	for i, m := range g.members {
		if m.sess == s {
			g.members = append(g.members[:i], g.members[i+1:]...)
			return
		}
	}
}

// durable reports whether any member's session is persistent: then the
// group's QoS>0 entries are kept in the store.
func (g *sharedGroup) durable() bool {
	if g.queue {
		return true
	}
	for _, m := range g.members {
		if m.sess.persistent {
			return true
		}
	}
	return false
}
