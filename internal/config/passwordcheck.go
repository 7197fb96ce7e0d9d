package config

import (
	"context"
	"errors"
	"fmt"
	"runtime"
)

// ErrPasswordCheckBusy is returned by PasswordChecker.Check when every slot
// stayed taken until the caller's context ended: the password was not
// checked, so the caller neither admits nor counts a failed login, and
// answers "busy, retry".
var ErrPasswordCheckBusy = errors.New("password check: too many checks in progress")

// PasswordChecker verifies passwords for untrusted callers (the admin API's
// basic authentication, MQTT CONNECT) with a process-wide bound on how many
// verifications run at once.
//
// Each argon2id verification allocates the hash's memory cost (19 MiB for
// hashes HashPassword makes, up to maxArgonMemoryKiB for a stored one) for
// its whole run, so N concurrent checks hold N times that; a per-address
// rate limit does not bound N when the requests come from many addresses.
// With a PasswordChecker the peak is Limit() checks whatever the number of
// connections or addresses. Excess callers wait for a slot, in no
// particular order, until their context ends: a reconnect storm of
// legitimate clients is slowed, not refused, while each client's own
// deadline (the MQTT connect timeout, the admin request's) bounds the wait.
//
// One PasswordChecker serves the whole process (the server creates it and
// hands it to the admin API and the MQTT policy); it is safe for concurrent
// use. Callers keep their own credential caches in front of it, so a
// recently verified login needs no slot.
type PasswordChecker struct {
	slots  chan struct{}                 // one element per running check; cap is the limit
	verify func(hash, plain string) bool // VerifyPassword; tests count and block it
}

// NewPasswordChecker returns a checker that runs at most limit
// verifications at once; limit <= 0 means max(2, GOMAXPROCS): argon2id with
// one lane is CPU-bound, so more would only queue on the CPUs while
// holding their memory.
func NewPasswordChecker(limit int) *PasswordChecker {
	if limit <= 0 {
		limit = max(2, runtime.GOMAXPROCS(0))
	}
	return &PasswordChecker{slots: make(chan struct{}, limit), verify: VerifyPassword}
}

// Limit returns how many verifications may run at once.
func (c *PasswordChecker) Limit() int { return cap(c.slots) }

// Check reports whether plain matches hash, as VerifyPassword does, once
// one of the Limit() slots is free. If ctx ends before a slot frees, it
// returns an error wrapping ErrPasswordCheckBusy without hashing.
func (c *PasswordChecker) Check(ctx context.Context, hash, plain string) (bool, error) {
	select {
	case c.slots <- struct{}{}:
	default:
		select {
		case c.slots <- struct{}{}:
		case <-ctx.Done():
			return false, fmt.Errorf("%w: %w", ErrPasswordCheckBusy, context.Cause(ctx))
		}
	}
	defer func() { <-c.slots }()
	return c.verify(hash, plain), nil
}
