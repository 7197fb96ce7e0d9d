package policy

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/mqtt"
)

// Reason codes a Connect refusal carries (MQTT 5; the engine maps them to
// 3.1.1 return codes 4 and 5).
const (
	reasonBadCredentials byte = 0x86 // Bad User Name or Password
	reasonNotAuthorized  byte = 0x87 // Not authorized
	reasonServerBusy     byte = 0x89 // Server busy (3.1.1: 3, server unavailable)
	reasonRateExceeded   byte = 0x9F // Connection rate exceeded (3.1.1: 5)
)

// Options configure a Policy.
type Options struct {
	// Logger receives failed logins and refused connections (never a
	// password); nil discards.
	Logger *slog.Logger
	// Now returns the current time (tests); nil means time.Now.
	Now func() time.Time
	// Passwords runs the password hashes, bounded process-wide; the server
	// shares one with the admin API. Nil means a checker of this Policy's
	// own with the default limit.
	Passwords *config.PasswordChecker
}

// passwordChecker is what Policy needs of a config.PasswordChecker.
type passwordChecker interface {
	Check(ctx context.Context, hash, plain string) (bool, error)
}

// Stats count authentication and authorization outcomes. Fields are
// updated atomically and may be read at any time.
type Stats struct {
	// FailedLogins counts connections refused because their credentials
	// (user name, password or client certificate) did not authenticate.
	FailedLogins atomic.Uint64
	// ConnectionsDenied counts authenticated connections that no
	// ConnectionPolicy of their endpoint admitted.
	ConnectionsDenied atomic.Uint64
}

// Policy implements mqtt.Policy from the configuration's users, groups,
// security profiles and policies. Create it with New; it is safe for
// concurrent use.
type Policy struct {
	log   *slog.Logger
	stats Stats
	// dummyHash is verified against when the user is unknown, so that a
	// login costs the same whether or not the user exists.
	dummyHash string
	creds     *credCache
	limiter   *failLimiter
	passwords passwordChecker
}

var _ mqtt.Policy = (*Policy)(nil)

