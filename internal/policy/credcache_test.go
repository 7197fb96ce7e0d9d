package policy

import (
	"context"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/config"
)

// TestCredentialCache: a verified password is remembered for credTTL; a
// changed password or a deleted user never matches an old entry; a wrong
// password is never cached.
func TestCredentialCache(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	p := New(Options{Now: func() time.Time { return now }})
	verify := func(c *config.Config, user, password string) bool {
		t.Helper()
		ok, err := p.verify(context.Background(), c, user, []byte(password))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	c := config.New()
	if err := config.SetProperties(c, "User", "alice", map[string]any{"Password": "first"}); err != nil {
		t.Fatal(err)
	}
	if verify(c, "alice", "wrong") || len(p.creds.entries) != 0 {
		t.Fatalf("wrong password accepted or cached (%d entries)", len(p.creds.entries))
	}
	if !verify(c, "alice", "first") || len(p.creds.entries) != 1 {
		t.Fatalf("right password refused or not cached (%d entries)", len(p.creds.entries))
	}
	// The entry is keyed by user, password and stored hash.
	d := p.creds.digest("alice", []byte("first"), c.Users["alice"].Password)
	if !p.creds.verified(d) {
		t.Fatal("entry not found")
	}

	next := c.Clone()
	if err := config.SetProperties(next, "User", "alice", map[string]any{"Password": "second"}); err != nil {
		t.Fatal(err)
	}
	if verify(next, "alice", "first") {
		t.Fatal("old password accepted after a password change")
	}
	if !verify(next, "alice", "second") {
		t.Fatal("new password refused")
	}
	delete(next.Users, "alice")
	if verify(next, "alice", "second") {
		t.Fatal("deleted user accepted from the cache")
	}

	now = now.Add(credTTL + time.Second)
	if p.creds.verified(d) {
		t.Fatal("entry outlived credTTL")
	}
}

func TestCredentialCacheBound(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	cc := newCredCache(func() time.Time { return now })
	for i := range credMax {
		cc.remember(cc.digest("u", []byte{byte(i), byte(i >> 8)}, "h"))
	}
	if len(cc.entries) != credMax {
		t.Fatalf("%d entries, want %d", len(cc.entries), credMax)
	}
	cc.remember(cc.digest("u", []byte("one more"), "h"))
	if len(cc.entries) > credMax || !cc.verified(cc.digest("u", []byte("one more"), "h")) {
		t.Fatalf("full cache: %d entries (max %d), newest kept: %v", len(cc.entries), credMax,
			cc.verified(cc.digest("u", []byte("one more"), "h")))
	}
}
