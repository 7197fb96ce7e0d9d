package e2e

import (
	"context"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/backup"
	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
	"github.com/mqsight/mqsight/internal/testport"
)

const quiet = 300 * time.Millisecond

// sourceState is a server configured with every object type and holding
// messages of every kind, backed up with its store to one destination.
type sourceState struct {
	d       *dataDir
	p       *proc
	a       *api
	accAddr string
	dest    storeDest
	before  map[string]any // configuration at the backup
	cfgName string         // configuration backup file name
	store   string         // store backup file name at dest
	result  map[string]any // backup job result
}

// prepareSource configures every type, fills a durable subscription
// ("buf"), one whose messages are delivered after the backup ("del"),
// retained messages and a queue, and backs up with the store to dest.
func prepareSource(t *testing.T, dest storeDest) *sourceState {
	s := &sourceState{dest: dest}
	s.d = prepareDataDir(t, nil)
	s.p = start(t, s.d.Path, []string{lowWorkFactor})
	s.a = newAPI(t, s.d, s.p)
	port := testport.Free(t)
	s.accAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	configureEveryType(t, s.a, port)

	addr := s.d.MQTTAddr
	drain(t, addr, "buf", 50*time.Millisecond, mqtttest.Sub("acc/buf", 1))
	drain(t, addr, "del", 50*time.Millisecond, mqtttest.Sub("acc/del", 1))
	publish(t, addr, "acc/buf", false, "b1", "b2", "b3")
	publish(t, addr, "acc/del", false, "d1", "d2")
	publish(t, addr, "acc/ret/keep", true, "k1")
	publish(t, addr, "acc/ret/repl", true, "v1")
	publish(t, s.accAddr, "$queue/AccQ", false, "q1", "q2")
	s.before = s.a.config()

	s.store = "store-" + dest.Name + ".bak"
	body := dest.params("StoreDestination", s.store)
	body["Password"] = e2eBackupPassword
	j := s.a.job("backup", body)
	if j.Body["Status"] != "succeeded" {
		t.Fatalf("backup to %s: %s", dest.Name, j.Raw)
	}
	s.result = j.Body["Result"].(map[string]any)
	s.cfgName = s.result["FileName"].(string)
	final := dest.finalName(s.store)
	if s.result["LSN"].(float64) <= 0 || s.result["StoreName"] != final {
		t.Fatalf("backup result %v", s.result)
	}
	// Exactly the store backup at the destination, nothing temporary.
	if names := dest.list(); len(names) != 1 || names[0] != final {
		t.Fatalf("destination holds %v", names)
	}
	cfgPath := filepath.Join(s.d.Path, "userfiles", s.cfgName)
	if err := verifyArchive(cfgPath, e2eBackupPassword); err != nil {
		t.Fatalf("configuration backup does not verify: %v", err)
	}
	if dest.Dir != "" {
		// The store backup is authenticated with the key its configuration
		// backup carries.
		if _, err := backup.Verify(context.Background(), backup.VerifyRequest{ConfigBackup: cfgPath,
			Password: e2eBackupPassword, StoreFile: filepath.Join(dest.Dir, final)}); err != nil {
			t.Fatalf("store backup does not verify with its configuration backup: %v", err)
		}
	}
	return s
}

// changeAfterBackup makes every kind of change the restore must undo: a
// message buffered, the "del" subscription drained (wantDel are the
// messages it holds: d1 and d2 at first, none once a restore's check took
// them), retained messages replaced and added, a queue message, and
// changeConfig's changes with serverName.
func (s *sourceState) changeAfterBackup(t *testing.T, wantDel []string, serverName string) {
	addr := s.d.MQTTAddr
	publish(t, addr, "acc/buf", false, "b4")
	if got, dup := payloads(drain(t, addr, "del", quiet)); !slices.Equal(got, wantDel) || dup {
		t.Fatalf("delivery before the restore: %v dup=%v, want %v", got, dup, wantDel)
	}
	publish(t, addr, "acc/ret/repl", true, "v2")
	publish(t, addr, "acc/ret/new", true, "n1")
	publish(t, s.accAddr, "$queue/AccQ", false, "q3")
	s.changeConfig(t, serverName)
}

// changeConfig changes messaging objects (a user deleted, a hub changed, a
// policy added) and server configuration (ServerName, LogLevel, an admin
// user's password) after the backup.
func (s *sourceState) changeConfig(t *testing.T, serverName string) {
	s.a.must(http.StatusOK, "DELETE", "/ima/v1/configuration/User/accuser", nil)
	s.a.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{
		"MessageHub":       map[string]any{"AccHub": map[string]any{"Description": "changed after the backup"}},
		"ConnectionPolicy": map[string]any{"AfterConn": map[string]any{"ClientID": "after*", "Protocol": "MQTT"}},
		"ServerName":       serverName,
		"LogLevel":         "MIN",
		"AdminUser":        map[string]any{"accadmin": map[string]any{"Password": "acc-admin-changed", "Role": "User"}},
	})
}

