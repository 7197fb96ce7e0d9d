// Package mqtt is mqsight's MQTT 3.1.1 and 5.0 engine: listeners built from
// the configuration's Endpoints (TCP, TLS, WebSocket on the same port),
// connections, sessions, delivery with QoS 0/1/2, retained messages, wills,
// shared subscriptions, and durability on the store.
//
// # Model
//
// A published message becomes one immutable *message, shared by every buffer
// that holds it. Each subscription owns a buffer (a shared subscription
// group owns one buffer for all its members); a buffer is an ordered list of
// entries, each naming a message and the QoS it is delivered with. A session
// delivers from its buffers in buffer order while its client's Receive
// Maximum allows, so order per subscription is publish order and a message is
// never sent twice except as a DUP redelivery.
//
// # Durability
//
// A session is persistent when the client asked for it (3.1.1 CleanSession
// 0; 5.0 Session Expiry Interval > 0). The client state, the subscriptions
// and every QoS>0 entry of a persistent session's buffers are in the store:
// the message is written once (store.MessageKey) and each buffer holding it
// writes a reference (store.RefKey(owner, seq)). All writes of one publish
// are one store batch; the publisher's PUBACK/PUBREC is written only from
// that batch's commit callback, so an acknowledgement never precedes the
// commit. An entry becomes deliverable when its batch is durable, and a
// buffer never delivers past an entry that is not yet durable, so the store
// and the wire agree on order. A message record is deleted in the same batch
// as its last reference. A connection whose publishes waiting for their
// commit exceed a budget reads nothing more until they complete
// (backpressure.go), so a slow disk slows its publishers down instead of
// filling memory.
//
// # Locking
//
// Engine.mu guards all routing state: sessions, subscriptions, buffers,
// shared groups, retained messages, message reference counts. It is never
// held across network or disk I/O: packets are encoded into a connection's
// outbound buffer (its own lock) and written by that connection's writer
// goroutine; store batches are queued with store.CommitAsync, whose callback
// runs on the store's goroutine and takes Engine.mu itself. Lock order:
// Engine.mu before outbound.mu; never the reverse.
package mqtt
