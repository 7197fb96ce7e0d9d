package policy_test

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
	"github.com/mqsight/mqsight/internal/testport"
)

// userHashes are the argon2id hashes of alice's and bob's passwords,
// computed once: hashing is deliberately slow, and the tables build many
// configurations.
var userHashes = sync.OnceValue(func() map[string]string {
	out := map[string]string{}
	for user, pw := range map[string]string{"alice": "alice-secret", "bob": "bob-secret"} {
		h, err := config.HashPassword(pw)
		if err != nil {
			panic(err)
		}
		out[user] = h
	}
	return out
})

// usersConfig adds messaging users alice (group devs, nested in staff) and
// bob (group ops) and a plain-TCP SecurityProfile SP with password
// authentication, used by DemoEndpoint.
func usersConfig(t testing.TB, sp map[string]any) *config.Config {
	c := baseConfig(t)
	set(t, c, "Group", "staff", map[string]any{})
	set(t, c, "Group", "devs", map[string]any{"GroupMembership": "staff"})
	set(t, c, "Group", "ops", map[string]any{})
	h := userHashes()
	c.Users["alice"] = &config.User{Name: "alice", Password: h["alice"], GroupMembership: config.List{"devs"}}
	c.Users["bob"] = &config.User{Name: "bob", Password: h["bob"], GroupMembership: config.List{"ops"}}
	if sp != nil {
		props := map[string]any{"TLSEnabled": false}
		for k, v := range sp {
			props[k] = v
		}
		set(t, c, "SecurityProfile", "SP", props)
		set(t, c, "Endpoint", "DemoEndpoint", map[string]any{"SecurityProfile": "SP"})
	}
	return c
}

// TestConnectionPolicyFilters: a client connects when at least one
// ConnectionPolicy of its endpoint matches every set filter.
func TestConnectionPolicyFilters(t *testing.T) {
	alice := creds("d1", "alice", []byte("alice-secret"))
	bob := creds("d1", "bob", []byte("bob-secret"))
	anon := creds("d1", "", nil)
	other := creds("x1", "", nil)
	for _, tc := range []struct {
		name    string
		filters map[string]any
		opts    mqtttest.ConnectOptions
		allowed bool
	}{
		{"ClientID exact", map[string]any{"ClientID": "d1"}, anon, true},
		{"ClientID wildcard", map[string]any{"ClientID": "d*"}, anon, true},
		{"ClientID other", map[string]any{"ClientID": "d*"}, other, false},
		{"UserID match", map[string]any{"UserID": "alice"}, alice, true},
		{"UserID wildcard", map[string]any{"UserID": "al*"}, alice, true},
		{"UserID other user", map[string]any{"UserID": "alice"}, bob, false},
		{"UserID star needs a user", map[string]any{"UserID": "*"}, anon, false},
		{"GroupID direct", map[string]any{"GroupID": "devs"}, alice, true},
		{"GroupID nested", map[string]any{"GroupID": "staff"}, alice, true},
		{"GroupID not member", map[string]any{"GroupID": "staff"}, bob, false},
		{"GroupID anonymous", map[string]any{"GroupID": "*"}, anon, false},
		{"ClientAddress exact", map[string]any{"ClientAddress": "127.0.0.1"}, anon, true},
		{"ClientAddress range", map[string]any{"ClientAddress": "10.0.0.1, 127.0.0.0-127.0.0.9"}, anon, true},
		{"ClientAddress other", map[string]any{"ClientAddress": "10.0.0.1-10.0.0.255"}, anon, false},
		{"ClientAddress IPv6 only", map[string]any{"ClientAddress": "[::1]"}, anon, false},
		{"ClientAddress star", map[string]any{"ClientAddress": "*"}, anon, true},
		{"Protocol MQTT", map[string]any{"Protocol": "MQTT"}, anon, true},
		{"Protocol JMS only", map[string]any{"Protocol": "JMS"}, anon, false},
		{"CommonNames without certificate", map[string]any{"CommonNames": "*"}, anon, false},
		{"every filter must match", map[string]any{"ClientID": "d1", "UserID": "bob"}, alice, false},
		{"all filters match", map[string]any{"ClientID": "d*", "GroupID": "staff", "ClientAddress": "127.0.0.1", "Protocol": "MQTT"}, alice, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := usersConfig(t, map[string]any{"UsePasswordAuthentication": false})
			set(t, c, "ConnectionPolicy", "CP", tc.filters)
			set(t, c, "ConnectionPolicy", "Never", map[string]any{"ClientID": "nobody"})
			endpoint(t, c, "Never,CP", "DemoTopicPolicy", "")
			s := start(t, c)
			for _, v := range versions {
				_, rc := s.connect(t, v, tc.opts)
				want := byte(0)
				if !tc.allowed {
					want = notAuthorized(v)
				}
				if rc != want {
					t.Errorf("v%d: CONNACK 0x%02X, want 0x%02X", v, rc, want)
				}
			}
			if !tc.allowed && s.p.Stats().ConnectionsDenied.Load() != uint64(len(versions)) {
				t.Errorf("ConnectionsDenied = %d, want %d", s.p.Stats().ConnectionsDenied.Load(), len(versions))
			}
		})
	}
}

