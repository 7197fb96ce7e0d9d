package policy

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// credCache remembers recently verified (user, password) pairs so that a
// client reconnecting within credTTL does not pay another argon2id
// verification (~20-50 ms of CPU and 19 MiB each), which would otherwise
// bound the connect rate of a reconnect storm.
//
// An entry's key is HMAC-SHA-256 under a random per-process key of the
// user name, the password and the stored hash: the cache holds no password
// and no unkeyed digest of one, and a changed password (new hash) or a
// deleted user never matches an old entry. Only successes are cached.
//
// mu guards entries; the map is bounded by credMax (expired entries are
// swept when it is full; if none has expired, it is emptied).
type credCache struct {
	key []byte
	now func() time.Time

	mu      sync.Mutex
	entries map[[sha256.Size]byte]time.Time // expiry
}

const (
	credTTL = 5 * time.Minute
	credMax = 16384
)

func newCredCache(now func() time.Time) *credCache {
	return &credCache{key: []byte(rand.Text()), now: now, entries: make(map[[sha256.Size]byte]time.Time)}
}

func (c *credCache) digest(user string, password []byte, hash string) [sha256.Size]byte {
	m := hmac.New(sha256.New, c.key)
	for _, part := range [][]byte{[]byte(user), password, []byte(hash)} {
		var n [4]byte
		n[0], n[1], n[2], n[3] = byte(len(part)>>24), byte(len(part)>>16), byte(len(part)>>8), byte(len(part))
		m.Write(n[:])
		m.Write(part)
	}
	var d [sha256.Size]byte
	m.Sum(d[:0])
	return d
}

// verified reports whether the pair was verified against hash within
// credTTL.
func (c *credCache) verified(d [sha256.Size]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.entries[d]
	if ok && c.now().After(exp) {
		delete(c.entries, d)
		return false
	}
	return ok
}

// remember records a successful verification.
func (c *credCache) remember(d [sha256.Size]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.entries) >= credMax {
		for k, exp := range c.entries {
			if now.After(exp) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= credMax {
			clear(c.entries)
		}
	}
	c.entries[d] = now.Add(credTTL)
}