// New returns a Policy.
func New(opts Options) *Policy {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// The dummy hash is of a random password nobody knows. crypto/rand
	// never fails (Go 1.24+), and HashPassword fails only on an empty
	// password or a rand failure: an error here is a broken invariant.
	h, err := config.HashPassword(rand.Text())
	if err != nil {
		panic(fmt.Sprintf("policy: hash a random password: %v", err))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Passwords == nil {
		opts.Passwords = config.NewPasswordChecker(0)
	}
	return &Policy{log: opts.Logger, dummyHash: h, creds: newCredCache(opts.Now), limiter: newFailLimiter(opts.Now),
		passwords: opts.Passwords}
}

// Stats returns the policy's counters.
func (p *Policy) Stats() *Stats { return &p.stats }

// Connect implements mqtt.Policy: it authenticates the client against the
// endpoint's SecurityProfile and admits it if a ConnectionPolicy of the
// endpoint matches. A refusal returns a nil Client and 0x86 (credentials),
// 0x87 (not authorized), 0x89 (every password-check slot stayed busy until
// info.Context ended) or 0x9F (too many failed logins from the address).
func (p *Policy) Connect(cfg *config.Config, info mqtt.ConnInfo) (mqtt.Client, byte) {
	ep := cfg.Endpoints[info.Endpoint]
	if ep == nil {
		return p.deny(info, "endpoint not configured")
	}
	id := identity{endpoint: info.Endpoint, clientID: info.ClientID, protocol: "MQTT", addr: remoteIP(info.RemoteAddr)}
	if len(info.PeerCertificates) > 0 {
		id.commonName, id.hasCN = info.PeerCertificates[0].Subject.CommonName, true
	}
	sp := cfg.SecurityProfiles[ep.SecurityProfile]
	if sp != nil && sp.UseClientCertificate && !id.hasCN {
		return p.failLogin(info, "no client certificate", reasonNotAuthorized)
	}
	switch {
	case sp != nil && sp.UsePasswordAuthentication:
		if !info.HasUserName {
			return p.failLogin(info, "no user name", reasonBadCredentials)
		}
		// The token is reserved before the check, so that concurrent
		// logins from one address cannot all pass before any failure
		// counts; a failure keeps it spent.
		if !p.limiter.reserve(id.addr) {
			return p.failLogin(info, "too many failed logins from this address", reasonRateExceeded)
		}
		if len(info.Password) == 0 {
			if !sp.AllowNullPassword {
				return p.failLogin(info, "no password", reasonBadCredentials)
			}
		} else {
			ok, err := p.verify(info.Context, cfg, info.UserName, info.Password)
			if err != nil { // not checked: neither a success nor a failure
				p.limiter.refund(id.addr)
				p.log.Warn("mqtt login not checked: password checks busy until the connect timeout",
					"endpoint", info.Endpoint, "clientID", info.ClientID, "remote", addrString(info.RemoteAddr))
				return nil, reasonServerBusy
			}
			if !ok {
				return p.failLogin(info, "wrong user name or password", reasonBadCredentials)
			}
		}
		p.limiter.refund(id.addr)
		id.userID, id.hasUser = info.UserName, true
	case info.HasUserName:
		id.userID, id.hasUser = info.UserName, true
	}

	cl := &client{id: id}
	groups := cl.groups(cfg)
	matched := false
	for _, name := range ep.ConnectionPolicies {
		cp := cfg.ConnectionPolicies[name]
		if cp == nil || !matchFilters(&cp.Filters, &id, groups) {
			continue
		}
		matched = true
		if info.Persistent && !cp.AllowDurable {
			continue
		}
		cl.allowPersistent = cp.AllowPersistentMessages
		cl.maxExpiry = parseUnlimited(cp.MaxSessionExpiryInterval)
		return cl, 0
	}
	if matched {
		return p.deny(info, "durable session not allowed")
	}
	return p.deny(info, "no connection policy matches")
}

// verify checks a password in time independent of whether the user exists.
// A verification that succeeded within the last credTTL is taken from the
// credential cache instead of hashing again, without waiting for a
// password-check slot. A hash waits for a slot until ctx ends (nil: no
// bound); the error (config.ErrPasswordCheckBusy) means nothing was
// checked.
func (p *Policy) verify(ctx context.Context, cfg *config.Config, user string, password []byte) (bool, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	u := cfg.Users[user]
	if u == nil {
		_, err := p.passwords.Check(ctx, p.dummyHash, string(password))
		return false, err
	}
	d := p.creds.digest(user, password, u.Password)
	if p.creds.verified(d) {
		return true, nil
	}
	ok, err := p.passwords.Check(ctx, u.Password, string(password))
	if !ok || err != nil {
		return false, err
	}
	p.creds.remember(d)
	return true, nil
}

// failLogin counts and logs a failed authentication (never the password)
// and refuses the connection with rc.
func (p *Policy) failLogin(info mqtt.ConnInfo, why string, rc byte) (mqtt.Client, byte) {
	p.stats.FailedLogins.Add(1)
	p.log.Warn("mqtt login failed", "endpoint", info.Endpoint, "clientID", info.ClientID,
		"user", info.UserName, "remote", addrString(info.RemoteAddr), "reason", why)
	return nil, rc
}

// deny counts and logs a connection that no ConnectionPolicy admits.
func (p *Policy) deny(info mqtt.ConnInfo, why string) (mqtt.Client, byte) {
	p.stats.ConnectionsDenied.Add(1)
	p.log.Info("mqtt connection not authorized", "endpoint", info.Endpoint, "clientID", info.ClientID,
		"user", info.UserName, "remote", addrString(info.RemoteAddr), "reason", why)
	return nil, reasonNotAuthorized
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// remoteIP extracts the client's IP address (IPv4-mapped IPv6 unmapped).
func remoteIP(a net.Addr) netip.Addr {
	switch v := a.(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(v.IP)
		return ip.Unmap()
	case nil:
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// parseUnlimited reads a MessageSight "unlimited"-or-seconds value as
// seconds; "unlimited" (or anything a validated document cannot hold) is
// math.MaxUint32.
func parseUnlimited(v string) uint32 {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n == 0 {
		return math.MaxUint32
	}
	return uint32(n)
}