// checkCredentials checks that password hashes came back from the backup:
// the messaging user deleted after the backup authenticates over MQTT
// with its password (and not with another), and the admin user accadmin
// authenticates with the password of wantAdminPass.
func (s *sourceState) checkCredentials(t *testing.T, wantAdminPass, otherAdminPass string) {
	t.Helper()
	// AccEndpoint authenticates nobody; its profile AccSP, attached for the
	// check, requires passwords.
	s.a.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{
		"Endpoint": map[string]any{"AccEndpoint": map[string]any{"SecurityProfile": "AccSP"}}})
	defer s.a.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{
		"Endpoint": map[string]any{"AccEndpoint": map[string]any{"SecurityProfile": ""}}})
	for _, tc := range []struct {
		pass string
		ok   bool
	}{{"acc-user-password", true}, {"not-the-password", false}} {
		c := mqtttest.Dial(t, s.accAddr, 4)
		ack, err := c.Connect(mqtttest.ConnectOptions{ClientID: "cred-check", Clean: true,
			Username: []byte("accuser"), Password: []byte(tc.pass)})
		c.Close()
		if got := err == nil && ack.ReasonCode == 0; got != tc.ok {
			t.Errorf("MQTT as accuser with password %q: accepted %v, want %v (%v)", tc.pass, got, tc.ok, err)
		}
	}
	as := *s.a
	for _, tc := range []struct {
		pass string
		want int
	}{{wantAdminPass, http.StatusOK}, {otherAdminPass, http.StatusUnauthorized}} {
		as.user, as.pass = "accadmin", tc.pass
		if r, err := as.do("GET", "/ima/v1/configuration/MessageHub", nil); err != nil || r.Status != tc.want {
			t.Errorf("admin API as accadmin with password %q: %v %v, want status %d", tc.pass, r.Status, err, tc.want)
		}
	}
}

// checkRestoredMessages checks the four consequences of a store restore
// and the queue.
func (s *sourceState) checkRestoredMessages(t *testing.T, addr, queueAddr string) {
	// Buffered at the backup: back, flagged as possible duplicates;
	// buffered after it (b4): lost.
	if got, dup := payloads(drain(t, addr, "buf", quiet)); !slices.Equal(got, []string{"b1", "b2", "b3"}) || !dup {
		t.Errorf("durable subscription after restore: %v allDup=%v; want b1 b2 b3 with DUP", got, dup)
	}
	// Delivered since the backup: delivered again, with DUP.
	if got, dup := payloads(drain(t, addr, "del", quiet)); !slices.Equal(got, []string{"d1", "d2"}) || !dup {
		t.Errorf("messages delivered since the backup: %v allDup=%v; want d1 d2 again with DUP", got, dup)
	}
	// Published after the restore: not from the backup, so no DUP.
	publish(t, addr, "acc/buf", false, "fresh")
	if got := drain(t, addr, "buf", quiet); len(got) != 1 || got[0].Payload != "fresh" || got[0].Dup {
		t.Errorf("message published after the restore: %+v; want fresh without DUP", got)
	}
	// Retained: unchanged stays, replaced comes back, published after is lost.
	for topic, want := range map[string]string{"acc/ret/keep": "k1", "acc/ret/repl": "v1", "acc/ret/new": ""} {
		if got := retained(t, addr, topic); got != want {
			t.Errorf("retained %s = %q, want %q", topic, got, want)
		}
	}
	c := mqtttest.Dial(t, queueAddr, 4)
	defer c.Close()
	c.MustConnect(mqtttest.ConnectOptions{ClientID: "queue-reader", Clean: true})
	c.MustSubscribe(mqtttest.Sub("$queue/AccQ", 1))
	var q []string
	for {
		pk, err := c.AwaitType(0x3, quiet)
		if err != nil {
			break
		}
		q = append(q, string(pk.Payload))
		c.MustAcknowledge(pk)
	}
	if !slices.Equal(q, []string{"q1", "q2"}) {
		t.Errorf("queue after restore: %v, want q1 q2", q)
	}
}

