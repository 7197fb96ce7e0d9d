package mqtt

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// serveWebSocket answers one HTTP connection: a WebSocket upgrade on
// /mqtt with subprotocol "mqtt" carries MQTT in binary messages
// ([MQTT-6.0.0-1] .. [MQTT-6.0.0-4]); anything else gets an HTTP error.
// The upgrade request and then the CONNECT must arrive before deadline.
func (e *Engine) serveWebSocket(c net.Conn, endpoint string, maxSize int, deadline time.Time) {
	// A silent upgrade request is dropped at the deadline: http.Server
	// takes a duration, counted from when it starts reading (at once).
	left := time.Until(deadline)
	if left <= 0 {
		c.Close()
		return
	}
	ln := newOneConnListener(c)
	srv := &http.Server{
		ReadHeaderTimeout: left,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/mqtt" {
				http.NotFound(w, r)
				return
			}
			ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
				Subprotocols:       []string{"mqtt"},
				InsecureSkipVerify: true, // device clients send no Origin we could check
			})
			if err != nil {
				return
			}
			if ws.Subprotocol() != "mqtt" {
				ws.Close(websocket.StatusPolicyViolation, "subprotocol mqtt required")
				return
			}
			if maxSize > 0 {
				ws.SetReadLimit(int64(maxSize) + 8)
			} else {
				ws.SetReadLimit(-1)
			}
			nc := websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
			e.serveConn(&wsConn{Conn: nc, under: c}, endpoint, maxSize, deadline)
		}),
	}
	srv.Serve(ln)
	ln.wait()
}

// wsConn reports the TCP peer's address (NetConn's is synthetic).
type wsConn struct {
	net.Conn
	under net.Conn
}

func (w *wsConn) RemoteAddr() net.Addr { return w.under.RemoteAddr() }
func (w *wsConn) LocalAddr() net.Addr  { return w.under.LocalAddr() }

// oneConnListener hands a single connection to http.Server and then
// reports closed; wait blocks until that connection is closed.
type oneConnListener struct {
	c      net.Conn
	once   sync.Once
	ch     chan net.Conn
	closed chan struct{}
	done   chan struct{}
}

func newOneConnListener(c net.Conn) *oneConnListener {
	l := &oneConnListener{ch: make(chan net.Conn, 1), closed: make(chan struct{}), done: make(chan struct{})}
	l.c = &notifyConn{Conn: c, done: l.done}
	l.ch <- l.c
	return l
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *oneConnListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return l.c.LocalAddr() }

func (l *oneConnListener) wait() { <-l.done }

// notifyConn closes done when the connection is closed.
type notifyConn struct {
	net.Conn
	once sync.Once
	done chan struct{}
}

func (n *notifyConn) Close() error {
	err := n.Conn.Close()
	n.once.Do(func() { close(n.done) })
	return err
}
