// Package store is mqsight's persistent store: one Pebble database in
// <datadir>/store holding everything that must survive a restart (messages,
// references from subscriptions and queues to messages, durable
// subscriptions, client states, retained messages, queue entries) and the
// store's own metadata. Configuration is not in the store.
//
// # Commit path
//
// Every mutation is a [Batch] passed to [Store.Commit]. The store has exactly
// one commit goroutine. It drains every batch that queued up while the
// previous fsync ran, gives each logical batch the next LSN (log sequence
// number) in queue order, appends the meta LSN record to that batch, and
// writes all of them as ONE Pebble batch committed with Sync: one fsync per
// group, never one per message. A caller's Commit returns only after its
// batch is durable (or failed); [Store.CommitAsync] queues a batch without
// waiting and calls back from the commit goroutine, in LSN order, at the
// same point. LSNs are gap-free and increasing in apply
// order, and because the LSN record travels inside the batch, the LSN stored
// in the database always names the last batch it contains.
//
// After a group is durable, the commit hook (see [Store.SetCommitHook])
// sees each logical batch's Pebble representation and LSN, in LSN order,
// before the corresponding Commit returns or CommitAsync callback runs; it
// also sees each Clean, in its place between the batches. Re-applying the
// representations in order to an empty Pebble database, and emptying it at
// each Clean, reproduces the store; HA replication and continuous backup
// are built on this commit stream.
//
// # Keyspace
//
// Every key starts with one byte naming its record kind. Identifiers (client
// IDs, subscription names, owners, topics, queue names) are escaped so that
// no encoded identifier is a prefix of another and byte order equals string
// order: each 0x00 byte becomes 0x00 0xFF and the identifier ends with the
// terminator 0x00 0x01. Sequence numbers and message IDs are 8-byte
// big-endian, so a prefix scan returns them in numeric order.
//
//	kind  byte  key layout                                    value
//	meta  0x01  01 | name (ASCII)                             see below
//	msg   0x02  02 | id:8 BE                                  Message
//	ref   0x03  03 | esc(owner) | seq:8 BE                    Reference
//	sub   0x04  04 | esc(clientID) | esc(name)                Subscription
//	cli   0x05  05 | esc(clientID)                            ClientState
//	ret   0x06  06 | esc(topic)                               Retained
//	queue 0x07  07 | esc(queue) | seq:8 BE                    Reference
//
//	esc(s): s with every 00 replaced by 00 FF, followed by 00 01
//
// A reference's owner is the encoded subscription key of the subscription
// that holds it (string(SubscriptionKey(clientID, name))), so each durable
// subscription has its own sequence range; a message is stored once and
// referenced from every subscription and queue that holds it.
//
// Meta records (written only by the store itself; batches may not touch the
// meta kind):
//
//	01 "format"  1 byte: store format version (formatVersion: 4); format 1
//	             holds version 1 records only, format 2 may also hold the
//	             version 2 records below, format 3 also Reference version 3,
//	             format 4 also ClientState version 3
//	01 "lsn"     8 bytes BE: LSN of the last batch in the database
//	01 "uid"     32 lowercase hex characters: store UID, new on create and Clean
//
// # Record encodings
//
// Every value starts with a record-version byte. Version 1 layouts (u16, u32,
// u64 and i64 are big-endian fixed width; str and bytes are a minimal uvarint
// length followed by that many bytes; bool is 00 or 01):
//
//	Message      01 | id u64 | qos u8 | retain bool | created i64 | expiry i64 |
//	             flags u32 | topic str | payload bytes | properties bytes
//	ClientState  01 | protocolVersion u8 | sessionExpiry u32 | disconnected i64 |
//	             nextPacketID u16 | clientID str | will bytes
//	Subscription 01 | qos u8 | options u8 (bit0 NoLocal, bit1 RetainAsPublished) |
//	             retainHandling u8 | subscriptionID u32 | maxMessages u32 |
//	             behavior u8 | clientID str | filter str | shareName str
//	Reference    01 | messageID u64 | state u8 | packetID u16
//	Retained     01 | messageID u64
//
// Version 2 layouts:
//
//	ClientState  02 | (the version 1 fields) | n u16 (>= 1) | n × inboundQoS2 packetID u16
//	Reference    02 | (the version 1 fields) | consumer str (not empty)
//
// Version 3 layouts:
//
//	ClientState  03 | (the version 1 fields) | n u16 (may be 0) | n × inboundQoS2 packetID u16 | owner str
//	Reference    03 | (the version 1 fields) | qos u8 (1 or 2) | consumer str (may be empty)
//
// ClientState is written as version 3 when it records its owner, else as
// version 2 when it has inbound QoS 2 packet identifiers, else as version
// 1; Reference as version 3 when it records the QoS of a delivery
// in flight, else as version 2 when it has a consumer, else as version 1.
// So stores without them keep their older bytes.
//
// Decoders reject an unknown version, a truncated record, a length longer
// than the remaining input (before allocating), a non-minimal varint, an
// invalid bool or option bit and trailing bytes, each with an error wrapping
// [ErrCorrupt]; they never panic. A later version gets a new version byte and
// the decoders keep reading the old ones; it also bumps the store format, so
// that an older build refuses the store ([ErrNewerFormat]) instead of
// failing on the first record it cannot read.
//
// # Visibility and concurrency
//
// All methods of [Store] are safe for concurrent use. Reads ([Store.Get],
// [Store.Scan]) see every batch whose Commit has returned; Pebble publishes a
// synced batch only after its fsync, so reads never see data that is not yet
// durable. A [Batch] belongs to one goroutine.
package store
