package mqtt

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/mqtt/topic"
	"github.com/mqsight/mqsight/internal/store"
)

// Point-to-point queues. A configured Queue is reachable from MQTT as
// $queue/<QueueName>: publishing to it sends a message to the queue,
// subscribing to it makes the session a consumer. Each message goes to
// exactly one consumer and is removed when that consumer acknowledges it
// (PUBACK/PUBCOMP; a QoS 0 delivery counts as acknowledged when written). An
// unacknowledged message goes back to the queue, in order and with DUP=1,
// when its consumer's connection ends.
//
// A queue is a sharedGroup with queue=true: the same buffer and round-robin
// delivery as a shared subscription, except that its entries are always
// durable (store.QueueEntryKey references, whatever their QoS) and outlive
// its consumers. Guarded by Engine.mu like all routing state.

// queuePrefix starts the topic of a queue.
const queuePrefix = "$queue/"

// queueForm marks the groupKey of a queue.
const queueForm topic.ShareForm = 0xFF

// queueName returns the queue a topic or filter names.
func queueName(s string) (string, bool) {
	name, ok := strings.CutPrefix(s, queuePrefix)
	return name, ok && name != ""
}

func queueKey(name string) groupKey { return groupKey{form: queueForm, name: name} }

// ErrQueueNotFound is returned for a queue the engine does not know.
var ErrQueueNotFound = errors.New("queue not found")

// ensureQueueLocked returns the queue name, creating it (empty, default
// limits) if needed.
func (e *Engine) ensureQueueLocked(name string) *sharedGroup {
	key := queueKey(name)
	if q := e.mu.groups[key]; q != nil {
		return q
	}
	q := &sharedGroup{key: key, queue: true, allowSend: true, concurrent: true}
	q.buf = newBuffer("", true, defaultLimits)
	q.buf.group = q
	q.buf.queue = name
	e.mu.groups[key] = q
	return q
}

// applyQueuesLocked brings the queues in line with c: configured queues
// exist with their MaxMessages, AllowSend and ConcurrentConsumers. A queue
// removed from the configuration refuses sends; its messages stay until
// DiscardQueue (the admin API deletes a queue holding messages only with an
// explicit discard).
func (e *Engine) applyQueuesLocked(c *config.Config) {
	for key, q := range e.mu.groups {
		if q.queue && c.Queues[key.name] == nil {
			q.configured = false
		}
	}
	for name, qc := range c.Queues {
		q := e.ensureQueueLocked(name)
		q.configured = true
		q.allowSend = qc.AllowSend
		q.concurrent = qc.ConcurrentConsumers
		q.buf.limits = bufferLimits{maxMessages: qc.MaxMessages}
		if q.buf.limits.maxMessages <= 0 {
			q.buf.limits = defaultLimits
		}
		e.kickGroupLocked(q)
	}
}

// sendToQueueLocked enqueues m on queue name. The reason is 0 on success,
// 0x90 (Topic Name invalid) for an unknown queue, 0x87 when the queue does
// not allow sends, 0x97 when it is full.
func (e *Engine) sendToQueueLocked(name string, m *message, b *store.Batch, res *routeResult) {
	q := e.mu.groups[queueKey(name)]
	switch {
	case q == nil || !q.configured:
		res.reason = 0x90
		return
	case !q.allowSend:
		res.reason = 0x87
		return
	case q.buf.full():
		q.buf.rejected++
		e.stats.Rejected.Add(1)
		res.reason = 0x97
		return
	}
	m.retain = false // a queue has no retained message
	if e.enqueueLocked(q.buf, m, m.qos, true, b, res) != nil {
		res.groups = append(res.groups, q)
	}
}

// subscribeQueueLocked makes s a consumer of queue name through filter f.
// It returns the SUBACK reason: the granted QoS, 0x8F for an unknown
// queue, 0x97 when the queue allows one consumer and has another.
func (e *Engine) subscribeQueueLocked(s *session, f packets.Subscription, name string, b *store.Batch) (*subscription, byte) {
	q := e.mu.groups[queueKey(name)]
	if q == nil || !q.configured {
		return nil, 0x8F
	}
	if !q.concurrent {
		for _, m := range q.members {
			if m.sess != s {
				return nil, 0x97
			}
		}
	}
	return e.joinQueueLocked(s, f, q, b), f.Qos
}

// joinQueueLocked makes s a consumer of q through subscription f, writing
// its record into b (nil during recovery, which restores a stored
// consumer whatever the queue's configuration: it was admitted then, and
// the configuration is applied after recovery).
func (e *Engine) joinQueueLocked(s *session, f packets.Subscription, q *sharedGroup, b *store.Batch) *subscription {
	sub := s.subs[f.Filter]
	if sub == nil {
		sub = &subscription{sess: s, filter: f.Filter, group: q, buf: q.buf}
		s.subs[f.Filter] = sub
		q.addMember(sub)
	}
	sub.opts = f
	if s.persistent && b != nil {
		b.Put(store.SubscriptionKey(s.clientID, f.Filter), (&store.Subscription{
			ClientID: s.clientID, Filter: f.Filter, QoS: f.Qos, SubscriptionID: uint32(f.Identifier),
		}).Encode())
	}
	return sub
}

// QueueStats describes one queue for monitoring.
type QueueStats struct {
	Name       string
	Buffered   int // messages on the queue, in flight included
	Inflight   int
	Consumers  int
	Enqueued   uint64
	Delivered  uint64
	Rejected   uint64
	Configured bool
}

// Queues returns the queues' counters.
func (e *Engine) Queues() []QueueStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []QueueStats
	for key, q := range e.mu.groups {
		if !q.queue {
			continue
		}
		out = append(out, QueueStats{
			Name: key.name, Buffered: q.buf.live, Inflight: q.buf.inflight, Consumers: len(q.members),
			Enqueued: q.buf.enqueued, Delivered: q.buf.delivered, Rejected: q.buf.rejected, Configured: q.configured,
		})
	}
	return out
}

// QueueDepth returns how many messages queue name holds (0 if unknown).
func (e *Engine) QueueDepth(name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if q := e.mu.groups[queueKey(name)]; q != nil {
		return q.buf.live
	}
	return 0
}

// DiscardQueue deletes every message of queue name, in flight ones
// included, and forgets the queue if it is no longer configured.
func (e *Engine) DiscardQueue(name string) error {
	e.mu.Lock()
	q := e.mu.groups[queueKey(name)]
	if q == nil {
		e.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrQueueNotFound, name)
	}
	b := e.store.NewBatch()
	for _, ent := range q.buf.liveEntries() {
		e.removeEntryLocked(ent, b)
	}
	for _, sub := range q.members { // their windows may have opened
		e.pumpLocked(sub.sess)
	}
	if !q.configured && len(q.members) == 0 {
		delete(e.mu.groups, q.key)
	}
	done := make(chan error, 1)
	e.commit(b, func(err error) { done <- err })
	e.mu.Unlock()
	if err := <-done; err != nil {
		return fmt.Errorf("discard queue %q: %w", name, err)
	}
	return nil
}
