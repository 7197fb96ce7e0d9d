package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rclone/gofakes3"
	"github.com/rclone/gofakes3/s3mem"

	"github.com/mqsight/mqsight/internal/admin"
	"github.com/mqsight/mqsight/internal/archive"
	"github.com/mqsight/mqsight/internal/destination"
	"github.com/mqsight/mqsight/internal/destination/destinationtest"
	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

const (
	e2eBackupPassword = "e2e-backup-password"
	// lowWorkFactor keeps scrypt fast for the many backups of these tests.
	lowWorkFactor = "MQSIGHT_BACKUP_WORK_FACTOR=10"
)

// api is an HTTPS client of one server's admin API that trusts only the
// certificate fingerprint the server logged.
type api struct {
	t          testing.TB
	base       string
	user, pass string
	http       *http.Client
}

// newAPI pins the certificate that p logged at start.
func newAPI(t testing.TB, d *dataDir, p *proc) *api {
	t.Helper()
	fp := logValue(p.logs.String(), "admin endpoint listening", "certSHA256")
	return pinnedAPI(t, d.AdminAddr, d.AdminUser, d.AdminPass, fp)
}

func pinnedAPI(t testing.TB, addr, user, pass, fingerprint string) *api {
	pin, err := hex.DecodeString(fingerprint)
	if err != nil || len(pin) != sha256.Size {
		t.Fatalf("bad certificate fingerprint %q", fingerprint)
	}
	conf := &tls.Config{InsecureSkipVerify: true, VerifyConnection: func(cs tls.ConnectionState) error {
		sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
		if !bytes.Equal(sum[:], pin) {
			return errors.New("admin certificate does not match the pinned fingerprint")
		}
		return nil
	}}
	return &api{t: t, base: "https://" + addr, user: user, pass: pass,
		http: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: conf}}}
}

// reply is a decoded admin reply.
type reply struct {
	Status int
	Body   map[string]any
	Raw    []byte
}

func (r reply) code() string { s, _ := r.Body["Code"].(string); return s }

func (a *api) do(method, path string, body any) (reply, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return reply{}, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		return reply{}, err
	}
	req.SetBasicAuth(a.user, a.pass)
	resp, err := a.http.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	r := reply{Status: resp.StatusCode, Raw: raw}
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		json.Unmarshal(raw, &r.Body)
	}
	return r, nil
}

func (a *api) must(want int, method, path string, body any) reply {
	a.t.Helper()
	r, err := a.do(method, path, body)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	if r.Status != want {
		a.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Raw)
	}
	return r
}