// TestPasswordAuthentication covers the SecurityProfile's
// UsePasswordAuthentication and AllowNullPassword.
func TestPasswordAuthentication(t *testing.T) {
	const (
		ok   = 0
		bad  = 1 // bad user name or password
		deny = 2 // not authorized (policy)
	)
	for _, tc := range []struct {
		name    string
		profile map[string]any // nil: no SecurityProfile
		opts    mqtttest.ConnectOptions
		want    int
	}{
		{"no profile: anonymous", nil, creds("c", "", nil), ok},
		{"no profile: credentials not checked", nil, creds("c", "alice", []byte("wrong-pw-3")), ok},
		{"password auth off: anonymous", map[string]any{"UsePasswordAuthentication": false}, creds("c", "", nil), ok},
		{"password auth: correct", map[string]any{}, creds("c", "alice", []byte("alice-secret")), ok},
		{"password auth: wrong password", map[string]any{}, creds("c", "alice", []byte("bob-secret")), bad},
		{"password auth: unknown user", map[string]any{}, creds("c", "mallory", []byte("mallory-pw-9")), bad},
		{"password auth: no user name", map[string]any{}, creds("c", "", nil), bad},
		{"password auth: no password", map[string]any{}, creds("c", "alice", nil), bad},
		{"null password allowed: none sent", map[string]any{"AllowNullPassword": true}, creds("c", "alice", nil), ok},
		{"null password allowed: wrong one still refused", map[string]any{"AllowNullPassword": true}, creds("c", "alice", []byte("nope-pw-7")), bad},
		{"null password allowed: user name still needed", map[string]any{"AllowNullPassword": true}, creds("c", "", nil), bad},
		// Authenticated, then authorized: the connection policy filters on UserID.
		{"authenticated but no policy", map[string]any{}, creds("c", "bob", []byte("bob-secret")), deny},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := usersConfig(t, tc.profile)
			set(t, c, "ConnectionPolicy", "CP", map[string]any{"ClientID": "*"})
			set(t, c, "ConnectionPolicy", "NotBob", map[string]any{"UserID": "alice"})
			policies := "CP"
			if tc.want == deny {
				policies = "NotBob"
			}
			endpoint(t, c, policies, "DemoTopicPolicy", "")
			s := start(t, c)
			for _, v := range versions {
				_, rc := s.connect(t, v, tc.opts)
				want := map[int]byte{ok: 0, bad: badCredentials(v), deny: notAuthorized(v)}[tc.want]
				if rc != want {
					t.Errorf("v%d: CONNACK 0x%02X, want 0x%02X", v, rc, want)
				}
			}
			failed := s.p.Stats().FailedLogins.Load()
			if wantFailed := map[bool]uint64{true: 2}[tc.want == bad]; failed != wantFailed {
				t.Errorf("FailedLogins = %d, want %d", failed, wantFailed)
			}
			logs := s.logBuf.String()
			if tc.want == bad && !strings.Contains(logs, "mqtt login failed") {
				t.Errorf("failed login not logged:\n%s", logs)
			}
			for _, secret := range []string{"alice-secret", "bob-secret", "nope-pw-7", "wrong-pw-3", "mallory-pw-9"} {
				if strings.Contains(logs, secret) {
					t.Errorf("a password appears in the log:\n%s", logs)
				}
			}
		})
	}
}

