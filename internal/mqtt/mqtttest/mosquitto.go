package mqtttest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/testport"
)

// mosquittoPaths are tried when mosquitto is not on PATH (Debian installs
// it in /usr/sbin, which a non-root PATH may lack).
var mosquittoPaths = []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"}

// MosquittoPath returns the mosquitto binary, or "" when none is installed.
func MosquittoPath() string {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	for _, p := range mosquittoPaths {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
}

// StartMosquitto runs a private Mosquitto broker for the rest of the test
// and returns its address (127.0.0.1:port). It listens only on 127.0.0.1,
// on a free port, with persistence off and anonymous access allowed. The
// test is skipped when mosquitto is not installed, except under CI=true,
// where that is a failure (CI installs it).
func StartMosquitto(tb testing.TB) string {
	tb.Helper()
	return StartMosquittoWith(tb)
}

// StartMosquittoWith is StartMosquitto with extra configuration lines
// (mosquitto.conf(5)) appended to the default configuration, such as
// "max_packet_size 1024" or "max_queued_messages 100".
func StartMosquittoWith(tb testing.TB, extra ...string) string {
	tb.Helper()
	bin := MosquittoPath()
	if bin == "" {
		const msg = "mosquitto is not installed (apt-get install -y mosquitto mosquitto-clients)"
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg + "; CI must install it")
		}
		tb.Skip(msg)
	}
	// The free port is found by binding and releasing it, so another
	// process can take it in between: try a few times.
	var errs []error
	for attempt := 0; attempt < 3; attempt++ {
		addr, err := startMosquitto(tb, bin, extra)
		if err == nil {
			return addr
		}
		errs = append(errs, err)
	}
	tb.Fatalf("mqtttest: start mosquitto: %v", errors.Join(errs...))
	return ""
}

// SyncBuffer collects what several goroutines write (a child process's
// output, a server's log) for assertions and failure messages; it is safe
// for concurrent use.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func startMosquitto(tb testing.TB, bin string, extra []string) (string, error) {
	port, err := testport.Pick()
	if err != nil {
		return "", err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	dir := tb.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	body := fmt.Sprintf(`# written by mqtttest.StartMosquitto
listener %d 127.0.0.1
allow_anonymous true
persistence false
log_dest stderr
log_type error
log_type warning
`, port)
	for _, line := range extra {
		body += line + "\n"
	}
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		return "", fmt.Errorf("write config: %w", err)
	}
	// Mosquitto run as root drops to the mosquitto user after reading its
	// configuration; the temporary directory is the test's own, so make it
	// readable for a re-read.
	_ = os.Chmod(dir, 0o755)

	out := &SyncBuffer{}
	cmd := exec.Command(bin, "-c", conf)
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("run %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}

	// Wait until the listener accepts, the process dies, or time runs out.
	deadline := time.Now().Add(DefaultTimeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			return "", fmt.Errorf("mosquitto exited early (%v); output:\n%s", err, out.String())
		default:
		}
		nc, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = nc.Close()
			tb.Cleanup(func() {
				stop()
				if tb.Failed() && out.String() != "" {
					tb.Logf("mosquitto output:\n%s", out.String())
				}
			})
			return addr, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	return "", fmt.Errorf("mosquitto did not listen on %s within %v; output:\n%s", addr, DefaultTimeout, out.String())
}
