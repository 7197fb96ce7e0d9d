package policy

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/config/configtest"
	"github.com/mqsight/mqsight/internal/mqtt"
)

func TestFailLimiter(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newFailLimiter(func() time.Time { return now })
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	for range 3 * failBurst { // successes are refunded and cost nothing
		if !l.reserve(a) {
			t.Fatal("a successful login was refused")
		}
		l.refund(a)
	}
	for i := range failBurst {
		if !l.reserve(a) {
			t.Fatalf("refused after %d failures, burst is %d", i, failBurst)
		}
	}
	if l.reserve(a) {
		t.Fatal("reserved after the burst was used up")
	}
	if !l.reserve(b) {
		t.Fatal("another address is limited too")
	}
	now = now.Add(failRefill - time.Millisecond)
	if l.reserve(a) {
		t.Fatal("reserved before a token came back")
	}
	now = now.Add(time.Millisecond)
	if !l.reserve(a) {
		t.Fatal("refused after a refill period")
	}
	if l.reserve(a) {
		t.Fatal("the refilled token was not taken")
	}
	l.refund(a)
	l.refund(a) // more refunds than reservations: capped at the burst
	now = now.Add(100 * failRefill)
	for range failBurst {
		l.reserve(a)
	}
	if l.reserve(a) {
		t.Fatal("the bucket held more than the burst")
	}
}

func TestFailLimiterBound(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newFailLimiter(func() time.Time { return now })
	base := netip.MustParseAddr("10.0.0.0").As4()
	for i := range failMaxAddrs + 10 {
		ip := base
		ip[2], ip[3] = byte(i>>8), byte(i)
		l.reserve(netip.AddrFrom4(ip))
		if len(l.buckets) > failMaxAddrs {
			t.Fatalf("%d buckets, bound %d", len(l.buckets), failMaxAddrs)
		}
	}
	// Buckets that refilled completely are evicted first.
	now = now.Add(failRefill)
	hot := netip.MustParseAddr("192.0.2.9")
	for range failBurst {
		l.reserve(hot)
	}
	for i := range failMaxAddrs {
		ip := base
		ip[1], ip[2], ip[3] = 1, byte(i>>8), byte(i)
		l.reserve(netip.AddrFrom4(ip))
	}
	if len(l.buckets) > failMaxAddrs {
		t.Fatalf("%d buckets, bound %d", len(l.buckets), failMaxAddrs)
	}
}

// passwordPolicy returns a configuration whose endpoint E requires
// password authentication of user alice, and a Policy checking passwords
// with f.
func passwordPolicy(f *configtest.Checker) (*config.Config, *Policy) {
	c := config.New()
	c.SecurityProfiles["SP"] = &config.SecurityProfile{Name: "SP", UsePasswordAuthentication: true}
	c.Endpoints["E"] = &config.Endpoint{Name: "E", SecurityProfile: "SP"}
	c.Users["alice"] = &config.User{Name: "alice", Password: "stored-hash"}
	p := New(Options{})
	p.passwords = f
	return c, p
}

func login(addr, password string) mqtt.ConnInfo {
	return mqtt.ConnInfo{Endpoint: "E", ClientID: "c", UserName: "alice", HasUserName: true,
		Password: []byte(password), HasPassword: true, RemoteAddr: &net.TCPAddr{IP: net.ParseIP(addr), Port: 1}}
}

