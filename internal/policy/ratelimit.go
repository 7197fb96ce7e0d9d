package policy

import (
	"net/netip"
	"sync"
	"time"
)

// failLimiter slows password guessing and the CPU and memory cost of failed
// logins (each costs an argon2id hash): every client address has a bucket
// of failBurst tokens that refills one token per failRefill. A login
// reserves a token before its password is checked and gets it back
// (refund) when it succeeds or was not checked at all, so a failure costs
// one token, and reserving is atomic: of any number of concurrent logins
// from one address at most failBurst reach the hash. While an address's
// bucket is empty its logins are refused before any hash is computed, even
// with the right password, so guessing gains nothing.
//
// mu guards buckets, which is bounded by failMaxAddrs: when full, buckets
// that have refilled completely are evicted; if none has, the oldest
// entries are dropped wholesale (an attacker spraying addresses gets
// fresh buckets, which costs it at most failBurst hashes per address; the
// process-wide config.PasswordChecker bounds how many run at once).
type failLimiter struct {
	now func() time.Time

	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

const (
	failBurst    = 10
	failRefill   = 6 * time.Second
	failMaxAddrs = 4096
)

func newFailLimiter(now func() time.Time) *failLimiter {
	return &failLimiter{now: now, buckets: make(map[netip.Addr]*bucket)}
}

// refillLocked brings b's tokens up to date at now.
func refillLocked(b *bucket, now time.Time) {
	b.tokens = min(failBurst, b.tokens+float64(now.Sub(b.at))/float64(failRefill))
	b.at = now
}

// reserve takes a token from addr's bucket for a login about to be
// checked; false means the bucket is empty and the login must be refused
// unchecked.
func (l *failLimiter) reserve(addr netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[addr]
	if b == nil {
		if len(l.buckets) >= failMaxAddrs {
			l.evictLocked(now)
		}
		b = &bucket{tokens: failBurst, at: now}
		l.buckets[addr] = b
	}
	refillLocked(b, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// refund gives back the token reserve took, for a login that succeeded
// or whose password was not checked.
func (l *failLimiter) refund(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.buckets[addr]; b != nil {
		refillLocked(b, l.now())
		b.tokens = min(failBurst, b.tokens+1)
	}
}

func (l *failLimiter) evictLocked(now time.Time) {
	for a, b := range l.buckets {
		if refillLocked(b, now); b.tokens >= failBurst {
			delete(l.buckets, a)
		}
	}
	if len(l.buckets) >= failMaxAddrs {
		clear(l.buckets)
	}
}
