package server

import (
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
	"github.com/mqsight/mqsight/internal/testport"
)

const (
	testBackupPassword = "backup-password-1"
	testStorePassword  = "store-secret-xyz"
)

// backupServer is a test server with a low scrypt work factor whose log
// is captured (to check that no password reaches it).
func backupServer(t *testing.T) (*testServer, *logBuffer) {
	t.Setenv(WorkFactorEnv, "10")
	logs := &logBuffer{}
	ts := startTestServer(t, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	return ts, logs
}

// storeBackup backs up configuration and store to dir over REST and
// returns the job's result.
func storeBackup(t *testing.T, c *adminClient, url string) map[string]any {
	t.Helper()
	nextSecond()
	r := c.must(http.StatusAccepted, "POST", "/ima/v1/service/backup", map[string]any{
		"Password": testBackupPassword, "StoreDestinationURL": url})
	j := c.waitJob("backup", r.Body["RequestID"].(string))
	if j.Body["Status"] != "succeeded" {
		t.Fatalf("backup job: %s", j.Raw)
	}
	if j.Body["BytesTotal"].(float64) <= 0 || j.Body["BytesDone"] != j.Body["BytesTotal"] {
		t.Fatalf("backup progress: %s", j.Raw)
	}
	return j.Body["Result"].(map[string]any)
}

// nextSecond waits for the clock's next whole second: configuration
// backups are named by the second, and a second one in the same second is
// refused (that refusal is tested on purpose).
func nextSecond() {
	now := time.Now()
	time.Sleep(now.Truncate(time.Second).Add(time.Second).Sub(now))
}

// restore posts a restore and waits for its job.
func restore(t *testing.T, c *adminClient, body map[string]any) reply {
	t.Helper()
	r := c.must(http.StatusAccepted, "POST", "/ima/v1/service/restore", body)
	return c.waitJob("restore", r.Body["RequestID"].(string))
}

// publishQoS1 publishes payloads with QoS 1 from a fresh client.
func publishQoS1(t *testing.T, addr, topic string, retain bool, payloads ...string) {
	t.Helper()
	c := mqtttest.Dial(t, addr, 4)
	defer c.Close()
	c.MustConnect(mqtttest.ConnectOptions{ClientID: "pub", Clean: true})
	for _, p := range payloads {
		c.MustPublish(topic, []byte(p), 1, retain)
	}
}

// TestStoreBackupAndRestoreOverREST backs up configuration and store to
// file://, changes messages, retained messages and configuration, and
// restores: a dry run changes nothing; the restore brings back the backed
// up configuration, the buffered messages with DUP set, the old retained
// message, and loses what came after the backup.
func TestStoreBackupAndRestoreOverREST(t *testing.T) {
	ts, logs := backupServer(t)
	c := ts.admin
	dest := t.TempDir()

	sub := mqtttest.Dial(t, ts.mqttAddr, 4)
	sub.MustConnect(mqtttest.ConnectOptions{ClientID: "durable", Clean: false})
	sub.MustSubscribe(packets.Subscription{Filter: "t/a", Qos: 1})
	sub.Close()
	publishQoS1(t, ts.mqttAddr, "t/a", false, "m1", "m2")
	publishQoS1(t, ts.mqttAddr, "t/ret", true, "r1")

	res := storeBackup(t, c, "file://"+dest+"/store.bak")
	name := res["FileName"].(string)
	if res["LSN"].(float64) == 0 || res["StoreURL"] != "file://"+dest+"/store.bak" || !strings.HasPrefix(name, "imaBackup.") {
		t.Fatalf("backup result %v", res)
	}
	if _, err := os.Stat(filepath.Join(dest, "store.bak")); err != nil {
		t.Fatal(err)
	}
	// The configuration backup is downloadable.
	if r := c.must(http.StatusOK, "GET", "/ima/v1/service/file/"+name, nil); len(r.Raw) == 0 {
		t.Fatal("empty configuration backup")
	}

	// After the backup: one more buffered message, the retained message
	// replaced, a new hub.
	publishQoS1(t, ts.mqttAddr, "t/a", false, "m3")
	publishQoS1(t, ts.mqttAddr, "t/ret", true, "r2")
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{"MessageHub": map[string]any{"AfterHub": map[string]any{}}})

	body := map[string]any{"Name": name, "Password": testBackupPassword, "StoreSourceURL": "file://" + dest + "/store.bak", "DryRun": true}
	j := restore(t, c, body)
	if j.Body["Status"] != "succeeded" {
		t.Fatalf("dry run: %s", j.Raw)
	}
	dry := j.Body["Result"].(map[string]any)
	hubs, _ := dry["Changes"].(map[string]any)["MessageHub"].(map[string]any)
	if dry["Applied"] != false || hubs == nil || hubs["Removed"].([]any)[0] != "AfterHub" ||
		dry["Store"].(map[string]any)["LSN"] != res["LSN"] {
		t.Fatalf("dry run result %s", j.Raw)
	}
	if ts.s.Config().Current().MessageHubs["AfterHub"] == nil {
		t.Fatal("dry run changed the configuration")
	}

	delete(body, "DryRun")
	j = restore(t, c, body)
	if j.Body["Status"] != "succeeded" || j.Body["Result"].(map[string]any)["Applied"] != true {
		t.Fatalf("restore: %s", j.Raw)
	}
	if ts.s.Config().Current().MessageHubs["AfterHub"] != nil {
		t.Fatal("restore kept a hub created after the backup")
	}
	c.must(http.StatusOK, "GET", "/ima/v1/service/status", nil)

	sub = mqtttest.Dial(t, ts.mqttAddr, 4)
	defer sub.Close()
	sub.MustConnect(mqtttest.ConnectOptions{ClientID: "durable", Clean: false})
	for _, want := range []string{"m1", "m2"} {
		p := sub.ExpectMessage("t/a", []byte(want))
		if !p.FixedHeader.Dup {
			t.Errorf("restored message %s delivered without DUP", want)
		}
		sub.MustAcknowledge(p)
	}
	sub.ExpectNothing(200e6)
	sub.MustSubscribe(packets.Subscription{Filter: "t/ret", Qos: 1})
	p := sub.ExpectPublish()
	if string(p.Payload) != "r1" || !p.FixedHeader.Retain {
		t.Fatalf("retained after restore: %q retain=%v", p.Payload, p.FixedHeader.Retain)
	}
	if strings.Contains(logs.String(), testBackupPassword) {
		t.Fatal("the backup password reached the log")
	}
}

