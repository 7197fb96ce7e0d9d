package policy_test

import (
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/mqtt"
	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
	"github.com/mqsight/mqsight/internal/policy"
	"github.com/mqsight/mqsight/internal/store"
	"github.com/mqsight/mqsight/internal/testport"
)

// server is a real engine on a temporary store, listening on loopback,
// with a policy.Policy deciding.
type server struct {
	t      testing.TB
	e      *mqtt.Engine
	p      *policy.Policy
	cfg    *config.Config
	addr   string
	dir    string
	logBuf *mqtttest.SyncBuffer
}

const wait = 5 * time.Second

// set applies one REST-style object change to c, failing the test when
// the object is refused.
func set(t testing.TB, c *config.Config, typ, name string, props map[string]any) {
	t.Helper()
	if err := config.SetProperties(c, typ, name, props); err != nil {
		t.Fatalf("%s %q: %v", typ, name, err)
	}
}

// baseConfig is the default document with DemoEndpoint on a free loopback
// port and no policies attached; setup adds what the test needs.
func baseConfig(t testing.TB) *config.Config {
	c := config.Default()
	ep := c.Endpoints["DemoEndpoint"]
	ep.Interface = "127.0.0.1"
	ep.Port = testport.Free(t)
	return c
}

// endpoint sets the DemoEndpoint's policy lists (comma-separated names;
// "" leaves a list empty).
func endpoint(t testing.TB, c *config.Config, conn, topic, sub string) {
	t.Helper()
	props := map[string]any{"ConnectionPolicies": conn, "TopicPolicies": topic, "SubscriptionPolicies": sub}
	set(t, c, "Endpoint", "DemoEndpoint", props)
}

// start opens a store and an engine with a policy.Policy and applies c,
// which must pass whole-document validation.
func start(t testing.TB, c *config.Config, setup ...func(dir string)) *server {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatalf("test configuration invalid: %v", err)
	}
	dir := t.TempDir()
	for _, f := range setup {
		f(dir)
	}
	st, err := store.Open(filepath.Join(dir, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	logBuf := &mqtttest.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := policy.New(policy.Options{Logger: log})
	e, err := mqtt.New(mqtt.Options{Store: st, Logger: log, Policy: p})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	e.SetCertificateDir(filepath.Join(dir, "certificates"))
	if err := e.Apply(c); err != nil {
		e.Close()
		st.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Close()
		st.Close()
	})
	ep := c.Endpoints["DemoEndpoint"]
	return &server{t: t, e: e, p: p, cfg: c, dir: dir, logBuf: logBuf,
		addr: net.JoinHostPort(ep.Interface, strconv.Itoa(ep.Port))}
}

// apply installs a changed configuration, as the config Manager's
// notification does.
func (s *server) apply(c *config.Config) {
	s.t.Helper()
	if err := c.Validate(); err != nil {
		s.t.Fatalf("changed configuration invalid: %v", err)
	}
	if err := s.e.Apply(c); err != nil {
		s.t.Fatal(err)
	}
	s.cfg = c
}

// dial connects a raw client of protocol version v (4 or 5).
func (s *server) dial(t testing.TB, v byte) *mqtttest.Conn {
	return mqtttest.Dial(t, s.addr, v)
}

// connect opens a raw client and returns it with its CONNACK reason
// (3.1.1 return code or v5 reason code).
func (s *server) connect(t testing.TB, v byte, o mqtttest.ConnectOptions) (*mqtttest.Conn, byte) {
	t.Helper()
	c := s.dial(t, v)
	ack, err := c.Connect(o)
	if err != nil {
		t.Fatalf("v%d CONNECT %q: no CONNACK: %v", v, o.ClientID, err)
	}
	return c, ack.ReasonCode
}

// mustConnect is connect that fails unless the connection is accepted.
func (s *server) mustConnect(t testing.TB, v byte, o mqtttest.ConnectOptions) *mqtttest.Conn {
	t.Helper()
	c, rc := s.connect(t, v, o)
	if rc != 0 {
		t.Fatalf("v%d CONNECT %q refused with 0x%02X", v, o.ClientID, rc)
	}
	return c
}

// notAuthorized is the CONNACK code of a policy refusal for version v.
func notAuthorized(v byte) byte {
	if v == 5 {
		return 0x87
	}
	return 5
}

// badCredentials is the CONNACK code of a failed login for version v.
func badCredentials(v byte) byte {
	if v == 5 {
		return 0x86
	}
	return 4
}

// creds returns connect options with a user name and, unless nil, a password.
func creds(id, user string, password []byte) mqtttest.ConnectOptions {
	o := mqtttest.ConnectOptions{ClientID: id, Clean: true}
	if user != "" {
		o.Username = []byte(user)
	}
	o.Password = password
	return o
}

// versions are the protocol versions every outcome is checked for.
var versions = []byte{4, 5}
