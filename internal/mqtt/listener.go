package mqtt

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqsight/mqsight/internal/config"
)

// listenerSet runs one listener per enabled MQTT Endpoint and reconciles
// them with each new configuration.
type listenerSet struct {
	e  *Engine
	mu sync.Mutex
	m  map[string]*listener // by Endpoint name
	// certDir holds the files named by CertificateProfiles and
	// TrustedCertificates.
	certDir string

	// failed holds why endpoints that should listen do not (their port
	// is taken, their certificate does not load); retryTimer applies the
	// configuration again after retryDelay, which doubles up to
	// maxRetryDelay while they keep failing.
	failed     map[string]error
	retryTimer *time.Timer
	retryDelay time.Duration
	closed     bool
}

// Retry delays for endpoints that could not start.
const (
	firstRetryDelay = 2 * time.Second
	maxRetryDelay   = time.Minute
)

// listener is one endpoint's accept loop and the connections it accepted.
type listener struct {
	name  string
	spec  listenerSpec
	ln    net.Listener
	live  atomic.Pointer[liveSettings] // for connections accepted from now on
	conns sync.Map                     // net.Conn → struct{}
	stop  chan struct{}                // closed by close: a retry wait ends
	done  chan struct{}                // closed when accept returns
}

// newListener returns the listener of endpoint name on ln; start its
// accept loop with go l.accept(e).
func newListener(name string, spec listenerSpec, ln net.Listener, live *liveSettings) *listener {
	l := &listener{name: name, spec: spec, ln: ln, stop: make(chan struct{}), done: make(chan struct{})}
	l.live.Store(live)
	return l
}

// liveSettings are what a listener gives each new connection.
type liveSettings struct {
	maxSize int
	tls     *tls.Config // nil: plain TCP
}

// listenerSpec is everything about an endpoint that shapes its listener.
// A change to the address, to TLS on or off, or to what decides which
// clients get in (minimum TLS version, client certificates, trusted
// certificates) restarts the listener and closes its connections: they
// were admitted under the old rules. A change to the size limit or to the
// server's own certificate (a renewal) applies to new connections only.
type listenerSpec struct {
	Addr          string
	TLS           bool
	MinTLS        string
	ClientCert    bool
	TrustedFiles  []string
	trustDigests  [][sha256.Size]byte
	MaxSize       int
	CertFile      string
	KeyFile       string
	serverDigests [][sha256.Size]byte
}

// restartKey is the part of s whose change restarts the listener.
func (s listenerSpec) restartKey() listenerSpec {
	s.MaxSize, s.CertFile, s.KeyFile, s.serverDigests = 0, "", "", nil
	return s
}

// fileDigests returns the SHA-256 of each file that can be read: the
// files' contents shape the listener too, so that a certificate renewed
// under the same name is noticed.
func fileDigests(files ...string) [][sha256.Size]byte {
	var out [][sha256.Size]byte
	for _, f := range files {
		if data, err := os.ReadFile(f); err == nil {
			out = append(out, sha256.Sum256(data))
		}
	}
	return out
}

func newListenerSet(e *Engine) *listenerSet {
	return &listenerSet{e: e, m: make(map[string]*listener)}
}

// SetCertificateDir tells the engine where certificate files live
// (config.Manager.CertificateDir). Call before Apply.
func (e *Engine) SetCertificateDir(dir string) {
	e.listeners.mu.Lock()
	e.listeners.certDir = dir
	e.listeners.mu.Unlock()
}

// ListenerError returns why an endpoint that should listen does not
// (the engine retries it), or nil.
func (e *Engine) ListenerError(endpoint string) error {
	e.listeners.mu.Lock()
	defer e.listeners.mu.Unlock()
	return e.listeners.failed[endpoint]
}

