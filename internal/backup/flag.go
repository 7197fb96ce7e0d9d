package backup

import (
	"fmt"

	"github.com/mqsight/mqsight/internal/archive"
	"github.com/mqsight/mqsight/internal/store"
)

// markFromBackup opens the staged store in dir, checks that it is the
// store uid at LSN lsn that the manifest describes (archive.ErrCorrupt
// otherwise), and marks every message in it as restored
// (store.MarkRestored with the highest message ID), so that the engine
// delivers each restored message with DUP=1 the first time, as if its
// record had store.FlagFromBackup. It returns the number of messages so
// marked. Marking takes one LSN, so the staged store's LSN ends above the
// backup's.
//
// An earlier version rewrote every message record with the flag: with a
// store of many messages that rewrite was most of a restore's time.
func markFromBackup(dir, uid string, lsn uint64) (n int, err error) {
	s, err := store.Open(dir, store.Options{})
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
	var maxID uint64
	err = s.Scan(store.KindPrefix(store.KindMessage), func(key, _ []byte) error {
		id, err := store.ParseMessageKey(key)
		if err != nil {
			return fmt.Errorf("message key %x: %w", key, err)
		}
		maxID = max(maxID, id)
		n++
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("mark restored messages: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	if err := s.MarkRestored(maxID); err != nil {
		return 0, err
	}
	return n, nil
}
