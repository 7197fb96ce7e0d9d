package admin

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/config/configtest"
)

func serveAs(h http.Handler, user, password string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", "/ima/v1/configuration/MessageHub", nil) // RemoteAddr 192.0.2.1
	req.SetBasicAuth(user, password)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestConcurrentFailedLogins: of many concurrent wrong-password requests
// from one address, at most the burst (10) reach the password check; the
// rest are refused with 429 at once. Before the token was reserved ahead
// of the check, the audit saw 78 argon2id checks from 500 parallel
// requests.
func TestConcurrentFailedLogins(t *testing.T) {
	const burst, n = 10, 50
	a, _ := newTestAPI(t)
	f := &configtest.Checker{Entered: make(chan struct{}, n), Release: make(chan struct{}),
		Result: func(string, string) (bool, error) { return false, nil }}
	a.auth.passwords = f
	codes := make(chan int, n)
	for i := range n {
		user := "admin"
		if i%2 == 1 {
			user = "nobody" // unknown users cost a (dummy) check too
		}
		go func() { codes <- serveAs(a, user, "guess").Code }()
	}
	refused, checked := 0, 0
	timeout := time.After(10 * time.Second)
	for refused+checked < n {
		select {
		case code := <-codes:
			if code != http.StatusTooManyRequests {
				t.Fatalf("a request returned %d while the checks were held; want 429", code)
			}
			refused++
		case <-f.Entered:
			checked++
		case <-timeout:
			t.Fatalf("after 10s: %d checked, %d refused of %d", checked, refused, n)
		}
	}
	if checked > burst {
		t.Fatalf("%d concurrent requests from one address reached the password check; burst is %d", checked, burst)
	}
	close(f.Release)
	for range checked {
		if code := <-codes; code != http.StatusUnauthorized {
			t.Fatalf("checked wrong password: %d, want 401", code)
		}
	}
}

// TestAuthBusyAndRefund: a request whose password could not be checked
// (every check slot busy for authWait) is answered 503 CWLNA9207 with
// Retry-After and costs no token, nor does a successful login; only
// failures use up the burst.
func TestAuthBusyAndRefund(t *testing.T) {
	a, _ := newTestAPI(t)
	busy := true
	f := &configtest.Checker{Result: func(hash, plain string) (bool, error) {
		if busy {
			return false, config.ErrPasswordCheckBusy
		}
		return config.VerifyPassword(hash, plain), nil
	}}
	a.auth.passwords = f
	for range 20 {
		rec := serveAs(a, "admin", "guess")
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" {
			t.Fatalf("busy: %d Retry-After %q, want 503 and 1", rec.Code, rec.Header().Get("Retry-After"))
		}
	}
	busy = false
	for range 20 { // the first verifies, the rest come from the cache
		if rec := serveAs(a, "admin", testPassword); rec.Code != http.StatusOK {
			t.Fatalf("right password: %d", rec.Code)
		}
	}
	for i := range 10 {
		if rec := serveAs(a, "admin", "guess"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i, rec.Code)
		}
	}
	if rec := serveAs(a, "admin", testPassword); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("right password after 10 failures: %d, want 429", rec.Code)
	}
}

// TestCachedAdminLoginNeedsNoCheckSlot: credentials verified within
// cacheTTL are accepted while every password-check slot is busy.
func TestCachedAdminLoginNeedsNoCheckSlot(t *testing.T) {
	a, _ := newTestAPI(t)
	if rec := serveAs(a, "admin", testPassword); rec.Code != http.StatusOK {
		t.Fatalf("first login: %d", rec.Code)
	}
	f := &configtest.Checker{Result: func(string, string) (bool, error) { return false, config.ErrPasswordCheckBusy }}
	a.auth.passwords = f
	for range 30 {
		if rec := serveAs(a, "admin", testPassword); rec.Code != http.StatusOK {
			t.Fatalf("cached login with every slot busy: %d", rec.Code)
		}
	}
	if n := f.Checks.Load(); n != 0 {
		t.Fatalf("%d password checks for cached logins", n)
	}
}
