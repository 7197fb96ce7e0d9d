package backup

import (
	"errors"
	"fmt"

	"github.com/mqsight/mqsight/internal/archive"
	"github.com/mqsight/mqsight/internal/store"
)

// markFromBackup opens the staged store in dir, checks that it is the
// store uid at LSN lsn that the manifest describes (archive.ErrCorrupt
// otherwise), and marks every message in it as restored
// (store.MarkRestored with the highest message ID, found with one key
// read), so that the engine delivers each restored message with DUP=1 the
// first time, as if its record had store.FlagFromBackup. Marking takes one
// LSN, so the staged store's LSN ends above the backup's.
//
// With count it also counts the messages, which reads the whole store:
// only a dry run, which starts no engine, needs that; after a restore the
// engine reports the count as it loads the messages anyway.
//
// Earlier versions rewrote every message record with the flag, then read
// every record to find the highest ID: with a store of many messages that
// was a large part of a restore's time.
func markFromBackup(dir, uid string, lsn uint64, count bool) (n int, err error) {
	s, err := store.Open(dir, store.Options{})
	if errors.Is(err, store.ErrNewerFormat) {
		return 0, fmt.Errorf("%w: store backup: %v", archive.ErrNewerFormat, err)
	}
	if err != nil {
		return 0, fmt.Errorf("%w: open staged store: %v", archive.ErrCorrupt, err)
	}
	defer func() {
		if cerr := s.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close staged store: %w", cerr)
		}
	}()
	if s.UID() != uid || s.LastLSN() != lsn {
		return 0, fmt.Errorf("%w: staged store is %s at LSN %d, its manifest says %s at LSN %d", archive.ErrCorrupt, s.UID(), s.LastLSN(), uid, lsn)
	}
	last, err := s.LastKey(store.KindPrefix(store.KindMessage))
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil // no messages
	}
	if err != nil {
		return 0, fmt.Errorf("mark restored messages: %w", err)
	}
	maxID, err := store.ParseMessageKey(last)
	if err != nil {
		return 0, fmt.Errorf("mark restored messages: message key %x: %w", last, err)
	}
	if count {
		err := s.Scan(store.KindPrefix(store.KindMessage), func([]byte, []byte) error {
			n++
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("count restored messages: %w", err)
		}
	}
	if err := s.MarkRestored(maxID); err != nil {
		return 0, err
	}
	return n, nil
}
