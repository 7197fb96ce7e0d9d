package admin

import (
	"sync"
	"time"
)

// rateLimiter limits failed authentication attempts per source address
// with a token bucket: each address starts with burst tokens, and tokens
// come back at one per refill. An attempt reserves a token before its
// password is checked and gets it back (refund) if it succeeds or was not
// checked, so a failed attempt spends one. Reserving is atomic: of any
// number of concurrent attempts from one address at most burst reach the
// password hash. An address with no token left is refused (429) before its
// password is checked, so guessing costs the attacker time and the server
// no hashing.
//
// Locking: mu guards buckets. The map is bounded (maxEntries); when it is
// full, buckets that have refilled completely are dropped first, then the
// least recently touched.
type rateLimiter struct {
	burst  float64
	refill time.Duration
	now    func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was computed
}

const maxRateEntries = 4096

func newRateLimiter(burst int, refill time.Duration, now func() time.Time) *rateLimiter {
	if burst <= 0 {
		burst = 10
	}
	if refill <= 0 {
		refill = 6 * time.Second
	}
	return &rateLimiter{burst: float64(burst), refill: refill, now: now, buckets: make(map[string]*bucket)}
}

// levelLocked brings b's tokens up to date.
func (l *rateLimiter) levelLocked(b *bucket, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens += float64(d) / float64(l.refill)
		if b.tokens > l.burst {
			b.tokens = l.burst
		}
		b.at = now
	}
}

// reserve takes a token of addr for an attempt about to be checked and
// returns 0; if addr has none, it takes nothing and returns how long addr
// must wait for one.
func (l *rateLimiter) reserve(addr string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[addr]
	if b == nil {
		if len(l.buckets) >= maxRateEntries {
			l.evictLocked(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[addr] = b
	}
	l.levelLocked(b, now)
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) * float64(l.refill))
	}
	b.tokens--
	return 0
}

// refund gives back the token reserve took, for an attempt that succeeded
// or whose password was not checked.
func (l *rateLimiter) refund(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.buckets[addr]; b != nil {
		l.levelLocked(b, l.now())
		b.tokens = min(l.burst, b.tokens+1)
	}
}

// evictLocked makes room for one bucket.
func (l *rateLimiter) evictLocked(now time.Time) {
	var oldest string
	var oldestAt time.Time
	for addr, b := range l.buckets {
		l.levelLocked(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, addr)
			continue
		}
		if oldest == "" || b.at.Before(oldestAt) {
			oldest, oldestAt = addr, b.at
		}
	}
	if len(l.buckets) >= maxRateEntries {
		delete(l.buckets, oldest)
	}
}