// TestBackupRequestErrors checks that each bad request gets its own code
// and changes nothing.
func TestBackupRequestErrors(t *testing.T) {
	ts, logs := backupServer(t)
	c := ts.admin
	dest := t.TempDir()
	res := storeBackup(t, c, "file://"+dest+"/one.bak")
	other := storeBackup(t, c, "file://"+dest+"/two.bak")
	nextSecond()
	cfgOnly := c.must(http.StatusOK, "POST", "/ima/v1/service/backup", map[string]any{"Password": testBackupPassword})
	if !strings.HasPrefix(cfgOnly.Body["FileName"].(string), "imaBackup.") {
		t.Fatalf("configuration backup reply %s", cfgOnly.Raw)
	}
	gen := ts.s.Config().Current().Generation

	sync := []struct {
		name, path string
		body       map[string]any
		status     int
		code, msg  string
	}{
		{"short password", "backup", map[string]any{"Password": "short"}, 400, "CWLNA0112", "at least 8"},
		{"no password", "backup", map[string]any{}, 400, "CWLNA0134", "Password"},
		{"partial sftp", "backup", map[string]any{"Password": testBackupPassword, "StoreDestinationURL": "sftp://127.0.0.1/x/s.bak", "StoreDestinationPassword": testStorePassword}, 400, "CWLNA9312", "UserID"},
		{"partial without URL", "backup", map[string]any{"Password": testBackupPassword, "StoreDestinationUserID": "u", "StoreDestinationPassword": testStorePassword}, 400, "CWLNA9312", "URL"},
		{"ftp", "backup", map[string]any{"Password": testBackupPassword, "StoreDestinationURL": "ftp://127.0.0.1/x/s.bak", "StoreDestinationUserID": "u", "StoreDestinationPassword": testStorePassword}, 400, "CWLNA9311", "clear text"},
		{"bad scheme", "backup", map[string]any{"Password": testBackupPassword, "StoreDestinationURL": "gopher://127.0.0.1/x/s.bak"}, 400, "CWLNA9311", "unsupported scheme"},
		{"unknown field", "backup", map[string]any{"Password": testBackupPassword, "Bogus": 1}, 400, "CWLNA0115", "Bogus"},
		{"restore missing file", "restore", map[string]any{"Name": "nope", "Password": testBackupPassword}, 404, "CWLNA0136", "nope"},
		{"restore bad name", "restore", map[string]any{"Name": "../x", "Password": testBackupPassword}, 400, "CWLNA9104", ""},
		{"export taken", "export", map[string]any{"Password": testBackupPassword, "FileName": cfgOnly.Body["FileName"]}, 409, "CWLNA9313", ""},
	}
	for _, tc := range sync {
		r := c.do("POST", "/ima/v1/service/"+tc.path, tc.body)
		if r.Status != tc.status || r.code() != tc.code || !strings.Contains(r.Body["Message"].(string), tc.msg) {
			t.Errorf("%s: %d %s", tc.name, r.Status, r.Raw)
		}
		if strings.Contains(string(r.Raw), testStorePassword) {
			t.Errorf("%s: reply echoes the password", tc.name)
		}
	}

	// Failures found by the job: the status carries the code.
	if err := os.WriteFile(filepath.Join(ts.dir, "userfiles", "notabackup"), []byte("hello, world"), 0o600); err != nil {
		t.Fatal(err)
	}
	name := res["FileName"].(string)
	jobs := []struct {
		name string
		body map[string]any
		code string
	}{
		{"wrong password", map[string]any{"Name": name, "Password": "not-the-password"}, "CWLNA9301"},
		{"not a backup", map[string]any{"Name": "notabackup", "Password": testBackupPassword}, "CWLNA9304"},
		{"store of another backup", map[string]any{"Name": name, "Password": testBackupPassword, "StoreSourceURL": other["StoreURL"]}, "CWLNA9306"},
		{"missing store", map[string]any{"Name": name, "Password": testBackupPassword, "StoreSourceURL": "file://" + dest + "/gone.bak"}, "CWLNA9307"},
		{"unreachable", map[string]any{"Name": name, "Password": testBackupPassword, "StoreSourceURL": "sftp://127.0.0.1:1/x/one.bak", "StoreSourceUserID": "u", "StoreSourcePassword": testStorePassword,
			"StoreSourceHostKey": "SHA256:" + strings.Repeat("A", 43)}, "CWLNA9308"},
	}
	for _, tc := range jobs {
		j := restore(t, c, tc.body)
		if j.Body["Status"] != "failed" || !strings.HasPrefix(j.Body["Error"].(string), tc.code) {
			t.Errorf("%s: %s", tc.name, j.Raw)
		}
		// On record in the log too, with its code.
		id, _ := j.Body["RequestID"].(string)
		if id == "" || !strings.Contains(logs.String(), `msg="job failed" op=restore requestID=`+id) || !strings.Contains(logs.String(), tc.code) {
			t.Errorf("%s: the failure is not in the log", tc.name)
		}
	}
	r := c.must(http.StatusAccepted, "POST", "/ima/v1/service/backup", map[string]any{
		"Password": testBackupPassword, "StoreDestinationURL": "file://" + dest + "/one.bak"})
	if j := c.waitJob("backup", r.Body["RequestID"].(string)); !strings.HasPrefix(j.Body["Error"].(string), "CWLNA9313") {
		t.Errorf("store name collision: %s", j.Raw)
	}
	nextSecond()
	r = c.must(http.StatusAccepted, "POST", "/ima/v1/service/backup", map[string]any{
		"Password": testBackupPassword, "StoreDestinationURL": "file://" + dest + "/no/such/dir/s.bak"})
	if j := c.waitJob("backup", r.Body["RequestID"].(string)); !strings.HasPrefix(j.Body["Error"].(string), "CWLNA9318") {
		t.Errorf("missing destination directory: %s", j.Raw)
	}
	if got := ts.s.Config().Current().Generation; got != gen {
		t.Errorf("a failed request changed the configuration: generation %d → %d", gen, got)
	}

	// SystemAdministrator only.
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{"AdminUser": map[string]any{
		"ops": map[string]any{"Password": "ops-password-1", "Role": "MessagingAdministrator"}}})
	if r := c.as("ops", "ops-password-1").do("POST", "/ima/v1/service/backup", map[string]any{"Password": testBackupPassword}); r.Status != 403 {
		t.Errorf("MessagingAdministrator backup: %d %s", r.Status, r.Raw)
	}
	if strings.Contains(logs.String(), testStorePassword) || strings.Contains(logs.String(), testBackupPassword) {
		t.Fatal("a password reached the log")
	}
}