// waitJob polls a job until it is final.
func (a *api) waitJob(op, id string) reply {
	a.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r := a.must(http.StatusOK, "GET", "/ima/v1/service/status/"+op+"/"+id, nil)
		switch r.Body["Status"] {
		case "succeeded", "failed", "cancelled":
			return r
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("job %s/%s not finished: %s", op, id, r.Raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// job posts a backup or restore that answers 202 and waits for its job.
func (a *api) job(op string, body map[string]any) reply {
	a.t.Helper()
	r := a.must(http.StatusAccepted, "POST", "/ima/v1/service/"+op, body)
	return a.waitJob(op, r.Body["RequestID"].(string))
}

// config returns the whole configuration as GET renders it.
func (a *api) config() map[string]any {
	a.t.Helper()
	return a.must(http.StatusOK, "GET", "/ima/v1/configuration", nil).Body
}

// storeDest is a store backup destination as requests name it.
type storeDest struct {
	Name     string
	URL      func(file string) string
	User     string
	Password string
	HostKey  string
	// Dir is where the destination keeps its files on this machine (nil
	// for S3): tests look for files that look complete.
	Dir string
	// list returns the object names at the destination.
	list func() []string
}

// params are the request fields with prefix StoreDestination or
// StoreSource.
func (d storeDest) params(prefix, file string) map[string]any {
	m := map[string]any{prefix + "URL": d.URL(file)}
	if d.User != "" {
		m[prefix+"UserID"], m[prefix+"Password"] = d.User, d.Password
	}
	if d.HostKey != "" {
		m[prefix+"HostKey"] = d.HostKey
	}
	return m
}

// finalName is the object name of file at the destination.
func (d storeDest) finalName(file string) string {
	u, _, _ := strings.Cut(d.URL(file), "?")
	return u[strings.LastIndex(u, "/")+1:]
}

func dirLister(dir string) func() []string {
	return func() []string {
		ents, _ := os.ReadDir(dir)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}
}

// fileDest is a file:// destination in a fresh directory.
func fileDest(t testing.TB) storeDest {
	dir := t.TempDir()
	return storeDest{Name: "file", Dir: dir, list: dirLister(dir),
		URL: func(f string) string { return "file://" + dir + "/" + f }}
}

// sftpDest is the in-process SFTP server of destinationtest.
func sftpDest(t testing.TB) storeDest {
	root := t.TempDir()
	s := destinationtest.StartSFTPServer(t, root)
	return storeDest{Name: "sftp", Dir: root, list: dirLister(root), User: s.User, Password: s.Password, HostKey: s.HostKey,
		URL: func(f string) string { return "sftp://" + s.Addr + root + "/" + f }}
}

// opensshDest is the openssh-server of tests/sshd/start.sh on 127.0.0.1.
// Absent: skipped, unless CI=true, where it must be there.
func opensshDest(t testing.TB) (storeDest, bool) {
	o, err := destinationtest.ReadOpenSSH()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but the OpenSSH test server is not set up (%v); run tests/sshd/start.sh", err)
		}
		t.Logf("skipping the OpenSSH destination: %v (run tests/sshd/start.sh as root)", err)
		return storeDest{}, false
	}
	// Each test gets its own subdirectory name prefix, since the upload
	// directory is shared.
	prefix := fmt.Sprintf("e2e-%d-", time.Now().UnixNano())
	dir := o.Dir
	t.Cleanup(func() {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.Contains(e.Name(), prefix) {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	})
	return storeDest{Name: "openssh", Dir: dir, User: o.User, Password: o.Password,
		HostKey: o.HostKey,
		list: func() []string {
			var names []string
			for _, n := range dirLister(dir)() {
				if strings.Contains(n, prefix) {
					names = append(names, n)
				}
			}
			return names
		},
		URL: func(f string) string { return "sftp://" + o.Addr + dir + "/" + prefix + f }}, true
}

const (
	s3Access = "AKIAMQSIGHTE2E"
	s3Secret = "e2e/S3+secret-key"
)

// s3Dest is an in-process S3 server (gofakes3, signature checked) over
// plain HTTP on 127.0.0.1.
func s3Dest(t testing.TB) storeDest {
	backend := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithV4Auth(map[string]string{s3Access: s3Secret})).Server())
	t.Cleanup(srv.Close)
	if err := backend.CreateBucket(context.Background(), "backups"); err != nil {
		t.Fatal(err)
	}
	host := srv.Listener.Addr().String()
	return storeDest{Name: "s3", User: s3Access, Password: s3Secret,
		list: func() []string {
			res, err := backend.ListBucket(context.Background(), "backups", nil, gofakes3.ListBucketPage{})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, o := range res.Contents {
				names = append(names, strings.TrimPrefix(o.Key, "store/"))
			}
			return names
		},
		URL: func(f string) string { return "s3://" + host + "/backups/store/" + f + "?insecure=true" }}
}

// durable3 is a persistent MQTT 3.1.1 session.
func durable3(id string) mqtttest.ConnectOptions {
	return mqtttest.ConnectOptions{ClientID: id, Clean: false}
}

// publish sends QoS 1 messages from a fresh client and waits for each
// PUBACK.
func publish(t testing.TB, addr, topic string, retain bool, payloads ...string) {
	t.Helper()
	c := mqtttest.Dial(t, addr, 4)
	defer c.Close()
	c.MustConnect(mqtttest.ConnectOptions{ClientID: "publisher", Clean: true})
	for _, p := range payloads {
		c.MustPublish(topic, []byte(p), 1, retain)
	}
}

// received is one message as a test client saw it.
type received struct {
	Payload string
	Dup     bool
}

// drain connects id (persistent session), optionally subscribes, and
// acknowledges every message that arrives until none comes for quiet.
func drain(t testing.TB, addr, id string, quiet time.Duration, subs ...packets.Subscription) []received {
	t.Helper()
	c := mqtttest.Dial(t, addr, 4)
	defer c.Close()
	c.MustConnect(durable3(id))
	if len(subs) > 0 {
		c.MustSubscribe(subs...)
	}
	var out []received
	for {
		pk, err := c.AwaitType(packets.Publish, quiet)
		if err != nil {
			return out
		}
		out = append(out, received{string(pk.Payload), pk.FixedHeader.Dup})
		c.MustAcknowledge(pk)
	}
}

// retained returns the retained payload of topic ("" when none).
func retained(t testing.TB, addr, topic string) string {
	t.Helper()
	c := mqtttest.Dial(t, addr, 4)
	defer c.Close()
	c.MustConnect(mqtttest.ConnectOptions{ClientID: "retained-reader", Clean: true})
	c.MustSubscribe(mqtttest.Sub(topic, 1))
	pk, err := c.AwaitType(packets.Publish, 300*time.Millisecond)
	if err != nil {
		return ""
	}
	c.MustAcknowledge(pk)
	return string(pk.Payload)
}

// payloads lists the payloads of msgs and whether all had DUP set.
func payloads(msgs []received) (ps []string, allDup bool) {
	allDup = len(msgs) > 0
	for _, m := range msgs {
		ps = append(ps, m.Payload)
		allDup = allDup && m.Dup
	}
	return ps, allDup
}