// TestBackupRestoreAcceptance is the backup issue's acceptance, once per
// destination: every object type and every kind of message, a store backup
// to the destination, changes, a restore with server configuration and
// store, and a check of every object (password hashes by authenticating),
// every message and each of the four consequences of restoring an older
// store; then changes again and a restore of the same backup without
// server configuration, which keeps this server's name, log level and
// admin users.
func TestBackupRestoreAcceptance(t *testing.T) {
	dests := map[string]func(t *testing.T) (storeDest, bool){
		"sftp":    func(t *testing.T) (storeDest, bool) { return sftpDest(t), true },
		"openssh": func(t *testing.T) (storeDest, bool) { return opensshDest(t) },
		"s3":      func(t *testing.T) (storeDest, bool) { return s3Dest(t), true },
		"file":    func(t *testing.T) (storeDest, bool) { return fileDest(t), true },
	}
	for _, name := range []string{"sftp", "openssh", "s3", "file"} {
		t.Run(name, func(t *testing.T) {
			dest, ok := dests[name](t)
			if !ok {
				t.Skip("OpenSSH test server not set up")
			}
			s := prepareSource(t, dest)
			s.changeAfterBackup(t, []string{"d1", "d2"}, "renamed-after")
			body := dest.params("StoreSource", s.store)
			body["Name"], body["Password"], body["IncludeServerConfig"] = s.cfgName, e2eBackupPassword, true
			j := s.a.job("restore", body)
			if j.Body["Status"] != "succeeded" {
				t.Fatalf("restore: %s", j.Raw)
			}
			res := j.Body["Result"].(map[string]any)
			if res["Applied"] != true || res["Store"].(map[string]any)["LSN"] != s.result["LSN"] {
				t.Fatalf("restore result %s", j.Raw)
			}
			// b1-b3, d1, d2, the retained k1 and v1, the queue's q1 and q2.
			if n := res["FlaggedMessages"]; n != float64(9) {
				t.Errorf("restore reports %v restored messages, want 9", n)
			}
			if after := s.a.config(); !jsonEqual(after, s.before) {
				t.Errorf("configuration after restore differs from the backup's:\nbefore %v\nafter  %v", s.before, after)
			}
			s.checkRestoredMessages(t, s.d.MQTTAddr, s.accAddr)
			s.checkCredentials(t, "acc-admin-password", "acc-admin-changed")

			// The other mode, same backup, same server.
			s.changeAfterBackup(t, nil, "renamed-again")
			body["IncludeServerConfig"] = false
			j = s.a.job("restore", body)
			if j.Body["Status"] != "succeeded" {
				t.Fatalf("restore without server configuration: %s", j.Raw)
			}
			want := maps.Clone(s.before)
			want["ServerName"], want["LogLevel"] = "renamed-again", "MIN" // this server's, kept
			if after := s.a.config(); !jsonEqual(after, want) {
				t.Errorf("configuration after a restore without server configuration:\nwant  %v\nafter %v", want, after)
			}
			s.checkRestoredMessages(t, s.d.MQTTAddr, s.accAddr)
			s.checkCredentials(t, "acc-admin-changed", "acc-admin-password")
		})
	}
}

// TestRestoreWithoutServerConfigCleansStore restores in the other mode on
// the same server, without a store backup: the messaging configuration is
// the backup's, the server configuration stays this server's, and the
// store is cleaned.
func TestRestoreWithoutServerConfigCleansStore(t *testing.T) {
	s := prepareSource(t, fileDest(t))
	s.changeAfterBackup(t, []string{"d1", "d2"}, "renamed-after")
	j := s.a.job("restore", map[string]any{"Name": s.cfgName, "Password": e2eBackupPassword})
	if j.Body["Status"] != "succeeded" || j.Body["Result"].(map[string]any)["Store"].(map[string]any)["Clean"] != true {
		t.Fatalf("restore: %s", j.Raw)
	}
	after := s.a.config()
	if after["ServerName"] != "renamed-after" || after["LogLevel"] != "MIN" {
		t.Errorf("server configuration not kept: ServerName %v LogLevel %v", after["ServerName"], after["LogLevel"])
	}
	for _, typ := range []string{"MessageHub", "ConnectionPolicy", "User", "Queue", "Endpoint", "QueueManagerConnection", "DestinationMappingRule", "CertificateProfile", "TrustedCertificate"} {
		if !jsonEqual(after[typ], s.before[typ]) {
			t.Errorf("%s after restore: %v, want %v", typ, after[typ], s.before[typ])
		}
	}
	if got := drain(t, s.d.MQTTAddr, "buf", quiet, mqtttest.Sub("acc/buf", 1)); len(got) != 0 {
		t.Errorf("store not cleaned: %v", got)
	}
	if got := retained(t, s.d.MQTTAddr, "acc/ret/keep"); got != "" {
		t.Errorf("retained message survived a clean: %q", got)
	}
}