// TestExportImport covers Amlen's export and import: the preview returns
// the configuration and changes nothing; applying with DisableObjects
// brings the exported objects back with their endpoints disabled.
func TestExportImport(t *testing.T) {
	ts, _ := backupServer(t)
	c := ts.admin
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{"MessageHub": map[string]any{"Exported": map[string]any{}}})
	r := c.must(http.StatusOK, "POST", "/ima/v1/service/export", map[string]any{"Password": testBackupPassword, "FileName": "cfg.exp"})
	if r.Body["FileName"] != "cfg.exp" {
		t.Fatalf("export reply %s", r.Raw)
	}
	// The export is the only file it leaves (no imaBackup.* beside it,
	// no hidden temporary directory).
	if ents, _ := os.ReadDir(filepath.Join(ts.dir, "userfiles")); len(ents) != 1 || ents[0].Name() != "cfg.exp" {
		t.Fatalf("user files after export: %v", ents)
	}
	c.must(http.StatusOK, "DELETE", "/ima/v1/configuration/MessageHub/Exported", nil)
	gen := ts.s.Config().Current().Generation

	r = c.must(http.StatusOK, "POST", "/ima/v1/service/import", map[string]any{"FileName": "cfg.exp", "Password": testBackupPassword, "DisableObjects": true})
	conf := r.Body["Configuration"].(map[string]any)
	if conf["MessageHub"].(map[string]any)["Exported"] == nil || conf["Endpoint"].(map[string]any)["DemoEndpoint"].(map[string]any)["Enabled"] != false {
		t.Fatalf("preview %s", r.Raw)
	}
	if ts.s.Config().Current().Generation != gen {
		t.Fatal("preview changed the configuration")
	}
	if r := c.do("POST", "/ima/v1/service/import", map[string]any{"FileName": "cfg.exp", "Password": "wrong-password"}); r.code() != "CWLNA9301" {
		t.Fatalf("wrong password: %s", r.Raw)
	}
	// A queue the import would remove must be empty, as for DELETE.
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{"Queue": map[string]any{"Held": map[string]any{}}})
	pub := mqtttest.Dial(t, ts.mqttAddr, 4)
	pub.MustConnect(mqtttest.ConnectOptions{ClientID: "producer", Clean: true})
	pub.MustPublish("$queue/Held", []byte("job"), 1, false)
	pub.Close()
	gen = ts.s.Config().Current().Generation
	r = c.do("POST", "/ima/v1/service/import", map[string]any{"FileName": "cfg.exp", "Password": testBackupPassword, "ApplyConfig": true})
	if r.Status != http.StatusConflict || r.code() != "CWLNA9102" || !strings.Contains(r.Body["Message"].(string), `"Held" holds 1 messages`) {
		t.Fatalf("import removing a queue that holds messages: %s", r.Raw)
	}
	if ts.s.Config().Current().Generation != gen || ts.s.MQTT().QueueDepth("Held") != 1 {
		t.Fatal("the refused import changed the configuration or the queue")
	}
	c.must(http.StatusOK, "DELETE", "/ima/v1/configuration/Queue/Held?DiscardMessages=true", nil)

	c.must(http.StatusOK, "POST", "/ima/v1/service/import", map[string]any{"FileName": "cfg.exp", "Password": testBackupPassword, "DisableObjects": true, "ApplyConfig": true})
	cur := ts.s.Config().Current()
	if cur.MessageHubs["Exported"] == nil || cur.Endpoints["DemoEndpoint"].Enabled {
		t.Fatalf("import applied: hub %v, endpoint enabled %v", cur.MessageHubs["Exported"], cur.Endpoints["DemoEndpoint"].Enabled)
	}
}

