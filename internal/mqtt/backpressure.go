package mqtt

import (
	"sync/atomic"

	"github.com/mqsight/mqsight/internal/store"
)

// Inbound backpressure.
//
// A publish that writes to the store lives in memory from the moment its
// batch is queued for commit until the commit's callback has run: the
// batch (which copies the payload), the routing result and the callback.
// The store's commit queue takes whatever it is given and the reader would
// go on reading, so a client publishing faster than the disk syncs made
// the server grow without bound: retained messages of any QoS and MQTT
// 3.1.1 QoS 1/2 have no acknowledgement window that would stop it (v5
// QoS>0 has the Receive Maximum, but counts packets, not bytes).
//
// So each connection counts what its publishes waiting for their commit
// cost (uncommitted), and its reader, between two packets, waits while
//
//   - that is at or above Limits.MaxUncommittedBytes, or
//   - it is above zero and the server-wide total is at or above
//     Limits.MaxUncommittedBytesTotal,
//
// until enough of its own commits complete. The client's bytes then stay
// in the socket buffers and TCP pushes back. The reader is checked before
// it reads, so one publish of any size (up to the endpoint's
// MaxMessageSize) always passes: a connection holds at most its budget
// plus one publish, and the server the total bound plus at most one
// publish per connection.
//
// Waiting depends on nothing but the store: the commits waited for are
// queued already and complete (or fail) on their own, and the reader holds
// no lock meanwhile, so the engine, other connections, their keep-alive,
// deliveries and this connection's acknowledgements go on. A connection
// that starts closing (takeover, Engine.Close, a write error) wakes its
// reader, which then ends. The server-wide rule needs no broadcast: a
// connection it holds has a commit of its own pending, whose completion
// wakes it.
//
// The count is of store commits, not of unacknowledged packets
// (conn.inflightIn): an inbound QoS 2 exchange stays unacknowledged until
// the client's PUBREL, which a reader that stopped reading would never see.

// uncommittedOverhead is what a queued publish is charged beyond its
// batch bytes: Pebble's batch buffer starts at 1 KiB, and the callback,
// routing result and acknowledgement slot come on top. It keeps a flood of
// tiny publishes bounded in number as well.
const uncommittedOverhead = 1 << 10

// uncommitted is what one connection's publishes waiting for their store
// commit cost. The reader charges a publish as it queues the batch
// (commitPublish, under Engine.mu); the engine's completion goroutine
// credits it back after the commit callback ran and wakes the reader.
type uncommitted struct {
	bytes atomic.Int64
	wake  chan struct{} // capacity 1: a commit of this connection completed
}

// commitPublish is Engine.commit for the batch of a publish c read: the
// batch is charged to c and to the server's total until done has run.
// Like Engine.commit it never blocks, so callers may hold Engine.mu.
func (c *conn) commitPublish(b *store.Batch, done func(err error)) {
	n := int64(b.Len() + uncommittedOverhead)
	c.uncommitted.bytes.Add(n)
	c.e.stats.UncommittedBytes.Add(n)
	c.e.commit(b, func(err error) {
		done(err)
		c.e.stats.UncommittedBytes.Add(-n)
		c.uncommitted.bytes.Add(-n)
		select {
		case c.uncommitted.wake <- struct{}{}:
		default:
		}
	})
}

// overCommitBudget reports whether c's reader must wait before reading
// another packet.
func (c *conn) overCommitBudget() bool {
	own := c.uncommitted.bytes.Load()
	l := &c.e.limits
	return own >= int64(l.MaxUncommittedBytes) ||
		own > 0 && c.e.stats.UncommittedBytes.Load() >= int64(l.MaxUncommittedBytesTotal)
}

// waitForCommits holds the reader while c is over its commit budget. It
// returns false if the connection started closing meanwhile: the reader
// ends. Reader goroutine only, holding no lock.
func (c *conn) waitForCommits() bool {
	if !c.overCommitBudget() {
		return true
	}
	st := &c.e.stats
	st.ReadPauses.Add(1)
	st.ReadersPaused.Add(1)
	defer st.ReadersPaused.Add(-1)
	for c.overCommitBudget() {
		select {
		case <-c.uncommitted.wake:
		case <-c.out.stopping:
			return false
		}
	}
	return true
}