// TestCopyTestToProduction restores a backup without server
// configuration, with its store, onto a second server that has its own
// name, UID and admin user: messaging works there with the restored
// configuration and messages, its identity stays its own.
func TestCopyTestToProduction(t *testing.T) { copyTestToProduction(t, false) }

// TestCopyToProductionKeepsAdminCertificate: the production server's
// self-signed admin certificate (and its private key) is part of its
// identity and must survive a restore without server configuration
// (backup.PlanInput.ServerCertificates).
func TestCopyToProductionKeepsAdminCertificate(t *testing.T) { copyTestToProduction(t, true) }

func copyTestToProduction(t *testing.T, checkCertificate bool) {
	src := prepareSource(t, fileDest(t))
	backupFile, err := os.ReadFile(filepath.Join(src.d.Path, "userfiles", src.cfgName))
	if err != nil {
		t.Fatal(err)
	}
	srcPort := src.accAddr
	if err := src.p.terminate(30 * time.Second); err != nil { // its ports are reused below
		t.Fatal(err)
	}

	_, accPort, _ := net.SplitHostPort(srcPort)
	port, _ := strconv.Atoi(accPort)
	prod := prepareDataDir(t, func(c *config.Config) {
		c.ServerName = "production"
		delete(c.AdminUsers, "admin")
		u, err := config.NewAdminUser("prodadmin", "prod-admin-password", "SystemAdministrator")
		if err != nil {
			t.Fatal(err)
		}
		c.AdminUsers[u.Name] = u
		// This server binds the endpoint to its own address.
		c.Endpoints["AccEndpoint"] = &config.Endpoint{Name: "AccEndpoint", Port: port, Interface: "127.0.0.1", Enabled: true,
			Protocol: config.List{"All"}, MessageHub: "DemoHub", ConnectionPolicies: config.List{"DemoConnectionPolicy"},
			TopicPolicies: config.List{"DemoTopicPolicy"}, MaxMessageSize: "4096KB"}
	})
	prod.AdminUser, prod.AdminPass = "prodadmin", "prod-admin-password"
	// DemoEndpoint's port comes from the backup: the source's.
	prod.MQTTAddr = src.d.MQTTAddr
	pp := start(t, prod.Path, []string{lowWorkFactor})
	pa := newAPI(t, prod, pp)
	st := pa.must(http.StatusOK, "GET", "/ima/v1/service/status", nil).Body["Server"].(map[string]any)
	prodUID := st["UID"]

	pa.must(http.StatusOK, "PUT", "/ima/v1/file/"+src.cfgName, backupFile)
	body := src.dest.params("StoreSource", src.store)
	body["Name"], body["Password"] = src.cfgName, e2eBackupPassword
	j := pa.job("restore", body)
	if j.Body["Status"] != "succeeded" {
		t.Fatalf("restore on production: %s", j.Raw)
	}
	st = pa.must(http.StatusOK, "GET", "/ima/v1/service/status", nil).Body["Server"].(map[string]any)
	if st["Name"] != "production" || st["UID"] != prodUID {
		t.Errorf("production identity changed: %v", st)
	}
	if checkCertificate {
		// A new TLS connection must still see this server's own certificate.
		if _, err := newAPI(t, prod, pp).do("GET", "/ima/v1/service/status", nil); err != nil {
			t.Fatalf("production's admin certificate after the copy: %v", err)
		}
		return
	}
	after := pa.config()
	if _, ok := after["AdminUser"].(map[string]any)["prodadmin"]; !ok || len(after["AdminUser"].(map[string]any)) != 1 {
		t.Errorf("admin users after copy: %v", after["AdminUser"])
	}
	if after["HighAvailability"].(map[string]any)["Group"] == "accpair" {
		t.Errorf("HighAvailability copied from the source")
	}
	for _, typ := range []string{"MessageHub", "ConnectionPolicy", "TopicPolicy", "Queue", "User", "Group"} {
		if !jsonEqual(after[typ], src.before[typ]) {
			t.Errorf("%s on production: %v, want %v", typ, after[typ], src.before[typ])
		}
	}
	// Messaging works with the restored configuration and store.
	src.checkRestoredMessages(t, src.d.MQTTAddr, srcPort)
	publish(t, srcPort, "acc/live", true, "works")
	if got := retained(t, srcPort, "acc/live"); got != "works" {
		t.Errorf("publish on the restored endpoint: retained %q", got)
	}
	if strings.Contains(pp.logs.String(), e2eBackupPassword) {
		t.Error("the backup password reached the log")
	}
}