// TestRecoverRunsAtStart: a restore staging directory left by a crash is
// removed when the server starts (backup.Recover runs before the
// configuration and store are opened).
func TestRecoverRunsAtStart(t *testing.T) {
	ts, _ := backupServer(t)
	ts.close()
	staging := filepath.Join(ts.dir, ".restore-staging", "config")
	if err := os.MkdirAll(staging, 0o700); err != nil {
		t.Fatal(err)
	}
	ts.open()
	if _, err := os.Stat(filepath.Dir(staging)); !os.IsNotExist(err) {
		t.Fatalf("staging directory still there after start: %v", err)
	}
}

// TestFrozenConfigurationRefusesChanges: while a restore holds the
// configuration frozen, every way of changing it is refused with 409
// CWLNA9206 and changes nothing; afterwards changes go through again.
func TestFrozenConfigurationRefusesChanges(t *testing.T) {
	ts, _ := backupServer(t)
	c := ts.admin
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{"MessageHub": map[string]any{"Kept": map[string]any{}}})
	c.must(http.StatusOK, "POST", "/ima/v1/service/export", map[string]any{"Password": testBackupPassword, "FileName": "cfg.exp"})
	thaw := ts.s.Config().Freeze()
	gen := ts.s.Config().Current().Generation
	for _, req := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/ima/v1/configuration", map[string]any{"MessageHub": map[string]any{"During": map[string]any{}}}},
		{"DELETE", "/ima/v1/configuration/MessageHub/Kept", nil},
		{"POST", "/ima/v1/service/import", map[string]any{"FileName": "cfg.exp", "Password": testBackupPassword, "ApplyConfig": true}},
	} {
		r := c.do(req.method, req.path, req.body)
		if r.Status != http.StatusConflict || r.code() != "CWLNA9206" || !strings.Contains(r.Body["Message"].(string), "restore is in progress") {
			t.Errorf("%s %s while frozen: %s", req.method, req.path, r.Raw)
		}
	}
	if cur := ts.s.Config().Current(); cur.Generation != gen || cur.MessageHubs["Kept"] == nil || cur.MessageHubs["During"] != nil {
		t.Fatalf("a refused change changed the configuration (generation %d, was %d)", cur.Generation, gen)
	}
	thaw()
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{"MessageHub": map[string]any{"During": map[string]any{}}})

	// A restore refused while staging thaws what it froze.
	c.must(http.StatusOK, "PUT", "/ima/v1/file/cfg.copy", c.must(http.StatusOK, "GET", "/ima/v1/service/file/cfg.exp", nil).Raw)
	if j := restore(t, c, map[string]any{"Name": "cfg.copy", "Password": "not-the-password"}); j.Body["Status"] != "failed" {
		t.Fatalf("restore with a wrong password: %s", j.Raw)
	}
	if ts.s.Config().Frozen() {
		t.Fatal("the configuration stayed frozen after a refused restore")
	}
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{"MessageHub": map[string]any{"After": map[string]any{}}})
}

