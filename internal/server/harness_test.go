package server

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/admin"
	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
	"github.com/mqsight/mqsight/internal/testport"
)

const testAdminPassword = "test-admin-password"

// testServer is a server on a temporary data directory with its MQTT
// endpoint and admin endpoint on free loopback ports.
type testServer struct {
	t        testing.TB
	dir      string
	opts     Options
	s        *Server
	mqttAddr string
	admin    *adminClient
}

func startTestServer(t testing.TB, setup ...func(*Options)) *testServer {
	t.Helper()
	ts := &testServer{t: t, dir: t.TempDir()}
	ts.opts, ts.mqttAddr = testOptions(t, ts.dir)
	if testing.Verbose() {
		ts.opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	for _, f := range setup {
		f(&ts.opts)
	}
	ts.open()
	t.Cleanup(func() { ts.close() })
	return ts
}

// testOptions returns the options of a server on dataDir whose MQTT
// endpoint (at mqttAddr) and admin endpoint listen on free loopback ports.
func testOptions(t testing.TB, dataDir string) (opts Options, mqttAddr string) {
	mqttPort, adminPort := testport.Free(t), testport.Free(t)
	return Options{
		DataDir:       dataDir,
		AdminPassword: testAdminPassword,
		Console:       io.Discard,
		AdminAddr:     "127.0.0.1:0",
		Initial: func(c *config.Config) error {
			ep := c.Endpoints["DemoEndpoint"]
			ep.Interface, ep.Port = "127.0.0.1", mqttPort
			c.AdminEndpoint.Interface, c.AdminEndpoint.Port = "127.0.0.1", adminPort
			return nil
		},
	}, net.JoinHostPort("127.0.0.1", strconv.Itoa(mqttPort))
}

// open starts the server on the data directory.
func (ts *testServer) open() {
	t := ts.t
	t.Helper()
	s, err := New(ts.opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		s.Close()
		t.Fatal(err)
	}
	ts.s = s
	ts.admin = newAdminClient(t, s, "admin", testAdminPassword)
}

// close stops the server (a process stop, not an admin restart).
func (ts *testServer) close() {
	if ts.s != nil {
		if err := ts.s.Close(); err != nil {
			ts.t.Errorf("close: %v", err)
		}
		ts.s = nil
	}
}

// adminClient talks HTTPS to a test server, trusting only the server's
// self-signed certificate.
type adminClient struct {
	t          testing.TB
	base       string
	http       *http.Client
	user, pass string
}

func newAdminClient(t testing.TB, s *Server, user, pass string) *adminClient {
	t.Helper()
	if s.opts.AdminInsecureHTTP {
		return &adminClient{t: t, base: "http://" + s.AdminAddr().String(), http: &http.Client{Timeout: 30 * time.Second}, user: user, pass: pass}
	}
	pem, err := os.ReadFile(filepath.Join(s.Config().CertificateDir(), admin.SelfSignedCert))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("self-signed certificate does not parse")
	}
	return &adminClient{
		t:    t,
		base: "https://" + s.AdminAddr().String(),
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"},
		}},
		user: user, pass: pass,
	}
}

// as returns a client with other credentials ("" user: none).
func (c *adminClient) as(user, pass string) *adminClient {
	cp := *c
	cp.user, cp.pass = user, pass
	return &cp
}

// reply is a decoded reply.
type reply struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

func (r reply) code() string { s, _ := r.Body["Code"].(string); return s }

// do sends a request; body is JSON-encoded unless it is []byte.
func (c *adminClient) do(method, path string, body any) reply {
	c.t.Helper()
	return c.doHeader(method, path, nil, body)
}

// doHeader is do with extra request headers.
func (c *adminClient) doHeader(method, path string, h http.Header, body any) reply {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	r := reply{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			c.t.Fatalf("%s %s: reply is not JSON: %v\n%s", method, path, err, raw)
		}
	}
	return r
}

// must sends a request and fails the test unless the status is want.
func (c *adminClient) must(want int, method, path string, body any) reply {
	c.t.Helper()
	r := c.do(method, path, body)
	if r.Status != want {
		c.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.Status, want, r.Raw)
	}
	return r
}

// waitJob polls a job's status until it is final and returns the reply.
func (c *adminClient) waitJob(op, id string) reply {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := c.must(http.StatusOK, "GET", "/ima/v1/service/status/"+op+"/"+id, nil)
		switch r.Body["Status"] {
		case "succeeded", "failed", "cancelled":
			return r
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("job %s/%s not finished: %s", op, id, r.Raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// restart posts a restart and waits until it has finished.
func (c *adminClient) restart(body map[string]any) reply {
	c.t.Helper()
	r := c.must(http.StatusOK, "POST", "/ima/v1/service/restart", body)
	id, _ := r.Body["RequestID"].(string)
	if id == "" {
		c.t.Fatalf("restart reply without RequestID: %s", r.Raw)
	}
	j := c.waitJob("restart", id)
	if j.Body["Status"] != "succeeded" {
		c.t.Fatalf("restart %v: %s", body, j.Raw)
	}
	return j
}

// logBuffer collects a server's log lines; safe for concurrent use.
type logBuffer struct{ mqtttest.SyncBuffer }

// logger logs at debug level into l.
func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