// ListenerAddr returns the bound address of an endpoint's listener (for
// tests and logs), or nil.
func (e *Engine) ListenerAddr(endpoint string) net.Addr {
	e.listeners.mu.Lock()
	defer e.listeners.mu.Unlock()
	if l := e.listeners.m[endpoint]; l != nil {
		return l.ln.Addr()
	}
	return nil
}

// specFor derives an endpoint's listener spec.
func (ls *listenerSet) specFor(c *config.Config, ep *config.Endpoint) listenerSpec {
	host := ep.Interface
	if host == "" || host == "All" || host == "*" {
		host = ""
	}
	spec := listenerSpec{
		Addr:    net.JoinHostPort(host, strconv.Itoa(ep.Port)),
		MaxSize: int(ep.MaxMessageSizeBytes()),
	}
	if sp := c.SecurityProfiles[ep.SecurityProfile]; sp != nil && sp.TLSEnabled {
		spec.TLS = true
		spec.MinTLS = sp.MinimumProtocolMethod
		spec.ClientCert = sp.UseClientCertificate
		if cp := c.CertificateProfiles[sp.CertificateProfile]; cp != nil {
			spec.CertFile = filepath.Join(ls.certDir, cp.Certificate)
			spec.KeyFile = filepath.Join(ls.certDir, cp.Key)
		}
		for _, tc := range c.TrustedCertificates {
			if spec.ClientCert && tc.SecurityProfileName == sp.Name { // used only to check client certificates
				spec.TrustedFiles = append(spec.TrustedFiles, filepath.Join(ls.certDir, tc.TrustedCertificate))
			}
		}
		spec.serverDigests = fileDigests(spec.CertFile, spec.KeyFile)
		spec.trustDigests = fileDigests(spec.TrustedFiles...)
	}
	return spec
}

// serves reports whether ep gets an MQTT listener.
func serves(ep *config.Endpoint) bool {
	if !ep.Enabled {
		return false
	}
	if len(ep.Protocol) == 0 {
		return true
	}
	for _, p := range ep.Protocol {
		if p == "All" || p == "MQTT" {
			return true
		}
	}
	return false
}

// apply starts, restarts, updates and stops listeners to match c.
func (ls *listenerSet) apply(c *config.Config) error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.closed {
		return nil
	}
	return ls.applyLocked(c)
}

// retry applies the configuration in force again for endpoints that
// could not start. It reads the configuration under ls.mu, so that it
// never applies one older than an Apply that ran meanwhile.
func (ls *listenerSet) retry() {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	c := ls.e.cfg.Load()
	if ls.closed || c == nil {
		return
	}
	if err := ls.applyLocked(c); err != nil {
		ls.e.log.Debug("mqtt endpoints still not listening; retrying", "err", err, "next", ls.retryDelay)
	}
}

func (ls *listenerSet) applyLocked(c *config.Config) error {
	var errs []error
	for name, l := range ls.m {
		ep := c.Endpoints[name]
		if ep == nil || !serves(ep) {
			l.close()
			delete(ls.m, name)
			continue
		}
		spec := ls.specFor(c, ep)
		switch {
		case reflect.DeepEqual(spec, l.spec):
		case reflect.DeepEqual(spec.restartKey(), l.spec.restartKey()):
			if err := l.update(spec); err != nil {
				ls.e.log.Error("mqtt endpoint keeps its previous settings", "endpoint", name, "err", err)
				errs = append(errs, fmt.Errorf("endpoint %q: %w", name, err))
			}
		default:
			l.close()
			delete(ls.m, name)
		}
	}
	failed := map[string]error{}
	for name, ep := range c.Endpoints {
		if !serves(ep) || ls.m[name] != nil {
			continue
		}
		l, err := ls.start(name, ls.specFor(c, ep))
		if err != nil {
			failed[name] = err
			errs = append(errs, fmt.Errorf("endpoint %q: %w", name, err))
			continue
		}
		ls.m[name] = l
	}
	ls.failed = failed
	ls.scheduleRetryLocked(len(failed) > 0)
	return errors.Join(errs...)
}

