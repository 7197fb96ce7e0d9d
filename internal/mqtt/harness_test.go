package mqtt

import (
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/store"
	"github.com/mqsight/mqsight/internal/testport"
)

// testServer is an engine on a real store and a loopback listener.
type testServer struct {
	t         testing.TB
	storeOpts store.Options
	dir       string
	store     *store.Store
	e         *Engine
	cfg       *config.Config
	addr      string
	opts      Options
}

// testConfig is the default configuration with DemoEndpoint on a free
// loopback port.
func testConfig(t testing.TB) *config.Config {
	c := config.Default()
	ep := c.Endpoints["DemoEndpoint"]
	ep.Interface = "127.0.0.1"
	ep.Port = testport.Free(t)
	return c
}

// startServer starts a test server; setup functions may change its
// configuration, options and data directory before it opens.
func startServer(t testing.TB, setup ...func(*testServer)) *testServer {
	ts := &testServer{t: t, dir: t.TempDir(), cfg: testConfig(t)}
	for _, f := range setup {
		f(ts)
	}
	ts.open()
	t.Cleanup(ts.close)
	return ts
}

func (ts *testServer) open() {
	t := ts.t
	st, err := store.Open(filepath.Join(ts.dir, "store"), ts.storeOpts)
	if err != nil {
		t.Fatal(err)
	}
	opts := ts.opts
	opts.Store = st
	e, err := New(opts)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	e.SetCertificateDir(filepath.Join(ts.dir, "certificates"))
	if err := e.Apply(ts.cfg); err != nil {
		e.Close()
		st.Close()
		t.Fatal(err)
	}
	ts.store, ts.e = st, e
	ep := ts.cfg.Endpoints["DemoEndpoint"]
	ts.addr = net.JoinHostPort(ep.Interface, strconv.Itoa(ep.Port))
}

func (ts *testServer) close() {
	if ts.e != nil {
		ts.e.Close()
		ts.e = nil
	}
	if ts.store != nil {
		ts.store.Close()
		ts.store = nil
	}
}

// restart closes the engine and the store and opens them again on the same
// directory, as a server restart does.
func (ts *testServer) restart() {
	ts.close()
	ts.open()
}

const waitLong = 10 * time.Second

// waitOffline waits until the server has seen the connection of clientID
// close (its session has no connection), so that what is published next
// is queued for the session instead of written to a dying connection.
func (ts *testServer) waitOffline(clientID string) {
	ts.t.Helper()
	for deadline := time.Now().Add(waitLong); ; time.Sleep(time.Millisecond) {
		ts.e.mu.Lock()
		s := ts.e.mu.sessions[clientID]
		offline := s != nil && s.conn == nil
		ts.e.mu.Unlock()
		if offline {
			return
		}
		if time.Now().After(deadline) {
			ts.t.Fatalf("%s never went offline", clientID)
		}
	}
}

// offsetClock is a settable clock for the engine (Options.Now): real time
// plus an offset, so that timers still run and a test can pretend the
// server was down for a while.
type offsetClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *offsetClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *offsetClock) advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// withClock makes the test server's engine use c.
func withClock(c *offsetClock) func(*testServer) {
	return func(ts *testServer) { ts.opts.Now = c.now }
}

// failNextCommit installs a store hook that fails the next commit after
// arm is called (a transient store failure).
func failNextCommit(ts *testServer) (arm func()) {
	var mu sync.Mutex
	fail := false
	ts.storeOpts.BeforeSync = func() error {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			fail = false
			return errors.New("injected commit failure")
		}
		return nil
	}
	return func() {
		mu.Lock()
		fail = true
		mu.Unlock()
	}
}
