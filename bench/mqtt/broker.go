package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/server"
	"github.com/mqsight/mqsight/internal/testport"
)

// broker is a broker child process listening on 127.0.0.1.
type broker struct {
	name  string // "mqsight" or "mosquitto"
	addr  string
	pprof string // mqsight only: pprof HTTP address, "" if none
	cmd   *exec.Cmd
	log   *os.File
	exit  chan error
}

// startTimeout bounds the wait for a broker to listen.
const startTimeout = 20 * time.Second

// mosquittoConf is Mosquitto's configuration for the benchmark: loopback,
// no persistence, and no per-client message limits (mqsight announces no
// limit to a 3.1.1 client either), so neither broker drops messages inside
// the load generator's window; TCP_NODELAY as Go sets it on every socket.
const mosquittoConf = `# written by bench/mqtt
listener %d 127.0.0.1
allow_anonymous true
persistence false
max_inflight_messages 0
max_queued_messages 0
set_tcp_nodelay true
log_dest stderr
log_type error
log_type warning
`

// startMosquitto runs a private Mosquitto with its files in dir.
func startMosquitto(bin, dir string) (*broker, error) {
	port, err := testport.Pick()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(mosquittoConf, port)), 0o644); err != nil {
		return nil, fmt.Errorf("write mosquitto config: %w", err)
	}
	_ = os.Chmod(dir, 0o755) // mosquitto run as root drops to its own user
	return startProcess("mosquitto", dir, fmt.Sprintf("127.0.0.1:%d", port), "", bin, "-c", conf)
}

// prepareDataDir writes a configuration into dataDir/config whose
// DemoEndpoint listens on 127.0.0.1:port and whose admin endpoint listens
// on a free loopback port (so two servers can run at once), with an admin
// user (the binary refuses to start without one).
func prepareDataDir(dataDir string, port int) error {
	adminPort, err := testport.Pick()
	if err != nil {
		return err
	}
	_, _, err = config.Open(filepath.Join(dataDir, "config"), func() (*config.Config, error) {
		c := config.Default()
		ep := c.Endpoints["DemoEndpoint"]
		ep.Interface = "127.0.0.1"
		ep.Port = port
		c.AdminEndpoint.Interface = "127.0.0.1"
		c.AdminEndpoint.Port = adminPort
		admin, err := config.NewAdminUser("admin", "bench-admin-password", "SystemAdministrator")
		if err != nil {
			return nil, err
		}
		c.AdminUsers["admin"] = admin
		return c, nil
	})
	if err != nil {
		return fmt.Errorf("prepare mqsight data directory: %w", err)
	}
	return nil
}

// startMqsightBinary runs the real mqsight binary on a fresh data
// directory (used for RSS: what an operator runs).
func startMqsightBinary(bin, dir string) (*broker, error) {
	port, err := testport.Pick()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := prepareDataDir(data, port); err != nil {
		return nil, err
	}
	return startProcess("mqsight", dir, fmt.Sprintf("127.0.0.1:%d", port), "", bin, "serve",
		"--data-dir", data, "--log-level", "warn")
}

// startMqsightServe runs this program's `serve` mode: the same composition
// root as the mqsight binary (internal/server) plus a loopback pprof
// endpoint, so the scenarios can be profiled.
func startMqsightServe(self, dir string) (*broker, error) {
	port, err := testport.Pick()
	if err != nil {
		return nil, err
	}
	pport, err := testport.Pick()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := prepareDataDir(data, port); err != nil {
		return nil, err
	}
	paddr := fmt.Sprintf("127.0.0.1:%d", pport)
	return startProcess("mqsight", dir, fmt.Sprintf("127.0.0.1:%d", port), paddr, self, "serve",
		"-data-dir", data, "-pprof", paddr)
}

func startProcess(name, dir, addr, pprofAddr, bin string, args ...string) (*broker, error) {
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	b := &broker{name: name, addr: addr, pprof: pprofAddr, cmd: cmd, log: logf, exit: make(chan error, 1)}
	go func() { b.exit <- cmd.Wait() }()
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-b.exit:
			b.exit <- err
			logf.Close()
			out, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("%s exited early (%v); its output:\n%s", name, err, out)
		default:
		}
		if nc, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			nc.Close()
			return b, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.stop()
	return nil, fmt.Errorf("%s did not listen on %s within %v", name, addr, startTimeout)
}

// stop ends the broker: SIGTERM, then SIGKILL after 10 s.
func (b *broker) stop() {
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exit:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.exit
	}
	b.log.Close()
}

// rssKB returns the broker process's VmRSS in KiB.
func (b *broker) rssKB() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", b.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// fetchProfile saves the broker's pprof profile kind (profile, allocs,
// heap) covering the next d to path; d = 0 takes a snapshot.
func (b *broker) fetchProfile(kind string, d time.Duration, path string) error {
	url := fmt.Sprintf("http://%s/debug/pprof/%s", b.pprof, kind)
	if d > 0 {
		url += fmt.Sprintf("?seconds=%d", int(d.Seconds()))
	}
	hc := &http.Client{Timeout: d + 30*time.Second}
	resp, err := hc.Get(url)
	if err != nil {
		return fmt.Errorf("fetch %s profile: %w", kind, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch %s profile: %s", kind, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("save %s profile: %w", kind, err)
	}
	return f.Close()
}

// serveMain is the `serve` mode: mqsight's server on a prepared data
// directory with a pprof endpoint on a loopback address. It runs until
// SIGTERM or SIGINT.
func serveMain(args []string) error {
	fs := newFlagSet("serve")
	dataDir := fs.String("data-dir", "", "prepared data directory")
	pprofAddr := fs.String("pprof", "", "loopback address for net/http/pprof (empty: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := server.New(server.Options{DataDir: *dataDir, Logger: logger, Console: io.Discard})
	if err != nil {
		return err
	}
	defer s.Close()
	s.Start()
	if *pprofAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		ln, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			return fmt.Errorf("pprof listener: %w", err)
		}
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go hs.Serve(ln)
		defer hs.Close()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	<-ctx.Done()
	return nil
}