// TestRestoreReportsEndpointsThatDidNotStart: a restored endpoint whose
// port another process holds does not start; the restore stands, and its
// result says so (not only the log).
func TestRestoreReportsEndpointsThatDidNotStart(t *testing.T) {
	ts, _ := backupServer(t)
	c := ts.admin
	nextSecond()
	name := c.must(http.StatusOK, "POST", "/ima/v1/service/backup", map[string]any{"Password": testBackupPassword}).Body["FileName"].(string)
	// The endpoint moves away, and another process takes its old port.
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{"Endpoint": map[string]any{"DemoEndpoint": map[string]any{"Port": testport.Free(t)}}})
	var l net.Listener
	var err error
	for try := 0; try < 50; try++ { // the engine closes the old listener asynchronously
		if l, err = net.Listen("tcp", ts.mqttAddr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	j := restore(t, c, map[string]any{"Name": name, "Password": testBackupPassword, "IncludeServerConfig": true})
	if j.Body["Status"] != "succeeded" {
		t.Fatalf("restore: %s", j.Raw)
	}
	failed, _ := j.Body["Result"].(map[string]any)["EndpointsNotStarted"].([]any)
	if len(failed) != 1 || !strings.Contains(failed[0].(string), `endpoint "DemoEndpoint"`) {
		t.Fatalf("the result does not report the endpoint that did not start: %s", j.Raw)
	}
}