// scheduleRetryLocked arms (or, when nothing failed, disarms) the retry
// of endpoints that could not start: a port held by a process that ends,
// a file that is repaired, must not need another configuration change.
func (ls *listenerSet) scheduleRetryLocked(failed bool) {
	if ls.retryTimer != nil {
		ls.retryTimer.Stop()
		ls.retryTimer = nil
	}
	if !failed || ls.closed {
		ls.retryDelay = 0
		return
	}
	ls.retryDelay = min(max(2*ls.retryDelay, firstRetryDelay), maxRetryDelay)
	ls.retryTimer = time.AfterFunc(ls.retryDelay, ls.retry)
}

func (ls *listenerSet) start(name string, spec listenerSpec) (*listener, error) {
	live, err := spec.liveSettings()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", spec.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", spec.Addr, err)
	}
	l := newListener(name, spec, ln, live)
	ls.e.log.Info("mqtt endpoint listening", "endpoint", name, "addr", ln.Addr().String(), "tls", spec.TLS)
	go l.accept(ls.e)
	return l, nil
}

// liveSettings builds what new connections get under spec.
func (spec listenerSpec) liveSettings() (*liveSettings, error) {
	live := &liveSettings{maxSize: spec.MaxSize}
	if spec.TLS {
		var err error
		if live.tls, err = buildTLS(spec); err != nil {
			return nil, err
		}
	}
	return live, nil
}

// update gives new connections the settings of spec, which differs from
// the listener's only in what does not restart it; established
// connections keep theirs. On error (the new certificate does not load)
// the listener keeps its previous settings.
func (l *listener) update(spec listenerSpec) error {
	live, err := spec.liveSettings()
	if err != nil {
		return err
	}
	l.live.Store(live)
	l.spec = spec
	return nil
}

// accept runs until the listener closes. Each connection is served on its
// own goroutine; WebSocket upgrades are detected on the first byte.
//
// A failed Accept other than on a closed listener (EMFILE when the process
// is out of file descriptors, ENFILE, ENOBUFS, ECONNABORTED) is retried
// after a pause, as net/http.Server.Serve does: returning would leave the
// port bound and the endpoint reported as listening while nobody can
// connect, for good.
func (l *listener) accept(e *Engine) {
	defer close(l.done)
	var retry acceptRetry
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			pause := retry.failed(e.log, l.name, err, time.Now())
			t := time.NewTimer(pause)
			select {
			case <-t.C:
			case <-l.stop:
				t.Stop()
				return
			}
			continue
		}
		retry.succeeded()
		// The connect timeout counts from here, through the TLS
		// handshake, the WebSocket upgrade and the CONNECT.
		deadline := time.Now().Add(e.limits.ConnectTimeout)
		l.conns.Store(nc, struct{}{})
		live := l.live.Load()
		go func() {
			defer l.conns.Delete(nc)
			var c net.Conn = nc
			if live.tls != nil {
				c = tls.Server(nc, live.tls)
			}
			e.serveDetect(c, l.name, live.maxSize, deadline)
		}()
	}
}

// Accept retries: the pause after a failed Accept starts at
// firstAcceptDelay and doubles up to maxAcceptDelay while Accept keeps
// failing (net/http's values); a failure is logged at most once per
// acceptLogInterval, with the number of failures since the last line.
const (
	firstAcceptDelay  = 5 * time.Millisecond
	maxAcceptDelay    = time.Second
	acceptLogInterval = time.Minute
)

// acceptRetry paces one accept loop through failures. Owned by the loop.
type acceptRetry struct {
	delay    time.Duration // the last pause; 0 after a success
	logged   time.Time     // when a failure was last logged
	unlogged int           // failures since then
}

