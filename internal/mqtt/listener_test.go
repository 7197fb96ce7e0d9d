package mqtt

import (
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// flakyListener is a real listener whose next fails Accepts fail as they do
// when the process is out of file descriptors.
type flakyListener struct {
	net.Listener
	mu    sync.Mutex
	fails int
}

func (f *flakyListener) Accept() (net.Conn, error) {
	f.mu.Lock()
	if f.fails > 0 {
		f.fails--
		f.mu.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: f.Addr(), Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	f.mu.Unlock()
	return f.Listener.Accept()
}

// A failed Accept (EMFILE) pauses the accept loop instead of ending it:
// clients connect once Accept works again, and the failures are logged
// once, not once per retry.
func TestAcceptSurvivesFailures(t *testing.T) {
	var logs mqtttest.SyncBuffer
	ts := startServer(t, func(ts *testServer) { ts.opts.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const fails = 5 // pauses of 5+10+20+40+80 ms
	l := newListener("Flaky", listenerSpec{}, &flakyListener{Listener: inner, fails: fails}, &liveSettings{})
	go l.accept(ts.e)
	t.Cleanup(l.close)

	c := mqtttest.Dial(t, inner.Addr().String(), 4)
	c.MustConnect(mqtttest.ConnectOptions{ClientID: "after-emfile", Clean: true})
	if n := strings.Count(logs.String(), "mqtt accept failed"); n != 1 {
		t.Errorf("%d failed Accepts logged %d times, want once:\n%s", fails, n, logs.String())
	}
}

// The pause doubles from 5 ms to 1 s and starts again after a success;
// failures are logged at most once a minute, with how many there were.
func TestAcceptRetryPacing(t *testing.T) {
	var logs mqtttest.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	var r acceptRetry
	start := time.Now()
	steps := []struct {
		at        time.Duration // since start; -1: a success
		wantPause time.Duration
		wantLog   string // "" for no log line
	}{
		{0, 5 * time.Millisecond, "failures=1"},
		{time.Millisecond, 10 * time.Millisecond, ""},
		{2 * time.Millisecond, 20 * time.Millisecond, ""},
		{-1, 0, ""},
		{3 * time.Millisecond, 5 * time.Millisecond, ""}, // flapping logs no more often
		{10 * time.Second, 10 * time.Millisecond, ""},
		{20 * time.Second, 20 * time.Millisecond, ""},
		{30 * time.Second, 40 * time.Millisecond, ""},
		{40 * time.Second, 80 * time.Millisecond, ""},
		{50 * time.Second, 160 * time.Millisecond, ""},
		{55 * time.Second, 320 * time.Millisecond, ""},
		{58 * time.Second, 640 * time.Millisecond, ""},
		{time.Minute, time.Second, "failures=11"},
		{time.Minute + time.Second, time.Second, ""},
	}
	for i, st := range steps {
		before := len(logs.String())
		if st.at < 0 {
			r.succeeded()
			continue
		}
		pause := r.failed(log, "E", syscall.EMFILE, start.Add(st.at))
		if pause != st.wantPause {
			t.Errorf("step %d: pause %v, want %v", i, pause, st.wantPause)
		}
		line := logs.String()[before:]
		if st.wantLog == "" && line != "" || st.wantLog != "" && !strings.Contains(line, st.wantLog) {
			t.Errorf("step %d: logged %q, want %q", i, line, st.wantLog)
		}
	}
}

// The connect timeout counts from the accept, whatever the client does
// before CONNECT: a first byte (or a TLS handshake, or a WebSocket upgrade)
// sent late does not start a new one. The client's lateness is a sleep:
// time passing is what is tested.
func TestConnectDeadlineCountsFromAccept(t *testing.T) {
	const timeout, late = time.Second, 700 * time.Millisecond
	ts := startServer(t, func(ts *testServer) { ts.opts.Limits.ConnectTimeout = timeout })
	upgrade := "GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
	for _, tc := range []struct {
		name  string
		late  string // sent after late; nothing follows
		reply string // what the server answers it with, before it gives up
	}{
		{"MQTT first byte", "\x10", ""},
		{"WebSocket upgrade", upgrade, "HTTP/1.1 101 Switching Protocols\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			nc, err := net.Dial("tcp", ts.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			time.Sleep(late)
			if _, err := nc.Write([]byte(tc.late)); err != nil {
				t.Fatal(err)
			}
			nc.SetReadDeadline(start.Add(3 * timeout))
			if tc.reply != "" {
				got := make([]byte, len(tc.reply))
				if _, err := io.ReadFull(nc, got); err != nil || string(got) != tc.reply {
					t.Fatalf("reply %q, %v; want %q", got, err, tc.reply)
				}
				// The rest of the 101 response.
				var window [1]byte
				for tail := ""; !strings.HasSuffix(tail, "\r\n\r\n"); tail += string(window[:]) {
					if _, err := nc.Read(window[:]); err != nil {
						t.Fatal(err)
					}
				}
			}
			// The server gives up: a WebSocket close frame, or the end of
			// the connection.
			_, err = nc.Read(make([]byte, 1))
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("connection still open after three connect timeouts")
			}
			if d := time.Since(start); d > timeout+timeout/3 {
				t.Errorf("the server gave up %v after the accept; connect timeout %v, client's last byte after %v", d.Round(time.Millisecond), timeout, late)
			}
		})
	}
}
