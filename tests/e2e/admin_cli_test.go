package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/testport"
)

// cli runs the mqsight binary as an admin client of the server at addr,
// pinning its certificate by fingerprint.
type cli struct {
	t           *testing.T
	addr        string
	password    string
	fingerprint string
}

func (c cli) run(args ...string) (string, error) {
	c.t.Helper()
	all := append(args, "--server", "https://"+c.addr, "--fingerprint", c.fingerprint, "--timeout", "20s")
	cmd := exec.Command(binary, all...)
	cmd.Env = append(os.Environ(), "MQSIGHT_ADMIN_PASSWORD="+c.password, "MQSIGHT_ADMIN_USER=admin")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c cli) must(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("mqsight %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// mqttOpen reports whether addr accepts TCP connections.
func mqttOpen(addr string) bool {
	nc, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	nc.Close()
	return true
}

// TestAdminCLIAgainstRealBinary drives a real mqsight process over HTTPS
// with the mqsight CLI: status, configuration set/get/delete, and
// maintenance mode across an in-process restart and a process restart.
func TestAdminCLIAgainstRealBinary(t *testing.T) {
	d := prepareDataDir(t, nil)
	p := start(t, d.Path, nil)
	fp := logValue(p.logs.String(), "admin endpoint listening", "certSHA256")
	if len(fp) != 64 {
		t.Fatalf("no certificate fingerprint in the log:\n%s", p.logs.String())
	}
	c := cli{t: t, addr: d.AdminAddr, password: d.AdminPass, fingerprint: fp}

	if out := c.must("status"); !strings.Contains(out, `"StateDescription": "Running (production)"`) {
		t.Fatalf("status:\n%s", out)
	}
	// A wrong pin, or the wrong password, is refused.
	bad := c
	bad.fingerprint = strings.Repeat("0", 64)
	if out, err := bad.run("status"); err == nil || !strings.Contains(out, "does not match --fingerprint") {
		t.Fatalf("wrong fingerprint accepted: %v\n%s", err, out)
	}
	bad = c
	bad.password = "wrong"
	if out, err := bad.run("status"); err == nil || !strings.Contains(out, "CWLNA9201") {
		t.Fatalf("wrong password: %v\n%s", err, out)
	}

	port := testport.Free(t)
	mqttAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	file := filepath.Join(t.TempDir(), "change.json")
	os.WriteFile(file, []byte(`{"MessageHub":{"CLIHub":{"Description":"from the CLI"}},
		"Endpoint":{"CLIEndpoint":{"Port":`+strconv.Itoa(port)+`,"Interface":"127.0.0.1","MessageHub":"CLIHub",
		"ConnectionPolicies":"DemoConnectionPolicy","TopicPolicies":"DemoTopicPolicy"}}}`), 0o600)
	if out := c.must("config", "set", "-f", file); !strings.Contains(out, "CWLNA6011") {
		t.Fatalf("config set:\n%s", out)
	}
	if out := c.must("config", "get", "MessageHub", "CLIHub"); !strings.Contains(out, "from the CLI") {
		t.Fatalf("config get:\n%s", out)
	}
	if !mqttOpen(mqttAddr) {
		t.Fatal("endpoint created through the CLI does not accept connections")
	}
	if out, err := c.run("config", "delete", "MessageHub", "CLIHub"); err == nil || !strings.Contains(out, "CWLNA9101") {
		t.Fatalf("deleting a hub in use: %v\n%s", err, out)
	}

	c.must("restart", "--maintenance", "start")
	if out := c.must("status"); !strings.Contains(out, `"State": 9`) {
		t.Fatalf("status in maintenance:\n%s", out)
	}
	if mqttOpen(d.MQTTAddr) || mqttOpen(mqttAddr) {
		t.Fatal("MQTT endpoints open in maintenance mode")
	}
	// Maintenance survives a process restart.
	if err := p.terminate(30 * time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	start(t, d.Path, nil)
	if out := c.must("status"); !strings.Contains(out, `"State": 9`) {
		t.Fatalf("status after process restart:\n%s", out)
	}
	if mqttOpen(d.MQTTAddr) {
		t.Fatal("MQTT endpoint open after a process restart in maintenance mode")
	}
	c.must("restart", "--maintenance", "stop")
	if out := c.must("status"); !strings.Contains(out, `"State": 1`) {
		t.Fatalf("status after leaving maintenance:\n%s", out)
	}
	if !mqttOpen(d.MQTTAddr) || !mqttOpen(mqttAddr) {
		t.Fatal("MQTT endpoints closed after leaving maintenance")
	}
	c.must("config", "delete", "Endpoint", "CLIEndpoint")
	c.must("config", "delete", "MessageHub", "CLIHub")
	if out, err := c.run("config", "get", "MessageHub", "CLIHub"); err == nil || !strings.Contains(out, "CWLNA0136") {
		t.Fatalf("get after delete: %v\n%s", err, out)
	}
}

// TestAdminCLIConfigRoundTrip: what `mqsight config get` prints,
// `mqsight config set -f` takes back: the read-only ServerUID it holds is
// left out when it is the server's, and refused when it is another's.
func TestAdminCLIConfigRoundTrip(t *testing.T) {
	d := prepareDataDir(t, nil)
	p := start(t, d.Path, nil)
	fp := logValue(p.logs.String(), "admin endpoint listening", "certSHA256")
	c := cli{t: t, addr: d.AdminAddr, password: d.AdminPass, fingerprint: fp}

	cmd := exec.Command(binary, "config", "get", "--server", "https://"+c.addr, "--fingerprint", fp)
	cmd.Env = append(os.Environ(), "MQSIGHT_ADMIN_PASSWORD="+c.password, "MQSIGHT_ADMIN_USER=admin")
	got, err := cmd.Output() // standard output only, as `> c.json` takes it
	if err != nil || !strings.Contains(string(got), `"ServerUID"`) {
		t.Fatalf("config get: %v\n%s", err, got)
	}
	file := filepath.Join(t.TempDir(), "c.json")
	os.WriteFile(file, got, 0o600)
	if out := c.must("config", "set", "-f", file); !strings.Contains(out, "CWLNA6011") {
		t.Fatalf("config set of config get's output:\n%s", out)
	}

	other := regexp.MustCompile(`"ServerUID": "[^"]*"`).ReplaceAll(got, []byte(`"ServerUID": "another-server"`))
	os.WriteFile(file, other, 0o600)
	out, err := c.run("config", "set", "-f", file)
	if err == nil || !strings.Contains(out, `ServerUID is read-only: the file sets "another-server"`) {
		t.Fatalf("config set with another ServerUID: %v\n%s", err, out)
	}
}