// TestConcurrentFailedLogins: of many concurrent wrong-password logins
// from one address, at most failBurst reach the password check, because
// each reserves its token before checking; the rest are refused with 0x9F
// at once. Before tokens were reserved, all of them were checked (the
// audit saw 78 argon2id checks from 500 parallel admin requests).
func TestConcurrentFailedLogins(t *testing.T) {
	const n = 5 * failBurst
	f := &configtest.Checker{Entered: make(chan struct{}, n), Release: make(chan struct{}),
		Result: func(string, string) (bool, error) { return false, nil }}
	c, p := passwordPolicy(f)
	rcs := make(chan byte, n)
	for range n {
		go func() {
			_, rc := p.Connect(c, login("192.0.2.1", "guess"))
			rcs <- rc
		}()
	}
	// Every login either reaches the (blocked) check or is refused.
	refused, checked := 0, 0
	timeout := time.After(10 * time.Second)
	for refused+checked < n {
		select {
		case rc := <-rcs:
			if rc != reasonRateExceeded {
				t.Fatalf("a login returned 0x%02X while the checks were held; want 0x9F", rc)
			}
			refused++
		case <-f.Entered:
			checked++
		case <-timeout:
			t.Fatalf("after 10s: %d checked, %d refused of %d", checked, refused, n)
		}
	}
	if checked > failBurst {
		t.Fatalf("%d concurrent logins from one address reached the password check; burst is %d", checked, failBurst)
	}
	close(f.Release)
	for range checked {
		if rc := <-rcs; rc != reasonBadCredentials {
			t.Fatalf("checked wrong password: 0x%02X, want 0x86", rc)
		}
	}
	if _, rc := p.Connect(c, login("192.0.2.1", "guess")); rc != reasonRateExceeded {
		t.Fatalf("after the burst: 0x%02X, want 0x9F", rc)
	}
	if _, rc := p.Connect(c, login("192.0.2.2", "guess")); rc != reasonBadCredentials {
		t.Fatalf("another address: 0x%02X, want 0x86", rc)
	}
}

// TestLoginTokenRefund: a successful login and one whose password was not
// checked (every check slot busy until the connect deadline: 0x89) give
// their token back; only failures use up the burst.
func TestLoginTokenRefund(t *testing.T) {
	busy := false
	f := &configtest.Checker{Result: func(_, plain string) (bool, error) {
		if busy {
			return false, config.ErrPasswordCheckBusy
		}
		return plain == "right", nil
	}}
	c, p := passwordPolicy(f)
	for i := range 3 * failBurst {
		p.creds = newCredCache(time.Now) // no cache: every login is checked
		if _, rc := p.Connect(c, login("192.0.2.1", "right")); rc == reasonRateExceeded || rc == reasonBadCredentials {
			t.Fatalf("right password %d: 0x%02X", i, rc)
		}
	}
	busy = true
	for i := range 3 * failBurst {
		if _, rc := p.Connect(c, login("192.0.2.1", "guess")); rc != reasonServerBusy {
			t.Fatalf("busy check %d: 0x%02X, want 0x89", i, rc)
		}
	}
	busy = false
	for i := range failBurst {
		if _, rc := p.Connect(c, login("192.0.2.1", "guess")); rc != reasonBadCredentials {
			t.Fatalf("failure %d: 0x%02X, want 0x86", i, rc)
		}
	}
	if _, rc := p.Connect(c, login("192.0.2.1", "right")); rc != reasonRateExceeded {
		t.Fatalf("right password after %d failures: 0x%02X, want 0x9F", failBurst, rc)
	}
	if n := int(f.Checks.Load()); n != 3*failBurst+3*failBurst+failBurst {
		t.Fatalf("%d checks; the refused login must not be checked", n)
	}
}

// TestCachedLoginNeedsNoCheckSlot: a login verified within credTTL is
// admitted from the credential cache even while every password-check slot
// is busy, so a reconnect storm of known devices does not queue behind
// hashes.
func TestCachedLoginNeedsNoCheckSlot(t *testing.T) {
	f := &configtest.Checker{Result: func(string, string) (bool, error) { return false, config.ErrPasswordCheckBusy }}
	c, p := passwordPolicy(f)
	p.creds.remember(p.creds.digest("alice", []byte("right"), "stored-hash"))
	for i := range 3 * failBurst {
		if _, rc := p.Connect(c, login("192.0.2.1", "right")); rc == reasonServerBusy || rc == reasonRateExceeded {
			t.Fatalf("cached login %d: 0x%02X", i, rc)
		}
	}
	if n := f.Checks.Load(); n != 0 {
		t.Fatalf("%d password checks for cached logins", n)
	}
	if _, rc := p.Connect(c, login("192.0.2.1", "other")); rc != reasonServerBusy {
		t.Fatalf("uncached login with every slot busy: 0x%02X, want 0x89", rc)
	}
}