// uploadCerts uploads a fresh self-signed certificate and key.
func uploadCerts(t testing.TB, a *api, name string) (string, string) {
	t.Helper()
	cf, kf, err := admin.EnsureSelfSigned(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{cf: name + ".crt", kf: name + ".key"} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		a.must(http.StatusOK, "PUT", "/ima/v1/file/"+dst, data)
	}
	return name + ".crt", name + ".key"
}

// configureEveryType creates at least one object of every configuration
// type (the singletons are set too) and returns the new endpoint's port.
func configureEveryType(t testing.TB, a *api, port int) {
	t.Helper()
	cert, key := uploadCerts(t, a, "acc")
	ca, _ := uploadCerts(t, a, "accca")
	a.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{
		"ServerName":       "acceptance-source",
		"LogLevel":         "MAX",
		"TraceLevel":       "7",
		"HighAvailability": map[string]any{"Group": "accpair"},
		"MessageHub":       map[string]any{"AccHub": map[string]any{"Description": "acceptance hub"}},
		"ConnectionPolicy": map[string]any{"AccConn": map[string]any{"ClientID": "*", "Protocol": "MQTT"}},
		"TopicPolicy":      map[string]any{"AccTopic": map[string]any{"Topic": "*", "ClientID": "*", "ActionList": "Publish,Subscribe"}},
		"SubscriptionPolicy": map[string]any{"AccSub": map[string]any{"Subscription": "*", "ClientID": "*",
			"ActionList": "Receive,Control"}},
		"QueuePolicy":        map[string]any{"AccQP": map[string]any{"Queue": "*", "ClientID": "*", "ActionList": "Send,Receive,Browse"}},
		"Queue":              map[string]any{"AccQ": map[string]any{"MaxMessages": 1000, "AllowSend": true}},
		"Group":              map[string]any{"AccGroup": map[string]any{"Description": "acceptance group"}},
		"User":               map[string]any{"accuser": map[string]any{"Password": "acc-user-password", "GroupMembership": "AccGroup"}},
		"AdminUser":          map[string]any{"accadmin": map[string]any{"Password": "acc-admin-password", "Role": "User"}},
		"SecurityProfile":    map[string]any{"AccSP": map[string]any{"TLSEnabled": false}},
		"CertificateProfile": map[string]any{"AccCP": map[string]any{"Certificate": cert, "Key": key}},
		"QueueManagerConnection": map[string]any{"AccQMC": map[string]any{"QueueManagerName": "QM1",
			"ConnectionName": "127.0.0.1(1414)", "ChannelName": "CH1", "ChannelUserPassword": "mq-secret"}},
		"DestinationMappingRule": map[string]any{"AccRule": map[string]any{"QueueManagerConnection": "AccQMC",
			"RuleType": 1, "Source": "acc/mq", "Destination": "ACC.Q"}},
		"Endpoint": map[string]any{"AccEndpoint": map[string]any{"Port": port, "Interface": "127.0.0.1",
			"MessageHub": "AccHub", "ConnectionPolicies": "AccConn", "TopicPolicies": "AccTopic",
			"SubscriptionPolicies": "AccSub", "QueuePolicies": "AccQP"}},
	})
	a.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{
		"TrustedCertificate": []any{map[string]any{"SecurityProfileName": "AccSP", "TrustedCertificate": ca}}})
}

// verifyArchive checks a backup file to its end. A configuration backup is
// authenticated with the password. A store backup is encrypted to a key
// that only its configuration backup carries, so on its own it is checked
// for completeness (its checksums); restores and `mqsight backup verify`
// authenticate it together with its configuration backup.
func verifyArchive(path, password string) error {
	_, err := archive.VerifyFile(path, password)
	if !errors.Is(err, archive.ErrWrongKey) {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, _, err = archive.CheckComplete(f)
	return err
}

// looksComplete reports whether name is a final (not temporary) name.
func looksComplete(name string) bool {
	_, tmp := destination.IsTempName(name)
	return !tmp && !strings.HasPrefix(name, ".")
}

// runWithTimeout runs the mqsight binary with args and env.
func runCLI(t testing.TB, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// jsonEqual compares two decoded JSON values.
func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// syncLog is a goroutine-safe list of errors for load loops.
type syncLog struct {
	mu   sync.Mutex
	errs []string
}

func (l *syncLog) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, fmt.Sprintf(format, args...))
}

func (l *syncLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.errs...)
}

// failpointBinary builds mqsight with -tags failpoints once per test
// process, beside the plain binary.
var failpointBinary = sync.OnceValues(func() (string, error) {
	out := filepath.Join(filepath.Dir(binary), "mqsight-failpoints")
	build := exec.Command("go", "build", "-tags", "failpoints", "-o", out, "github.com/mqsight/mqsight/cmd/mqsight")
	if msg, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build with failpoints: %v\n%s", err, msg)
	}
	return out, nil
})

// exited waits up to d for the process to end by itself.
func (p *proc) exited(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}
