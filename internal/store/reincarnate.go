package store

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Reincarnate gives the closed store in dir a new UID and raises its LSN to
// at least minLSN, durably. A restore calls it on the store it is about to
// switch in: the restored data then no longer claims the identity of the
// store it was backed up from (a (UID, LSN) pair names one state), and its
// LSNs continue above those the live store already used on this server.
// It returns the new UID and LSN.
func Reincarnate(dir string, minLSN uint64) (uid string, lsn uint64, err error) {
	db, err := pebble.Open(dir, Options{}.withDefaults().pebbleOptions(false))
	if err != nil {
		return "", 0, fmt.Errorf("reincarnate store %s: %w", dir, err)
	}
	defer func() {
		if cerr := db.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("reincarnate store %s: close: %w", dir, cerr)
		}
	}()
	_, lsn, err = readMeta(db)
	if err != nil {
		return "", 0, fmt.Errorf("reincarnate store %s: %w", dir, err)
	}
	lsn = max(lsn, minLSN)
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", 0, fmt.Errorf("generate store uid: %w", err)
	}
	uid = hex.EncodeToString(raw[:])
	b := db.NewBatch()
	defer b.Close()
	_ = b.Set([]byte(metaUIDKey), []byte(uid), nil)
	_ = b.Set([]byte(metaLSNKey), binary.BigEndian.AppendUint64(nil, lsn), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return "", 0, fmt.Errorf("reincarnate store %s: %w", dir, err)
	}
	return uid, lsn, nil
}