// TestConnectionPolicyProperties: AllowDurable, AllowPersistentMessages and
// MaxSessionExpiryInterval as clients of each version see them.
func TestConnectionPolicyProperties(t *testing.T) {
	persistent := func(v byte, id string, expiry uint32) mqtttest.ConnectOptions {
		o := mqtttest.ConnectOptions{ClientID: id}
		if v == 5 {
			o.Clean = true
			o.Properties.SessionExpiryInterval, o.Properties.SessionExpiryIntervalFlag = expiry, true
		}
		return o
	}
	cfg := func(t *testing.T, props map[string]any) *server {
		c := baseConfig(t)
		props["ClientID"] = "*"
		set(t, c, "ConnectionPolicy", "CP", props)
		endpoint(t, c, "CP", "DemoTopicPolicy", "")
		return start(t, c)
	}

	t.Run("AllowDurable=false refuses persistent sessions", func(t *testing.T) {
		s := cfg(t, map[string]any{"AllowDurable": false})
		for _, v := range versions {
			if _, rc := s.connect(t, v, persistent(v, fmt.Sprint("dur", v), 60)); rc != notAuthorized(v) {
				t.Errorf("v%d persistent session: CONNACK 0x%02X, want 0x%02X", v, rc, notAuthorized(v))
			}
			s.mustConnect(t, v, mqtttest.ConnectOptions{ClientID: fmt.Sprint("clean", v), Clean: true})
		}
		// v5 Clean Start 0 with no expiry is not a persistent session.
		s.mustConnect(t, 5, mqtttest.ConnectOptions{ClientID: "resume"})
	})
	t.Run("AllowDurable=false in one policy, true in a later one", func(t *testing.T) {
		c := baseConfig(t)
		set(t, c, "ConnectionPolicy", "NoDurable", map[string]any{"ClientID": "*", "AllowDurable": false})
		set(t, c, "ConnectionPolicy", "Durable", map[string]any{"ClientID": "keep*"})
		endpoint(t, c, "NoDurable,Durable", "DemoTopicPolicy", "")
		s := start(t, c)
		for _, v := range versions {
			s.mustConnect(t, v, persistent(v, fmt.Sprint("keep", v), 60))
			if _, rc := s.connect(t, v, persistent(v, fmt.Sprint("other", v), 60)); rc != notAuthorized(v) {
				t.Errorf("v%d: CONNACK 0x%02X, want 0x%02X", v, rc, notAuthorized(v))
			}
		}
	})
	t.Run("AllowPersistentMessages=false refuses QoS 1 and 2", func(t *testing.T) {
		s := cfg(t, map[string]any{"AllowPersistentMessages": false})
		sub := s.mustConnect(t, 5, mqtttest.ConnectOptions{ClientID: "sub", Clean: true})
		sub.MustSubscribe(mqtttest.Sub("p/#", 2))

		pub5 := s.mustConnect(t, 5, mqtttest.ConnectOptions{ClientID: "pub5", Clean: true})
		for _, qos := range []byte{1, 2} {
			ack, err := pub5.Publish("p/x", []byte("persistent"), qos, false)
			if err != nil || ack.ReasonCode != 0x87 {
				t.Fatalf("v5 QoS %d publish: %v %v, want reason 0x87", qos, mqtttest.Describe(ack), err)
			}
		}
		pub5.MustPublish("p/x", []byte("qos0 from v5"), 0, false)
		sub.ExpectMessage("p/x", []byte("qos0 from v5"))

		pub4 := s.mustConnect(t, 4, mqtttest.ConnectOptions{ClientID: "pub4", Clean: true})
		pub4.MustPublish("p/x", []byte("qos0 from v4"), 0, false)
		sub.ExpectMessage("p/x", []byte("qos0 from v4"))
		pub4.MustSend(pub4.PublishPacket("p/x", []byte("persistent"), 1, false))
		if kind, _ := pub4.WaitClosed(wait); !kind.ClosedByBroker() {
			t.Fatalf("v3.1.1 QoS 1 publish: connection %v, want closed by the server", kind)
		}
		sub.ExpectNothing(200 * time.Millisecond)

		// A QoS 1 will is a persistent message too.
		for _, v := range versions {
			o := mqtttest.ConnectOptions{ClientID: fmt.Sprint("will", v), Clean: true,
				Will: &mqtttest.Will{Topic: "p/will", Payload: []byte("bye"), QoS: 1}}
			if _, rc := s.connect(t, v, o); rc != notAuthorized(v) {
				t.Errorf("v%d QoS 1 will: CONNACK 0x%02X, want 0x%02X", v, rc, notAuthorized(v))
			}
		}
	})
	t.Run("MaxSessionExpiryInterval caps v5 session expiry", func(t *testing.T) {
		s := cfg(t, map[string]any{"MaxSessionExpiryInterval": 60})
		c := s.dial(t, 5)
		ack, err := c.Connect(persistent(5, "long", 3600))
		if err != nil || ack.ReasonCode != 0 {
			t.Fatalf("connect: %v %v", mqtttest.Describe(ack), err)
		}
		if !ack.Properties.SessionExpiryIntervalFlag || ack.Properties.SessionExpiryInterval != 60 {
			t.Fatalf("CONNACK %s: want Session Expiry Interval 60", mqtttest.Describe(ack))
		}
		c = s.dial(t, 5)
		ack, err = c.Connect(persistent(5, "short", 30))
		if err != nil || ack.ReasonCode != 0 || ack.Properties.SessionExpiryIntervalFlag {
			t.Fatalf("30 s under a 60 s cap: %s %v; want it granted as asked", mqtttest.Describe(ack), err)
		}
	})
	t.Run("MaxSessionExpiryInterval bounds 3.1.1 durable sessions", func(t *testing.T) {
		s := cfg(t, map[string]any{"MaxSessionExpiryInterval": 1})
		c := s.mustConnect(t, 4, mqtttest.ConnectOptions{ClientID: "v3durable"})
		c.MustSubscribe(mqtttest.Sub("x/#", 1))
		c.Disconnect(0)
		// CleanSession=0 never expires by itself; under the cap its
		// session (and so its subscription) goes about a second after
		// the disconnect.
		deadline := time.Now().Add(wait)
		for len(s.e.Subscriptions()) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("3.1.1 durable session still there %v after disconnect: %+v", wait, s.e.Subscriptions())
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// TestClientAddressIPv6: ClientAddress matches IPv6 clients (bracketed or
// bare, ranges) and keeps the families apart.
func TestClientAddressIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ln.Close()
	for _, tc := range []struct {
		addresses string
		v6, v4    bool // allowed over ::1, over 127.0.0.1
	}{
		{"[::1]", true, false},
		{"::1", true, false},
		{"[::]-[::ffff]", true, false},
		{"127.0.0.1, [::1]", true, true},
		{"0.0.0.0-255.255.255.255", false, true},
		{"[fe80::1]-[fe80::ff]", false, false},
	} {
		// testport's ports lie below the ephemeral range, where nothing
		// on ::1 takes them either.
		port := testport.Free(t)
		c := baseConfig(t)
		set(t, c, "ConnectionPolicy", "CP", map[string]any{"ClientAddress": tc.addresses})
		endpoint(t, c, "CP", "DemoTopicPolicy", "")
		set(t, c, "Endpoint", "V6", map[string]any{"Port": port, "Interface": "::1", "MessageHub": "DemoHub",
			"ConnectionPolicies": "CP", "TopicPolicies": "DemoTopicPolicy"})
		s := start(t, c)
		for _, ep := range []struct {
			addr    string
			allowed bool
		}{{net.JoinHostPort("::1", strconv.Itoa(port)), tc.v6}, {s.addr, tc.v4}} {
			for _, v := range versions {
				conn := mqtttest.Dial(t, ep.addr, v)
				ack, err := conn.Connect(mqtttest.ConnectOptions{ClientID: "a", Clean: true})
				if err != nil {
					t.Fatalf("%s via %s: %v", tc.addresses, ep.addr, err)
				}
				want := byte(0)
				if !ep.allowed {
					want = notAuthorized(v)
				}
				if ack.ReasonCode != want {
					t.Errorf("ClientAddress %q, client at %s, v%d: CONNACK 0x%02X, want 0x%02X", tc.addresses, ep.addr, v, ack.ReasonCode, want)
				}
			}
		}
	}
}

// TestFailedLoginLimit: after failBurst (10) failed logins from one
// address, its logins are refused before any password is checked — even
// the right one (v5 0x9F Connection rate exceeded, 3.1.1 return code 5).
func TestFailedLoginLimit(t *testing.T) {
	c := usersConfig(t, map[string]any{})
	set(t, c, "ConnectionPolicy", "CP", map[string]any{"ClientID": "*"})
	endpoint(t, c, "CP", "DemoTopicPolicy", "")
	s := start(t, c)
	for i := range 10 {
		if _, rc := s.connect(t, 5, creds(fmt.Sprint("g", i), "alice", []byte("guess"))); rc != 0x86 {
			t.Fatalf("guess %d: CONNACK 0x%02X, want 0x86", i, rc)
		}
	}
	for _, v := range versions {
		want := map[byte]byte{4: 5, 5: 0x9F}[v]
		if _, rc := s.connect(t, v, creds("right", "alice", []byte("alice-secret"))); rc != want {
			t.Errorf("v%d right password after 10 failures: CONNACK 0x%02X, want 0x%02X", v, rc, want)
		}
	}
	if !strings.Contains(s.logBuf.String(), "too many failed logins") {
		t.Error("the refusal is not logged with its reason")
	}
}