// failed records a failed Accept at now, logs it unless a failure was
// logged within acceptLogInterval, and returns how long to pause.
func (r *acceptRetry) failed(log *slog.Logger, endpoint string, err error, now time.Time) time.Duration {
	r.delay = min(max(2*r.delay, firstAcceptDelay), maxAcceptDelay)
	r.unlogged++
	if r.logged.IsZero() || now.Sub(r.logged) >= acceptLogInterval {
		log.Error("mqtt accept failed; retrying", "endpoint", endpoint, "err", err,
			"failures", r.unlogged, "retryIn", r.delay)
		r.logged, r.unlogged = now, 0
	}
	return r.delay
}

// succeeded resets the pause. The log limit stays: an endpoint that
// flaps between failing and working logs no more often.
func (r *acceptRetry) succeeded() { r.delay = 0 }

// serveDetect peeks at the first byte: 'G' starts an HTTP request (a
// WebSocket upgrade), anything else is MQTT. deadline is when the
// connection must have sent its CONNECT (the connect timeout after the
// accept); each step before it gets only what is left of it.
func (e *Engine) serveDetect(c net.Conn, endpoint string, maxSize int, deadline time.Time) {
	// A client that sends nothing (no TLS handshake, no first byte) must
	// not hold a connection for ever.
	c.SetDeadline(deadline)
	if tc, ok := c.(*tls.Conn); ok {
		if err := tc.Handshake(); err != nil {
			e.log.Debug("tls handshake failed", "remote", c.RemoteAddr(), "err", err)
			c.Close()
			return
		}
	}
	// The smallest bufio buffer: it only has to hold the peeked byte. Once
	// it is drained, reads of at least its size go straight to c, so the
	// connection's own read buffer is the only one per connection (an idle
	// connection's memory is mostly buffers).
	br := bufio.NewReaderSize(c, peekBufferSize)
	first, err := br.Peek(1)
	if err != nil {
		c.Close()
		return
	}
	// From here the protocol sets its own deadlines from the same
	// deadline: the HTTP upgrade its ReadHeaderTimeout, MQTT the CONNECT
	// wait; then keep alive.
	c.SetDeadline(time.Time{})
	pc := &peekedConn{Conn: c, r: br}
	if first[0] == 'G' {
		e.serveWebSocket(pc, endpoint, maxSize, deadline)
		return
	}
	e.serveConn(pc, endpoint, maxSize, deadline)
}

// peekBufferSize is bufio's minimum buffer size.
const peekBufferSize = 16

// peekedConn is a net.Conn whose first bytes were buffered.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (p *peekedConn) Read(b []byte) (int, error) { return p.r.Read(b) }

// TLSConn returns the underlying TLS connection, if any.
func (p *peekedConn) TLSConn() *tls.Conn {
	tc, _ := p.Conn.(*tls.Conn)
	return tc
}

// close stops accepting and closes the endpoint's connections.
func (l *listener) close() {
	close(l.stop)
	l.ln.Close()
	<-l.done
	l.conns.Range(func(k, _ any) bool {
		k.(net.Conn).Close()
		return true
	})
}

func (ls *listenerSet) closeAll() {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.closed = true
	ls.scheduleRetryLocked(false)
	for name, l := range ls.m {
		l.close()
		delete(ls.m, name)
	}
}

// buildTLS loads the endpoint's certificate and trust store.
func buildTLS(spec listenerSpec) (*tls.Config, error) {
	if spec.CertFile == "" {
		return nil, errors.New("TLS is enabled but the security profile names no certificate profile")
	}
	cert, err := tls.LoadX509KeyPair(spec.CertFile, spec.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("load certificate: %w", err)
	}
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if spec.MinTLS == "TLSv1.3" {
		conf.MinVersion = tls.VersionTLS13
	}
	if spec.ClientCert {
		pool := x509.NewCertPool()
		for _, f := range spec.TrustedFiles {
			pem, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("read trusted certificate: %w", err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("trusted certificate %s holds no PEM certificate", filepath.Base(f))
			}
		}
		conf.ClientCAs = pool
		conf.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return conf, nil
}
