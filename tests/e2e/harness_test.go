package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/testport"
)

// binary is the mqsight binary built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mqsight-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "mqsight")
	build := exec.Command("go", "build", "-o", binary, "github.com/mqsight/mqsight/cmd/mqsight")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build mqsight:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// dataDir is a prepared data directory whose endpoints listen on free
// loopback ports.
type dataDir struct {
	Path      string
	MQTTAddr  string
	AdminAddr string
	AdminUser string
	AdminPass string
}

// prepareDataDir creates a data directory holding the default configuration
// with DemoEndpoint and the AdminEndpoint moved to free loopback ports;
// mutate may change the document further.
func prepareDataDir(t testing.TB, mutate func(*config.Config)) *dataDir {
	t.Helper()
	return prepareDataDirAt(t, t.TempDir(), mutate)
}

// prepareDataDirAt is prepareDataDir with the data directory at path.
func prepareDataDirAt(t testing.TB, path string, mutate func(*config.Config)) *dataDir {
	t.Helper()
	d := &dataDir{Path: path, AdminUser: "admin", AdminPass: "e2e-admin-password"}
	mqttPort, adminPort := testport.Free(t), testport.Free(t)
	_, _, err := config.Open(filepath.Join(d.Path, "config"), func() (*config.Config, error) {
		c := config.Default()
		ep := c.Endpoints["DemoEndpoint"]
		ep.Interface, ep.Port = "127.0.0.1", mqttPort
		c.AdminEndpoint.Interface, c.AdminEndpoint.Port = "127.0.0.1", adminPort
		admin, err := config.NewAdminUser(d.AdminUser, d.AdminPass, "SystemAdministrator")
		if err != nil {
			return nil, err
		}
		c.AdminUsers[admin.Name] = admin
		if mutate != nil {
			mutate(c)
		}
		return c, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	d.MQTTAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(mqttPort))
	d.AdminAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(adminPort))
	return d
}

// proc is a running mqsight process.
type proc struct {
	t    testing.TB
	cmd  *exec.Cmd
	logs *logBuffer
	done chan struct{}
	err  error
}

// logBuffer collects the process's output and lets tests wait for a line.
type logBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	added chan struct{}
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.buf.Write(p)
	select {
	case l.added <- struct{}{}:
	default:
	}
	return n, err
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// start runs the binary with args in dir's data directory and waits until
// it logs that it started.
func start(t testing.TB, dataDir string, env []string, args ...string) *proc {
	t.Helper()
	return startWith(t, binary, dataDir, env, args...)
}

// startWith is start with another binary (e.g. one built with -tags
// failpoints).
func startWith(t testing.TB, bin, dataDir string, env []string, args ...string) *proc {
	t.Helper()
	p := launch(t, bin, dataDir, env, args...)
	p.waitLog("mqsight started", 30*time.Second)
	return p
}

// launch starts bin serving dataDir and returns at once, without waiting
// for "mqsight started" (for starts that may fail).
func launch(t testing.TB, bin, dataDir string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, logs: &logBuffer{added: make(chan struct{}, 1)}, done: make(chan struct{})}
	all := append([]string{"serve", "--data-dir", dataDir}, args...)
	p.cmd = exec.Command(bin, all...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("mqsight output:\n%s", p.logs.String())
		}
	})
	return p
}

// waitLog waits until the output contains s.
func (p *proc) waitLog(s string, d time.Duration) {
	p.t.Helper()
	deadline := time.After(d)
	for !strings.Contains(p.logs.String(), s) {
		select {
		case <-p.logs.added:
		case <-p.done:
			if strings.Contains(p.logs.String(), s) {
				return
			}
			p.t.Fatalf("mqsight exited (%v) before logging %q; output:\n%s", p.err, s, p.logs.String())
		case <-deadline:
			p.t.Fatalf("mqsight did not log %q within %v; output:\n%s", s, d, p.logs.String())
		}
	}
}

// kill9 kills the process with SIGKILL and waits for it.
func (p *proc) kill9() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// terminate sends SIGTERM and returns the exit error after the process
// ended (nil for exit status 0).
func (p *proc) terminate(d time.Duration) error {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		p.t.Fatalf("mqsight did not stop within %v after SIGTERM", d)
		return nil
	}
}

// logValue returns the value of key=value in the first log line holding
// marker.
func logValue(logs, marker, key string) string {
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, marker) {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, key+"="); ok {
				return strings.Trim(v, `"`)
			}
		}
	}
	return ""
}

var _ = io.Discard
