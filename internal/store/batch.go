package store

import (
	"bytes"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Batch collects mutations that Commit applies atomically under one LSN.
// A Batch belongs to one goroutine and is spent by Commit or Discard; it
// copies keys and values, so callers may reuse their slices after each call.
//
// Writing an empty key or a meta key is refused: the first such error sticks
// and is returned by Commit, and nothing of the batch is applied.
type Batch struct {
	pb    *pebble.Batch // nil once spent, or if the store was closed
	err   error         // first error; Commit returns it
	spent bool
}

// NewBatch returns an empty batch. On a closed store the batch's Commit
// returns ErrClosed.
func (s *Store) NewBatch() *Batch {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.mu.db == nil {
		return &Batch{err: ErrClosed}
	}
	return &Batch{pb: s.mu.db.NewBatch()}
}

// writable records ErrReservedKey for a key the batch may not touch and
// reports whether the operation may proceed.
func (b *Batch) writable(key []byte) bool {
	if b.err != nil || b.pb == nil {
		return false
	}
	if len(key) == 0 || KeyKind(key) == KindMeta {
		b.err = fmt.Errorf("%w: %x", ErrReservedKey, key)
		return false
	}
	return true
}

// Put sets key to value.
func (b *Batch) Put(key, value []byte) {
	if b.writable(key) {
		_ = b.pb.Set(key, value, nil)
	}
}

// Delete deletes key. Prefer DeleteSized when the value size is known.
func (b *Batch) Delete(key []byte) {
	if b.writable(key) {
		_ = b.pb.Delete(key, nil)
	}
}

// DeleteSized deletes key whose current value is valueSize bytes long. Use
// it for keys written once and deleted once (queue entries, references,
// messages): Pebble uses the size to compact away the space the deleted
// value occupies.
func (b *Batch) DeleteSized(key []byte, valueSize uint32) {
	if b.writable(key) {
		_ = b.pb.DeleteSized(key, valueSize, nil)
	}
}

// DeleteRange deletes every key in [start, end). Use it only for bulk purges
// (a whole subscription or queue): range tombstones are costly for reads.
func (b *Batch) DeleteRange(start, end []byte) {
	if b.err != nil || b.pb == nil {
		return
	}
	metaStart, metaEnd := KindPrefix(KindMeta), KindPrefix(KindMeta+1)
	if bytes.Compare(start, metaEnd) < 0 && bytes.Compare(end, metaStart) > 0 {
		b.err = fmt.Errorf("%w: range [%x, %x) covers meta keys", ErrReservedKey, start, end)
		return
	}
	_ = b.pb.DeleteRange(start, end, nil)
}

// Count returns the number of operations in the batch.
func (b *Batch) Count() int {
	if b.pb == nil {
		return 0
	}
	return int(b.pb.Count())
}

// Len returns the size of the batch's representation in bytes.
func (b *Batch) Len() int {
	if b.pb == nil {
		return 0
	}
	return b.pb.Len()
}

// Discard releases a batch that will not be committed. Discarding a spent
// batch does nothing.
func (b *Batch) Discard() {
	b.spent = true
	b.release()
}

func (b *Batch) release() {
	if b.pb != nil {
		_ = b.pb.Close()
		b.pb = nil
	}
}
