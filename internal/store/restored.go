package store

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MarkRestored records durably, in a meta record, that every message with
// an ID up to upTo came from a restored backup. A restore marks its staged
// store this way instead of rewriting every message record with
// FlagFromBackup: the engine treats a message as FlagFromBackup when its ID
// is at most RestoredUpTo, and allocates new message IDs above it. The
// record takes an LSN like any commit.
func (s *Store) MarkRestored(upTo uint64) error {
	b := s.NewBatch()
	if b.pb != nil {
		_ = b.pb.Set([]byte(metaRestoredKey), binary.BigEndian.AppendUint64(nil, upTo), nil)
	}
	if _, err := s.Commit(b); err != nil {
		return fmt.Errorf("mark restored messages: %w", err)
	}
	return nil
}

// RestoredUpTo returns the highest message ID that MarkRestored recorded,
// or 0 when the store was never restored from a backup.
func (s *Store) RestoredUpTo() (uint64, error) {
	v, err := s.Get([]byte(metaRestoredKey))
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: restored record has %d bytes", ErrCorrupt, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}
