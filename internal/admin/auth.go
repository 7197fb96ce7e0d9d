package admin

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/mqsight/mqsight/internal/config"
)

// The roles of AdminUser, from least to most privileged.
const (
	RoleUser                   = "User"
	RoleMessagingAdministrator = "MessagingAdministrator"
	RoleSystemAdministrator    = "SystemAdministrator"
)

// access is what a route needs from its caller.
type access int

const (
	// readAccess: any authenticated admin user (GET, monitoring).
	readAccess access = iota + 1
	// messagingAccess: MessagingAdministrator or SystemAdministrator
	// (messaging configuration, files).
	messagingAccess
	// systemAccess: SystemAdministrator only (server configuration,
	// restart, backup, restore).
	systemAccess
)

// roleAccess is the highest access a role grants.
func roleAccess(role string) access {
	switch role {
	case RoleSystemAdministrator:
		return systemAccess
	case RoleMessagingAdministrator:
		return messagingAccess
	case RoleUser:
		return readAccess
	}
	return 0
}

// caller is an authenticated admin user.
type caller struct {
	Name string
	Role string
}

// require refuses with 403 when the caller's role grants less than need.
func (c *caller) require(need access) error {
	if roleAccess(c.Role) < need {
		return apiError(CodeForbidden, strconv.Quote(c.Name), c.Role)
	}
	return nil
}

// authenticator checks HTTP basic credentials against the AdminUsers of
// the configuration in force.
//
// Verified credentials are remembered for cacheTTL so that a script's
// burst of requests does not pay an argon2id hash per request: the cache
// key is an HMAC, under a random per-process key, of the user name, the
// password and the stored hash, so a changed password or a deleted user
// never matches an old entry and the cache holds no password.
type authenticator struct {
	config    func() *config.Manager
	limiter   *rateLimiter
	passwords passwordChecker
	now       func() time.Time
	log       *slog.Logger
	macKey    [32]byte
	dummy     string // hash verified for unknown users, so timing does not tell them apart

	mu    sync.Mutex
	cache map[[32]byte]time.Time // HMAC → expiry; guarded by mu
}

// passwordChecker is what the authenticator needs of a
// config.PasswordChecker.
type passwordChecker interface {
	Check(ctx context.Context, hash, plain string) (bool, error)
}

const (
	// authWait bounds how long a request waits for a password-check slot
	// (config.PasswordChecker) before it is answered 503 CWLNA9207.
	authWait     = 5 * time.Second
	cacheTTL     = time.Minute
	cacheEntries = 1024
	realm        = `Basic realm="mqsight admin", charset="UTF-8"`
)

func newAuthenticator(cfg func() *config.Manager, limiter *rateLimiter, passwords passwordChecker, now func() time.Time, log *slog.Logger) *authenticator {
	a := &authenticator{config: cfg, limiter: limiter, passwords: passwords, now: now, log: log, cache: make(map[[32]byte]time.Time)}
	rand.Read(a.macKey[:])
	if h, err := config.HashPassword(rand.Text()); err == nil {
		a.dummy = h
	}
	return a
}

// authenticate returns the caller of r, or a 401 / 429 / 503 error.
//
// The address's token is reserved before the password is checked, so that
// concurrent requests cannot all pass before any failure counts; a failure
// keeps it spent, anything else gives it back.
func (a *authenticator) authenticate(r *http.Request) (*caller, error) {
	addr := r.RemoteAddr
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	if d := a.limiter.reserve(addr); d > 0 {
		secs := int(math.Ceil(d.Seconds()))
		e := apiError(CodeTooManyAttempts, secs)
		e.Header = http.Header{"Retry-After": {strconv.Itoa(secs)}}
		return nil, e
	}
	name, password, ok := r.BasicAuth()
	if !ok {
		a.limiter.refund(addr)
		return nil, unauthenticated()
	}
	user := a.config().Current().AdminUsers[name]
	ctx, cancel := context.WithTimeout(r.Context(), authWait)
	defer cancel()
	var verified bool
	var err error
	if user == nil {
		_, err = a.passwords.Check(ctx, a.dummy, password)
	} else {
		verified, err = a.verify(ctx, name, password, user.Password)
	}
	if err != nil { // not checked: every slot stayed busy
		a.limiter.refund(addr)
		e := apiError(CodeAuthBusy)
		e.Header = http.Header{"Retry-After": {"1"}}
		return nil, e
	}
	if !verified {
		// An unknown name is not logged: it may be a password typed into
		// the user field.
		logged := "(unknown user)"
		if user != nil {
			logged = name
		}
		a.log.Warn("admin authentication failed", "user", logged, "remote", r.RemoteAddr)
		return nil, unauthenticated()
	}
	a.limiter.refund(addr)
	return &caller{Name: user.Name, Role: user.Role}, nil
}

func unauthenticated() *Error {
	e := apiError(CodeUnauthenticated)
	e.Header = http.Header{"Www-Authenticate": {realm}}
	return e
}

// verify checks password against hash, through the cache: a cached
// success needs no password-check slot. The error
// (config.ErrPasswordCheckBusy) means nothing was checked.
func (a *authenticator) verify(ctx context.Context, name, password, hash string) (bool, error) {
	mac := hmac.New(sha256.New, a.macKey[:])
	for _, s := range []string{name, password, hash} {
		mac.Write([]byte(strconv.Itoa(len(s))))
		mac.Write([]byte{0})
		mac.Write([]byte(s))
	}
	var key [32]byte
	copy(key[:], mac.Sum(nil))
	now := a.now()
	a.mu.Lock()
	exp, ok := a.cache[key]
	a.mu.Unlock()
	if ok && now.Before(exp) {
		return true, nil
	}
	if ok, err := a.passwords.Check(ctx, hash, password); !ok || err != nil {
		return false, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cache) >= cacheEntries {
		for k, e := range a.cache {
			if !now.Before(e) || len(a.cache) >= cacheEntries {
				delete(a.cache, k)
			}
		}
	}
	a.cache[key] = now.Add(cacheTTL)
	return true, nil
}
