package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// TestPublishingDuringStoreBackup: QoS 1 publishers keep publishing while
// a store backup runs; no publish fails, and every acknowledged message
// reaches the durable subscriber afterwards.
func TestPublishingDuringStoreBackup(t *testing.T) {
	d := prepareDataDir(t, nil)
	p := start(t, d.Path, []string{lowWorkFactor})
	a := newAPI(t, d, p)
	fillStore(t, d.MQTTAddr, 4000, 4096) // ~16 MB for the backup to read
	drain(t, d.MQTTAddr, "online", 50*time.Millisecond, mqtttest.Sub("online/#", 1))

	const publishers, maxEach = 4, 5000
	var (
		errs     syncLog
		mu       sync.Mutex
		acked    = map[string]bool{}
		during   atomic.Int64
		inBackup atomic.Bool
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for w := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := mqtttest.DialTimeout(t, d.MQTTAddr, 4, 5*time.Second)
			if err != nil {
				errs.add("dial: %v", err)
				return
			}
			defer c.Close()
			if _, err := c.Connect(mqtttest.ConnectOptions{ClientID: fmt.Sprintf("online-pub-%d", w), Clean: true}); err != nil {
				errs.add("connect: %v", err)
				return
			}
			deadline := time.Now().Add(60 * time.Second)
			for i := 0; i < maxEach && time.Now().Before(deadline); i++ {
				select {
				case <-stop:
					return
				default:
				}
				payload := fmt.Sprintf("w%d-%05d", w, i)
				ack, err := c.Publish("online/"+fmt.Sprint(w), []byte(payload), 1, false)
				if err != nil {
					errs.add("publish %s: %v", payload, err)
					return
				}
				if ack.ReasonCode >= 0x80 {
					errs.add("publish %s refused: %s", payload, mqtttest.Describe(ack))
					return
				}
				mu.Lock()
				acked[payload] = true
				mu.Unlock()
				if inBackup.Load() {
					during.Add(1)
				}
			}
		}()
	}
	// Let the load run, back up under it, let it run a little more.
	waitAcked := func(n int) {
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			got := len(acked)
			mu.Unlock()
			if got >= n || time.Now().After(deadline) || len(errs.all()) > 0 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitAcked(200)
	inBackup.Store(true)
	body := fileDest(t).params("StoreDestination", "online.bak")
	body["Password"] = e2eBackupPassword
	j := a.job("backup", body)
	inBackup.Store(false)
	if j.Body["Status"] != "succeeded" {
		t.Fatalf("backup under load: %s", j.Raw)
	}
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	waitAcked(n + 200)
	close(stop)
	wg.Wait()
	if e := errs.all(); len(e) > 0 {
		t.Fatalf("publishing failed during the backup: %v", e)
	}
	if during.Load() == 0 {
		t.Fatal("no publish was acknowledged while the backup ran")
	}

	// Every acknowledged message is delivered.
	c := mqtttest.Dial(t, d.MQTTAddr, 4)
	defer c.Close()
	c.MustConnect(durable3("online"))
	missing := len(acked)
	for missing > 0 {
		pk, err := c.AwaitType(packets.Publish, 10*time.Second)
		if err != nil {
			t.Fatalf("%d acknowledged messages never delivered: %v", missing, err)
		}
		if acked[string(pk.Payload)] {
			acked[string(pk.Payload)] = false
			missing--
		}
		c.MustAcknowledge(pk)
	}
	t.Logf("%d messages acknowledged while the backup ran; LSN %v", during.Load(), j.Body["Result"].(map[string]any)["LSN"])
}

