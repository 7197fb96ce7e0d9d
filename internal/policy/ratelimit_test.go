package policy

import (
	"net/netip"
	"testing"
	"time"
)

func TestFailLimiter(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newFailLimiter(func() time.Time { return now })
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	for i := range failBurst {
		if !l.allow(a) {
			t.Fatalf("refused after %d failures, burst is %d", i, failBurst)
		}
		l.failed(a)
	}
	if l.allow(a) {
		t.Fatal("allowed after the burst was used up")
	}
	if !l.allow(b) {
		t.Fatal("another address is limited too")
	}
	now = now.Add(failRefill - time.Millisecond)
	if l.allow(a) {
		t.Fatal("allowed before a token came back")
	}
	now = now.Add(time.Millisecond)
	if !l.allow(a) {
		t.Fatal("refused after a refill period")
	}
	l.failed(a)
	if l.allow(a) {
		t.Fatal("the refilled token was not taken")
	}
}

func TestFailLimiterBound(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newFailLimiter(func() time.Time { return now })
	base := netip.MustParseAddr("10.0.0.0").As4()
	for i := range failMaxAddrs + 10 {
		ip := base
		ip[2], ip[3] = byte(i>>8), byte(i)
		l.failed(netip.AddrFrom4(ip))
		if len(l.buckets) > failMaxAddrs {
			t.Fatalf("%d buckets, bound %d", len(l.buckets), failMaxAddrs)
		}
	}
	// Buckets that refilled completely are evicted first.
	now = now.Add(failRefill)
	hot := netip.MustParseAddr("192.0.2.9")
	for range failBurst {
		l.failed(hot)
	}
	for i := range failMaxAddrs {
		ip := base
		ip[1], ip[2], ip[3] = 1, byte(i>>8), byte(i)
		l.failed(netip.AddrFrom4(ip))
	}
	if len(l.buckets) > failMaxAddrs {
		t.Fatalf("%d buckets, bound %d", len(l.buckets), failMaxAddrs)
	}
}
