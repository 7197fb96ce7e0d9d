package backup

import (
	"errors"
	"fmt"

	"github.com/mqsight/mqsight/internal/archive"
	"github.com/mqsight/mqsight/internal/store"
)

// flagBatchBytes bounds one batch of the FlagFromBackup rewrite.
const flagBatchBytes = 4 << 20

// errBatchFull stops a scan when the current batch is full.
var errBatchFull = errors.New("batch full")

// markFromBackup opens the staged store in dir, checks that it is the
// store uid at LSN lsn that the manifest describes (archive.ErrCorrupt
// otherwise), and sets store.FlagFromBackup on every message that lacks it,
// in batches of at most flagBatchBytes, so that the engine delivers each
// restored message with DUP=1 the first time. It returns the number of
// messages rewritten. Each batch takes an LSN, so the staged store's LSN
// ends above the backup's.
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
	prefix := store.KindPrefix(store.KindMessage)
	lower, upper := prefix, store.PrefixEnd(prefix)
	for {
		b := s.NewBatch()
		var last []byte
		count := 0
		err := s.ScanRange(lower, upper, func(key, value []byte) error {
			m, err := store.DecodeMessage(value)
			if err != nil {
				return fmt.Errorf("message %x: %w", key, err)
			}
			last = append(last[:0], key...)
			if m.Flags&store.FlagFromBackup == 0 {
				m.Flags |= store.FlagFromBackup
				b.Put(key, m.Encode())
				count++
			}
			if b.Len() >= flagBatchBytes {
				return errBatchFull
			}
			return nil
		})
		full := errors.Is(err, errBatchFull)
		if err != nil && !full {
			b.Discard()
			return n, fmt.Errorf("mark restored messages: %w", err)
		}
		if count > 0 {
			if _, err := s.Commit(b); err != nil {
				return n, fmt.Errorf("mark restored messages: %w", err)
			}
			n += count
		} else {
			b.Discard()
		}
		if !full {
			return n, nil
		}
		lower = append(last, 0) // the next key after last
	}
}