// TestBackupCLI drives mqsight backup, backup verify and restore as an
// operator would: passwords from a file and the environment, progress on
// standard error, the configuration backup downloaded, verified offline
// (without a server) and restored from the local file.
func TestBackupCLI(t *testing.T) {
	d := prepareDataDir(t, nil)
	p := start(t, d.Path, []string{lowWorkFactor})
	a := newAPI(t, d, p)
	fp := logValue(p.logs.String(), "admin endpoint listening", "certSHA256")
	publish(t, d.MQTTAddr, "cli/ret", true, "before")
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte(e2eBackupPassword+"\n"), 0o600)
	storeURL := "file://" + dir + "/cli-store.bak"
	conn := []string{"--server", "https://" + d.AdminAddr, "--fingerprint", fp}
	env := []string{"MQSIGHT_ADMIN_PASSWORD=" + d.AdminPass}

	out, err := runCLI(t, env, append([]string{"backup", "--store-url", storeURL, "--out", dir, "--backup-password-file", pwFile}, conn...)...)
	if err != nil || !strings.Contains(out, `"Downloaded"`) || !strings.Contains(out, "download imaBackup") {
		t.Fatalf("mqsight backup: %v\n%s", err, out)
	}
	var local string
	for _, n := range dirLister(dir)() {
		if strings.HasPrefix(n, "imaBackup.") {
			local = filepath.Join(dir, n)
		}
	}
	if local == "" {
		t.Fatalf("no configuration backup downloaded into %s: %v", dir, dirLister(dir)())
	}

	// Offline: the server is stopped.
	if err := p.terminate(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, []string{"MQSIGHT_BACKUP_PASSWORD=" + e2eBackupPassword}, "backup", "verify", local, "--store-file", dir+"/cli-store.bak")
	if err != nil || !strings.Contains(out, `"StoreMatches": true`) || !strings.Contains(out, `"BackupID"`) {
		t.Fatalf("backup verify: %v\n%s", err, out)
	}
	out, err = runCLI(t, []string{"MQSIGHT_BACKUP_PASSWORD=wrong-password"}, "backup", "verify", local)
	if err == nil || !strings.Contains(out, "wrong backup password") {
		t.Fatalf("verify with a wrong password: %v\n%s", err, out)
	}

	p = start(t, d.Path, []string{lowWorkFactor})
	publish(t, d.MQTTAddr, "cli/ret", true, "after")
	a = newAPI(t, d, p)
	benv := append(env, "MQSIGHT_BACKUP_PASSWORD="+e2eBackupPassword)
	name := filepath.Base(local)
	serverFile := func() []byte { // the server's user file name; nil if it has none
		t.Helper()
		r, err := a.do("GET", "/ima/v1/service/file/"+name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == http.StatusNotFound {
			return nil
		}
		if r.Status != http.StatusOK {
			t.Fatalf("GET file %s: status %d", name, r.Status)
		}
		return r.Raw
	}
	original := serverFile()

	// The server already has the file the backup wrote: nothing is
	// uploaded, and the dry run leaves it there.
	out, err = runCLI(t, benv, append([]string{"restore", local, "--store-url", storeURL, "--dry-run"}, conn...)...)
	if err != nil || !strings.Contains(out, `"Applied": false`) || strings.Contains(out, "upload imaBackup") {
		t.Fatalf("restore --dry-run of a file the server has: %v\n%s", err, out)
	}
	if got := serverFile(); !bytes.Equal(got, original) {
		t.Fatal("the dry run changed the server's copy of the backup")
	}
	if got := retained(t, d.MQTTAddr, "cli/ret"); got != "after" {
		t.Fatalf("dry run changed the store: %q", got)
	}

	// A different local file of the same name never replaces the server's.
	otherDir := t.TempDir()
	other := filepath.Join(otherDir, name)
	os.WriteFile(other, []byte("another backup of the same name"), 0o600)
	out, err = runCLI(t, benv, append([]string{"restore", other, "--dry-run"}, conn...)...)
	if err == nil || !strings.Contains(out, "already has a different user file named "+name) {
		t.Fatalf("restore of a different file with a taken name: %v\n%s", err, out)
	}
	if got := serverFile(); !bytes.Equal(got, original) {
		t.Fatal("a different file of the same name replaced the server's backup")
	}

	// Uploaded for a dry run, or for a restore that fails: removed again.
	a.must(http.StatusOK, "DELETE", "/ima/v1/service/file/"+name, nil)
	out, err = runCLI(t, benv, append([]string{"restore", local, "--store-url", storeURL, "--dry-run"}, conn...)...)
	if err != nil || !strings.Contains(out, `"Applied": false`) || !strings.Contains(out, "upload imaBackup") {
		t.Fatalf("restore --dry-run: %v\n%s", err, out)
	}
	if serverFile() != nil {
		t.Fatal("the dry run left its upload on the server")
	}
	wrong := append(append([]string{}, env...), "MQSIGHT_BACKUP_PASSWORD=wrong-password")
	out, err = runCLI(t, wrong, append([]string{"restore", local}, conn...)...)
	if err == nil || !strings.Contains(out, "upload imaBackup") {
		t.Fatalf("restore with a wrong password: %v\n%s", err, out)
	}
	if serverFile() != nil {
		t.Fatal("the failed restore left its upload on the server")
	}

	out, err = runCLI(t, benv, append([]string{"restore", local, "--store-url", storeURL, "--include-server-config"}, conn...)...)
	if err != nil || !strings.Contains(out, `"Applied": true`) {
		t.Fatalf("restore: %v\n%s", err, out)
	}

	// The admin password changed since the backup: the restore brings the
	// old one back, so the CLI cannot read the outcome with the password
	// it started with. It says so, and does not claim a failure.
	changed := "cli-admin-changed"
	a.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{
		"AdminUser": map[string]any{d.AdminUser: map[string]any{"Password": changed, "Role": "SystemAdministrator"}}})
	cenv := []string{"MQSIGHT_ADMIN_PASSWORD=" + changed, "MQSIGHT_BACKUP_PASSWORD=" + e2eBackupPassword}
	out, err = runCLI(t, cenv, append([]string{"restore", local, "--store-url", storeURL, "--include-server-config"}, conn...)...)
	if err == nil || !strings.Contains(out, "was accepted, but the server no longer accepts these admin credentials") ||
		!strings.Contains(out, "brings back the backup's admin users") || strings.Contains(out, "restore failed") {
		t.Fatalf("restore with a password the backup does not have: %v\n%s", err, out)
	}
	// With the backup's admin password (a logs in with it) the outcome
	// the CLI could not read is there: the restore succeeded.
	m := regexp.MustCompile(`RequestID ([A-Za-z0-9_-]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no RequestID in %s", out)
	}
	if j := a.waitJob("restore", m[1]); j.Body["Status"] != "succeeded" {
		t.Fatalf("the restore the CLI could not follow: %s", j.Raw)
	}
	if got := serverFile(); !bytes.Equal(got, original) {
		t.Fatal("the restored backup is not kept in the server's user files")
	}
	if got := retained(t, d.MQTTAddr, "cli/ret"); got != "before" {
		t.Fatalf("after the CLI restore: retained %q", got)
	}
	a.must(http.StatusOK, "GET", "/ima/v1/service/status", nil)
	if strings.Contains(out, e2eBackupPassword) {
		t.Fatal("the CLI printed the backup password")
	}
}
