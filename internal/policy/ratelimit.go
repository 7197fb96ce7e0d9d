package policy

import (
	"net/netip"
	"sync"
	"time"
)

// failLimiter slows password guessing and the CPU cost of failed logins
// (each costs an argon2id hash): every client address has a bucket of
// failBurst failed logins that refills one token per failRefill. While an
// address's bucket is empty its logins are refused before any hash is
// computed, even with the right password, so guessing gains nothing.
//
// mu guards buckets, which is bounded by failMaxAddrs: when full, buckets
// that have refilled completely are evicted; if none has, the oldest
// entries are dropped wholesale (an attacker spraying addresses gets
// fresh buckets, which costs it at most failBurst hashes per address).
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

// allow reports whether addr may attempt a login now.
func (l *failLimiter) allow(addr netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[addr]
	if b == nil {
		return true
	}
	refillLocked(b, l.now())
	return b.tokens >= 1
}

// failed takes a token from addr's bucket.
func (l *failLimiter) failed(addr netip.Addr) {
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
	b.tokens = max(0, b.tokens-1)
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
