package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/destination"
	"github.com/mqsight/mqsight/internal/destination/destinationtest"
	"github.com/mqsight/mqsight/internal/store"
)

// sourceServer is a server with one object of several types, certificate
// files and a store holding a retained and a buffered message.
func sourceServer(t *testing.T) *testServer {
	t.Helper()
	src := newTestServer(t, "source", nil)
	for name, data := range map[string]string{"srv.pem": "CERT", "srv.key": "KEY", "ca.pem": "CA"} {
		if err := os.WriteFile(filepath.Join(src.cfg.CertificateDir(), name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	src.update("MessageHub", "Hub2", map[string]any{"Description": "second hub"})
	src.update("CertificateProfile", "CP", map[string]any{"Certificate": "srv.pem", "Key": "srv.key"})
	src.update("SecurityProfile", "SP", map[string]any{"CertificateProfile": "CP", "TLSEnabled": true})
	src.update("User", "alice", map[string]any{"Password": "alice-password"})
	src.update("Queue", "Q1", map[string]any{})
	putMessage(t, src.st, 1, "a/b", "v1", true)
	putMessage(t, src.st, 2, "q", "buffered", false)
	return src
}

// roundTrip backs src up with a store backup at params, changes things
// after the backup, verifies the pair offline, restores it in the
// "same environment" mode and checks every object, every message and the
// four documented store-restore consequences.
func roundTrip(t *testing.T, params StoreParams, open Opener) {
	ctx := context.Background()
	src := sourceServer(t)
	var reports []Progress
	res, err := Backup(ctx, BackupRequest{
		Password: testPassword, Dir: src.userfiles(), Store: params, WorkFactor: testWF,
		ServerVersion: "test", Progress: func(p Progress) { reports = append(reports, p) },
	}, src.deps(open))
	if err != nil {
		t.Fatal(err)
	}
	if res.Store == nil || res.Manifest.StoreBackup == nil || res.Store.LSN != src.st.LastLSN() {
		t.Fatalf("store result %+v, manifest %+v, store LSN %d", res.Store, res.Manifest.StoreBackup, src.st.LastLSN())
	}
	if last := reports[len(reports)-1]; last.Phase != PhaseUpload || last.Done != last.Total || last.Total == 0 {
		t.Fatalf("last progress report %+v, want the whole upload", last)
	}
	atBackup := messages(t, src.st)
	cfgAtBackup := src.cfg.Current()
	counts := res.Manifest.ObjectCounts
	if counts["MessageHub"] != 2 || counts["User"] != 1 || counts["Queue"] != 1 || counts["SecurityProfile"] != 1 || counts["AdminUser"] != 0 {
		t.Fatalf("object counts %v", counts)
	}
	if res.Manifest.ConfigGeneration != cfgAtBackup.Generation || res.Manifest.ServerUID != cfgAtBackup.ServerUID {
		t.Fatalf("manifest %+v, configuration generation %d", res.Manifest, cfgAtBackup.Generation)
	}
	// No password is written anywhere: not the backup's, not the
	// destination's (the files hold ciphertext; this catches a manifest or
	// a debugging entry that would quote one).
	assertNoSecret(t, src.userfiles(), testPassword, params.Password)
	if loc, _, _ := params.parse(); loc.Scheme == destination.SchemeFile {
		assertNoSecret(t, loc.Dir, testPassword)
	}

	// After the backup: a message buffered (lost by the restore), a
	// retained message published (lost), the retained message of a/b
	// replaced (comes back), message 2 delivered and discarded (delivered
	// again), a hub added (removed by the restore).
	putMessage(t, src.st, 3, "c", "after", false)
	putMessage(t, src.st, 4, "a/new", "retained-after", true)
	putMessage(t, src.st, 5, "a/b", "v2", true)
	b := src.st.NewBatch()
	b.Delete(store.MessageKey(2))
	b.Delete(store.RefKey(string(store.SubscriptionKey("client", "sub")), 2))
	if _, err := src.st.Commit(b); err != nil {
		t.Fatal(err)
	}
	src.update("MessageHub", "Hub3", map[string]any{})
	genBefore := src.cfg.Current().Generation

	v, err := Verify(ctx, VerifyRequest{ConfigBackup: res.Path, Password: testPassword, Store: params, Open: open})
	if err != nil {
		t.Fatal(err)
	}
	if v.Store.BackupID != res.Manifest.BackupID || v.Store.LSN != res.Store.LSN {
		t.Fatalf("verify: store manifest %+v, config %+v", v.Store, v.Config)
	}

	// A dry run counts the messages it would restore.
	dry, err := src.restorer(open).Restore(ctx, RestoreRequest{
		ConfigBackup: res.Path, Password: testPassword, IncludeServerConfig: true, Store: params, DryRun: true,
	}, src.cfg.Current(), src)
	if err != nil {
		t.Fatal(err)
	}
	if dry.FlaggedMessages != len(atBackup) {
		t.Fatalf("dry run counts %d messages, want %d", dry.FlaggedMessages, len(atBackup))
	}

	var restoreReports []Progress
	liveLSN := src.st.LastLSN()
	out, err := src.restorer(open).Restore(ctx, RestoreRequest{
		ConfigBackup: res.Path, Password: testPassword, IncludeServerConfig: true, Store: params,
		Progress: func(p Progress) { restoreReports = append(restoreReports, p) },
	}, src.cfg.Current(), src)
	if err != nil {
		t.Fatal(err)
	}
	var lastDownload Progress
	for _, p := range restoreReports {
		if p.Phase == PhaseDownload {
			lastDownload = p
		}
	}
	if lastDownload.Total != res.Store.Size || lastDownload.Done != lastDownload.Total {
		t.Fatalf("last download progress %+v, store backup has %d bytes", lastDownload, res.Store.Size)
	}
	if last := restoreReports[len(restoreReports)-1]; last != (Progress{Phase: PhaseApply, Done: 2, Total: 2}) {
		t.Fatalf("last restore progress %+v", last)
	}
	if !out.Applied || src.stops != 1 || src.starts != 1 {
		t.Fatalf("applied %v, stops %d, starts %d", out.Applied, src.stops, src.starts)
	}
	if got := out.Plan.Changes["MessageHub"].Removed; !slices.Equal(got, []string{"Hub3"}) {
		t.Fatalf("plan removes hubs %v, want [Hub3]", got)
	}
	if out.Plan.Store.Clean || out.Plan.Store.LSN != res.Store.LSN {
		t.Fatalf("plan store action %+v", out.Plan.Store)
	}

	// Configuration: the backup's, at a new generation.
	cur := src.cfg.Current()
	if cur.Generation <= genBefore {
		t.Fatalf("generation %d after restore, was %d", cur.Generation, genBefore)
	}
	want := cfgAtBackup.Clone()
	want.Generation = cur.Generation
	if a, b := mustMarshal(t, want), mustMarshal(t, cur); a != b {
		t.Fatalf("restored configuration differs from the backed-up one:\n%s\n---\n%s", b, a)
	}
	for name, data := range map[string]string{"srv.pem": "CERT", "srv.key": "KEY", "ca.pem": "CA"} {
		got, err := os.ReadFile(filepath.Join(src.cfg.CertificateDir(), name))
		if err != nil || string(got) != data {
			t.Fatalf("certificate %s: %q, %v", name, got, err)
		}
	}

	// The restored store has an identity of its own and continues the
	// server's LSNs (a (UID, LSN) pair names one state).
	if src.st.UID() == res.Manifest.StoreBackup.StoreUID || src.st.LastLSN() < liveLSN {
		t.Fatalf("restored store is %s at LSN %d; backed-up store %s, live LSN before the restore %d",
			src.st.UID(), src.st.LastLSN(), res.Manifest.StoreBackup.StoreUID, liveLSN)
	}

	// Store: exactly the messages at backup time, each marked as restored
	// (the engine then delivers it first with DUP=1, see mqtt's recover).
	got := messages(t, src.st)
	if len(got) != len(atBackup) {
		t.Fatalf("restored %d messages, backup had %d", len(got), len(atBackup))
	}
	restoredUpTo, err := src.st.RestoredUpTo()
	if err != nil {
		t.Fatal(err)
	}
	for id, m := range atBackup {
		r, ok := got[id]
		if !ok || r.Flags != m.Flags || string(r.Payload) != string(m.Payload) || id > restoredUpTo {
			t.Fatalf("message %d restored as %+v (ok %v), want %+v, marked restored (store marks IDs up to %d)", id, r, ok, m, restoredUpTo)
		}
	}
	// The four consequences.
	if _, ok := got[3]; ok {
		t.Error("message buffered after the backup survived the restore")
	}
	if _, err := src.st.Get(store.RetainedKey("a/new")); err == nil {
		t.Error("retained message published after the backup survived the restore")
	}
	if r, err := src.st.Get(store.RetainedKey("a/b")); err != nil {
		t.Error(err)
	} else if rm, _ := store.DecodeRetained(r); rm.MessageID != 1 {
		t.Errorf("retained a/b is message %d, want the backed-up 1", rm.MessageID)
	}
	if _, ok := got[2]; !ok || restoredUpTo < 2 {
		t.Error("message delivered after the backup is not back, marked for DUP=1")
	}
	if _, err := src.st.Get(store.RefKey(string(store.SubscriptionKey("client", "sub")), 2)); err != nil {
		t.Errorf("reference to message 2: %v", err)
	}
}

// assertNoSecret fails if any file under dir contains one of secrets.
func assertNoSecret(t *testing.T, dir string, secrets ...string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if s != "" && bytes.Contains(data, []byte(s)) {
				t.Fatalf("%s contains a password", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func mustMarshal(t *testing.T, c *config.Config) string {
	t.Helper()
	b, err := config.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRoundTripFile(t *testing.T) {
	dir := t.TempDir()
	roundTrip(t, StoreParams{URL: "file://" + dir + "/store.bak"}, testOpener(""))
}

func TestRoundTripSFTP(t *testing.T) {
	srv := destinationtest.StartSFTPServer(t, t.TempDir())
	roundTrip(t, StoreParams{
		URL: "sftp://" + srv.Addr + srv.Root + "/store.bak", UserID: srv.User, Password: srv.Password, HostKey: srv.HostKey,
	}, testOpener(""))
}

func TestRoundTripSCPKnownHosts(t *testing.T) {
	srv := destinationtest.StartSFTPServer(t, t.TempDir())
	roundTrip(t, StoreParams{
		URL: "scp://" + srv.Addr + srv.Root + "/store.bak", UserID: srv.User, Password: srv.Password,
	}, testOpener(srv.KnownHosts(t)))
}

func TestRoundTripS3(t *testing.T) {
	host := startS3(t)
	roundTrip(t, StoreParams{
		URL: "s3://" + host + "/bucket/backups/store.bak?insecure=true", UserID: s3Access, Password: s3Secret,
	}, testOpener(""))
}

// TestRoundTripOpenSSH runs against the real openssh-server of
// tests/sshd/start.sh (skipped when it is not running, required in CI).
func TestRoundTripOpenSSH(t *testing.T) {
	e := loadOpenSSH(t)
	var rnd [6]byte
	rand.Read(rnd[:])
	name := "backup-test-" + hex.EncodeToString(rnd[:])
	params := StoreParams{URL: "sftp://" + e.addr + e.dir + "/" + name, UserID: e.user, Password: e.password}
	open := testOpener(e.knownHosts)
	t.Cleanup(func() {
		loc, cred, err := params.parse()
		if err != nil {
			return
		}
		if d, closeDest, err := open2(open, loc, cred); err == nil {
			d.Remove(context.Background(), name)
			closeDest()
		}
	})
	roundTrip(t, params, open)
}

func open2(o Opener, loc *destination.Location, cred destination.Credentials) (destination.Destination, func(), error) {
	return open(context.Background(), o, loc, cred)
}

// TestRestoreWithoutServerConfig copies a backup to another server: the
// messaging configuration is the backup's, the identity and admin access
// are the target's, endpoints keep their Interface or get "All".
func TestRestoreWithoutServerConfig(t *testing.T) {
	ctx := context.Background()
	src := sourceServer(t)
	src.update("Endpoint", "Edge", map[string]any{
		"Port": 1884, "Interface": "127.0.0.1", "MessageHub": "Hub2", "ConnectionPolicies": "DemoConnectionPolicy",
	})
	res, err := Backup(ctx, BackupRequest{Password: testPassword, Dir: src.userfiles(), WorkFactor: testWF}, src.deps(nil))
	if err != nil {
		t.Fatal(err)
	}
	if res.Store != nil || res.Manifest.StoreBackup != nil {
		t.Fatal("configuration-only backup recorded a store backup")
	}
	dst := newTestServer(t, "target", func(c *config.Config) {
		c.Endpoints["DemoEndpoint"].Interface = "127.0.0.2"
		c.LogLevel = "MAX"
	})
	admin, err := config.NewAdminUser("opsadmin", "ops-password", "SystemAdministrator")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dst.cfg.Update(func(c *config.Config) error { c.AdminUsers[admin.Name] = admin; return nil }); err != nil {
		t.Fatal(err)
	}
	putMessage(t, dst.st, 7, "target/topic", "target message", true)
	before := dst.cfg.Current()
	out, err := dst.restorer(nil).Restore(ctx, RestoreRequest{ConfigBackup: res.Path, Password: testPassword}, before, dst)
	if err != nil {
		t.Fatal(err)
	}
	c := dst.cfg.Current()
	if c.ServerName != "target" || c.ServerUID != before.ServerUID || c.LogLevel != "MAX" || c.AdminUsers["opsadmin"] == nil {
		t.Fatalf("target identity not kept: name %q uid %q log %q admins %v", c.ServerName, c.ServerUID, c.LogLevel, c.AdminUsers)
	}
	if c.MessageHubs["Hub2"] == nil || c.Users["alice"] == nil || c.Queues["Q1"] == nil || c.SecurityProfiles["SP"] == nil {
		t.Fatal("messaging configuration of the backup not restored")
	}
	if got := c.Endpoints["DemoEndpoint"].Interface; got != "127.0.0.2" {
		t.Errorf("existing endpoint Interface %q, want the target's 127.0.0.2", got)
	}
	if got := c.Endpoints["Edge"].Interface; got != "All" {
		t.Errorf("new endpoint Interface %q, want All", got)
	}
	if !out.Plan.Store.Clean || len(messages(t, dst.st)) != 0 {
		t.Fatal("restore without a store source did not clean the store")
	}
	if got := out.Plan.Changes["Endpoint"].Added; !slices.Equal(got, []string{"Edge"}) {
		t.Fatalf("plan adds endpoints %v", got)
	}
}
