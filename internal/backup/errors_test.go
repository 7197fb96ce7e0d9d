package backup

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/archive"
	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/destination"
	"github.com/mqsight/mqsight/internal/destination/destinationtest"
	"github.com/mqsight/mqsight/internal/store"
)

// memOpener opens m for any URL (fault-injection tests).
func memOpener(m *destinationtest.Mem) Opener {
	return func(context.Context, *destination.Location, destination.Credentials) (destination.Destination, error) {
		return m, nil
	}
}

// writeCopy writes data to a new file in a temporary directory.
func writeCopy(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// newerFormat returns an archive whose envelope says format version v,
// with a correct header CRC, so only the version is wrong.
func newerFormat(data []byte, v uint16) []byte {
	out := append([]byte(nil), data...)
	binary.BigEndian.PutUint16(out[8:10], v)
	binary.BigEndian.PutUint32(out[48:52], crc32.Checksum(out[:48], crc32.MakeTable(crc32.Castagnoli)))
	return out
}

// withManifest returns a copy of the configuration backup at path, written
// anew with the same contents and key but its manifest changed by mutate:
// what a writer that records more (a later server) would have written.
func withManifest(t *testing.T, path string, mutate func(*archive.Manifest)) []byte {
	t.Helper()
	cb, err := readConfigFile(path, testPassword, false)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(path))
	c, err := createConfigFile(BackupRequest{Password: testPassword, Dir: filepath.Dir(out), WorkFactor: testWF}, out, cb.StoreKey != nil)
	if err != nil {
		t.Fatal(err)
	}
	m := *cb.Manifest
	if m.StoreBackup != nil {
		sb := *m.StoreBackup
		m.StoreBackup = &sb
	}
	mutate(&m)
	snap := &snapshot{cfg: cb.Config, certs: cb.Certificates}
	if err := writeConfigBackup(context.Background(), BackupDeps{}, c, snap, &m, out, cb.StoreKey); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestRestoreRefusals: every bad input is refused with its own error and
// leaves the target's data directory exactly as it was, without stopping
// its components.
func TestRestoreRefusals(t *testing.T) {
	ctx := context.Background()
	src := sourceServer(t)
	sftpSrv := destinationtest.StartSFTPServer(t, t.TempDir())
	open := testOpener("")
	storeDir := t.TempDir()
	urlA, urlB := "file://"+storeDir+"/a.bak", "file://"+storeDir+"/b.bak"
	t0 := time.Date(2026, 11, 27, 9, 30, 0, 0, time.Local)
	backupA, err := Backup(ctx, BackupRequest{Password: testPassword, Dir: src.userfiles(), Time: t0, Store: StoreParams{URL: urlA}, WorkFactor: testWF}, src.deps(open))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Backup(ctx, BackupRequest{Password: testPassword, Dir: src.userfiles(), Time: t0.Add(time.Second), Store: StoreParams{URL: urlB}, WorkFactor: testWF}, src.deps(open)); err != nil {
		t.Fatal(err)
	}
	configOnly, err := Backup(ctx, BackupRequest{Password: testPassword, Dir: src.userfiles(), Time: t0.Add(2 * time.Second), WorkFactor: testWF}, src.deps(open))
	if err != nil {
		t.Fatal(err)
	}
	cfgBytes, err := os.ReadFile(backupA.Path)
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), cfgBytes...)
	flipped[len(flipped)/2] ^= 0x01
	storeBytes, err := os.ReadFile(filepath.Join(storeDir, "a.bak"))
	if err != nil {
		t.Fatal(err)
	}
	flippedStore := append([]byte(nil), storeBytes...)
	flippedStore[len(flippedStore)/2] ^= 0x80
	flippedStoreDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(flippedStoreDir, "a.bak"), flippedStore, 0o600); err != nil {
		t.Fatal(err)
	}
	wrongKey := "SHA256:" + strings.Repeat("A", 43)
	newerStore := writeCopy(t, "newer-store", withManifest(t, backupA.Path, func(m *archive.Manifest) {
		m.StoreBackup.StoreFormat = store.FormatVersion + 1
	}))
	newerStoreSays := fmt.Sprintf("store format %d; this server reads store formats 1 to %d", store.FormatVersion+1, store.FormatVersion)

	cases := []struct {
		name    string
		req     RestoreRequest
		want    error
		message string // a substring the error must contain
	}{
		{"wrong password", RestoreRequest{ConfigBackup: backupA.Path, Password: "not the password"}, archive.ErrWrongPassword, ""},
		{"truncated", RestoreRequest{ConfigBackup: writeCopy(t, "cut", cfgBytes[:len(cfgBytes)-100])}, archive.ErrTruncated, ""},
		{"flipped byte", RestoreRequest{ConfigBackup: writeCopy(t, "flip", flipped)}, archive.ErrTampered, ""},
		{"flipped byte in store", RestoreRequest{Store: StoreParams{URL: "file://" + flippedStoreDir + "/a.bak"}}, archive.ErrTampered, ""},
		{"store from another backup", RestoreRequest{Store: StoreParams{URL: urlB}}, ErrStoreMismatch, "another configuration backup"},
		{"store with a configuration-only backup", RestoreRequest{ConfigBackup: configOnly.Path, Store: StoreParams{URL: urlA}}, ErrStoreMismatch, "without a store backup"},
		{"missing store", RestoreRequest{Store: StoreParams{URL: "file://" + storeDir + "/nothing.bak"}}, ErrStoreMissing, ""},
		{"store given as configuration", RestoreRequest{ConfigBackup: filepath.Join(storeDir, "a.bak")}, ErrWrongKind, ""},
		{"newer format", RestoreRequest{ConfigBackup: writeCopy(t, "newer", newerFormat(cfgBytes, archive.FormatVersion+1))}, archive.ErrNewerFormat, fmt.Sprintf("version %d is newer than this server's %d", archive.FormatVersion+1, archive.FormatVersion)},
		{"newer store format", RestoreRequest{ConfigBackup: newerStore, Store: StoreParams{URL: urlA}}, archive.ErrNewerFormat, newerStoreSays},
		// Refused before the store backup is looked for.
		{"newer store format, not downloaded", RestoreRequest{ConfigBackup: newerStore, Store: StoreParams{URL: "file://" + storeDir + "/nothing.bak"}}, archive.ErrNewerFormat, newerStoreSays},
		{"not a backup", RestoreRequest{ConfigBackup: writeCopy(t, "text", []byte("hello, this is not a backup file at all"))}, archive.ErrNotBackup, ""},
		{"unreachable", RestoreRequest{Store: StoreParams{URL: "sftp://127.0.0.1:1/tmp/a.bak", UserID: "u", Password: "p", HostKey: sftpSrv.HostKey}}, destination.ErrUnreachable, ""},
		{"wrong host key", RestoreRequest{Store: StoreParams{URL: "sftp://" + sftpSrv.Addr + sftpSrv.Root + "/a.bak", UserID: sftpSrv.User, Password: sftpSrv.Password, HostKey: wrongKey}}, destination.ErrHostKey, ""},
		{"unknown host", RestoreRequest{Store: StoreParams{URL: "sftp://" + sftpSrv.Addr + sftpSrv.Root + "/a.bak", UserID: sftpSrv.User, Password: sftpSrv.Password}}, destination.ErrHostKey, ""},
		{"bad scheme", RestoreRequest{Store: StoreParams{URL: "ftp://127.0.0.1/a.bak", UserID: "u", Password: "p"}}, destination.ErrBadURL, ""},
		{"partial store parameters", RestoreRequest{Store: StoreParams{URL: "sftp://127.0.0.1/tmp/a.bak", UserID: "u"}}, destination.ErrCredentials, "Password"},
	}
	dst := newTestServer(t, "target", nil)
	putMessage(t, dst.st, 9, "keep/me", "target data", true)
	r := dst.restorer(testOpener(filepath.Join(t.TempDir(), "no_known_hosts")))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			if req.ConfigBackup == "" {
				req.ConfigBackup = backupA.Path
			}
			if req.Password == "" {
				req.Password = testPassword
			}
			before := treeHash(t, dst.dir)
			for _, dry := range []bool{true, false} {
				req.DryRun = dry
				_, err := r.Restore(ctx, req, dst.cfg.Current(), dst)
				mustErr(t, err, tc.want)
				if !strings.Contains(err.Error(), tc.message) {
					t.Fatalf("error %q does not say %q", err, tc.message)
				}
				if strings.Contains(err.Error(), testPassword) || strings.Contains(err.Error(), sftpSrv.Password) {
					t.Fatalf("error %q contains a password", err)
				}
			}
			if after := treeHash(t, dst.dir); after != before {
				t.Fatalf("data directory changed:\n%s\n---\n%s", before, after)
			}
			if dst.stops != 0 {
				t.Fatal("components were stopped")
			}
		})
	}
}

// TestDryRunHasNoSideEffect: a dry run with a store reads and checks
// everything, reports the plan, and leaves every file as it was.
func TestDryRunHasNoSideEffect(t *testing.T) {
	ctx := context.Background()
	src := sourceServer(t)
	b, storeURL := src.backupWithStore(t)
	dst := newTestServer(t, "target", nil)
	putMessage(t, dst.st, 9, "keep/me", "target data", true)
	before := treeHash(t, dst.dir)
	out, err := dst.restorer(testOpener("")).Restore(ctx, RestoreRequest{
		ConfigBackup: b.Path, Password: testPassword, Store: StoreParams{URL: storeURL}, DryRun: true,
	}, dst.cfg.Current(), dst)
	if err != nil {
		t.Fatal(err)
	}
	if out.Applied || out.StoreManifest == nil || out.Plan.Store.LSN != b.Store.LSN || len(out.Plan.Changes["MessageHub"].Added) != 1 {
		t.Fatalf("dry run result %+v, plan %+v", out, out.Plan)
	}
	if after := treeHash(t, dst.dir); after != before {
		t.Fatalf("dry run changed the data directory:\n%s\n---\n%s", before, after)
	}
	if dst.stops != 0 || len(messages(t, dst.st)) != 1 {
		t.Fatal("dry run touched the running server")
	}
}

// TestRestoreRefusedWithoutSpace: a restore (dry run or not) whose store
// backup would not fit beside the live data with the reserve to spare is
// refused before anything is written; with enough space it runs.
func TestRestoreRefusedWithoutSpace(t *testing.T) {
	ctx := context.Background()
	src := sourceServer(t)
	b, storeURL := src.backupWithStore(t)
	dst := newTestServer(t, "target", nil)
	before := treeHash(t, dst.dir)
	var avail uint64
	restorer := func() *Restorer {
		return NewRestorer(dst.dir, RestorerOptions{Open: testOpener(""),
			FreeSpace: func(string) (uint64, bool) { return avail, true }})
	}
	req := RestoreRequest{ConfigBackup: b.Path, Password: testPassword, Store: StoreParams{URL: storeURL}}
	for _, dry := range []bool{true, false} {
		avail = uint64(b.Store.Size) + restoreSpaceReserve - 1
		req.DryRun = dry
		_, err := restorer().Restore(ctx, req, dst.cfg.Current(), dst)
		mustErr(t, err, ErrNoSpace)
		if after := treeHash(t, dst.dir); after != before {
			t.Fatalf("dry run %v: a refused restore changed the data directory", dry)
		}
	}
	avail = uint64(b.Store.Size) + restoreSpaceReserve
	if _, err := restorer().Restore(ctx, req, dst.cfg.Current(), dst); err != nil {
		t.Fatalf("restore with just enough space: %v", err)
	}
}

// TestRestoreBusy: one restore at a time per data directory.
func TestRestoreBusy(t *testing.T) {
	ctx := context.Background()
	src := sourceServer(t)
	b, err := Backup(ctx, BackupRequest{Password: testPassword, Dir: src.userfiles(), WorkFactor: testWF}, src.deps(nil))
	if err != nil {
		t.Fatal(err)
	}
	dst := newTestServer(t, "target", nil)
	req := RestoreRequest{ConfigBackup: b.Path, Password: testPassword}
	r := dst.restorer(nil)
	s, err := r.Stage(ctx, req, dst.cfg.Current())
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Restore(ctx, req, dst.cfg.Current(), dst)
	mustErr(t, err, ErrBusy)
	// Another Restorer (another process) sees the staging directory.
	_, err = dst.restorer(nil).Stage(ctx, req, dst.cfg.Current())
	mustErr(t, err, ErrBusy)
	if err := s.Discard(); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, dst); !errors.Is(err, errReleased) {
		t.Fatalf("Apply after Discard: %v", err)
	}
	if _, err := r.Restore(ctx, req, dst.cfg.Current(), dst); err != nil {
		t.Fatalf("restore after the first was discarded: %v", err)
	}
}

// TestBackupRefusals: bad requests and failing destinations leave no file
// that looks complete, locally or remotely, and no checkpoint behind.
func TestBackupRefusals(t *testing.T) {
	ctx := context.Background()
	src := sourceServer(t)
	sftpSrv := destinationtest.StartSFTPServer(t, t.TempDir())
	t0 := time.Date(2026, 11, 27, 9, 45, 1, 0, time.Local)
	storeDir := t.TempDir()
	first, err := Backup(ctx, BackupRequest{Password: testPassword, Dir: src.userfiles(), Time: t0, WorkFactor: testWF}, src.deps(nil))
	if err != nil {
		t.Fatal(err)
	}
	firstBytes, _ := os.ReadFile(first.Path)
	if err := os.WriteFile(filepath.Join(storeDir, "taken.bak"), []byte("someone else's"), 0o600); err != nil {
		t.Fatal(err)
	}
	t1 := t0.Add(time.Minute)
	cases := []struct {
		name string
		req  BackupRequest
		want error
	}{
		{"name collision", BackupRequest{Time: t0}, ErrNameTaken},
		{"short password", BackupRequest{Password: "short"}, archive.ErrShortPassword},
		{"same name as the configuration backup", BackupRequest{Store: StoreParams{URL: "file://" + storeDir + "/" + ConfigBackupName(t1)}}, ErrSameName},
		{"store name taken", BackupRequest{Store: StoreParams{URL: "file://" + storeDir + "/taken.bak"}}, ErrNameTaken},
		{"unreachable", BackupRequest{Store: StoreParams{URL: "sftp://127.0.0.1:1/tmp/s.bak", UserID: "u", Password: "p", HostKey: sftpSrv.HostKey}}, destination.ErrUnreachable},
		{"wrong host key", BackupRequest{Store: StoreParams{URL: "sftp://" + sftpSrv.Addr + sftpSrv.Root + "/s.bak", UserID: sftpSrv.User, Password: sftpSrv.Password, HostKey: "SHA256:" + strings.Repeat("A", 43)}}, destination.ErrHostKey},
		{"wrong password at the destination", BackupRequest{Store: StoreParams{URL: "sftp://" + sftpSrv.Addr + sftpSrv.Root + "/s.bak", UserID: sftpSrv.User, Password: "wrong-password", HostKey: sftpSrv.HostKey}}, destination.ErrAuth},
		{"bad scheme", BackupRequest{Store: StoreParams{URL: "ftp://127.0.0.1/s.bak", UserID: "u", Password: "p"}}, destination.ErrBadURL},
		{"partial store parameters", BackupRequest{Store: StoreParams{URL: "s3://127.0.0.1/bucket/s.bak", Password: "p"}}, destination.ErrCredentials},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			req.Dir, req.WorkFactor = src.userfiles(), testWF
			if req.Password == "" {
				req.Password = testPassword
			}
			if req.Time.IsZero() {
				req.Time = t1
			}
			before := treeHash(t, src.userfiles())
			storeBefore := treeHash(t, storeDir)
			_, err := Backup(ctx, req, src.deps(testOpener("")))
			mustErr(t, err, tc.want)
			if strings.Contains(err.Error(), testPassword) || strings.Contains(err.Error(), sftpSrv.Password) {
				t.Fatalf("error %q contains a password", err)
			}
			if treeHash(t, src.userfiles()) != before || treeHash(t, storeDir) != storeBefore {
				t.Fatal("a refused backup left or changed a file")
			}
			assertNoCheckpoint(t, src.dir)
		})
	}
	if got, _ := os.ReadFile(first.Path); string(got) != string(firstBytes) {
		t.Fatal("the first backup was overwritten")
	}
}

func assertNoCheckpoint(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), checkpointPrefix) || strings.HasPrefix(e.Name(), ".") && e.Name() != ".lock" {
			t.Fatalf("%s left in the data directory", e.Name())
		}
	}
}

// TestBackupFailuresLeaveNothing: a destination failing mid-upload, one
// failing at commit and a cancellation mid-upload each abort the upload
// and write no configuration backup.
func TestBackupFailuresLeaveNothing(t *testing.T) {
	src := sourceServer(t)
	for i := range 200 {
		putMessage(t, src.st, uint64(100+i), "bulk", strings.Repeat("x", 4096), false)
	}
	for _, tc := range []struct {
		name   string
		faults destinationtest.Faults
		cancel bool
		want   error
	}{
		{"write fails", destinationtest.Faults{FailWrites: true, FailAfter: 10_000}, false, destinationtest.ErrInjected},
		{"commit fails", destinationtest.Faults{FailCommit: true}, false, destinationtest.ErrInjected},
		{"cancelled", destinationtest.Faults{Gate: destinationtest.NewGate()}, true, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := destinationtest.NewMem()
			m.SetFaults(tc.faults)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				go func() {
					<-tc.faults.Gate.Reached()
					cancel()
					tc.faults.Gate.Release()
				}()
			}
			before := treeHash(t, src.userfiles())
			_, err := Backup(ctx, BackupRequest{Password: testPassword, Dir: src.userfiles(), Store: StoreParams{URL: "file:///backups/s.bak"}, WorkFactor: testWF}, src.deps(memOpener(m)))
			mustErr(t, err, tc.want)
			if len(m.Names()) != 0 || len(m.Partials()) != 0 {
				t.Fatalf("destination holds %v, partial %v", m.Names(), m.Partials())
			}
			if treeHash(t, src.userfiles()) != before {
				t.Fatal("a configuration backup was written")
			}
			assertNoCheckpoint(t, src.dir)
		})
	}
}

// TestInvalidRestoreRefusedBeforeStore: a copy whose result would not
// validate here (a restored endpoint on the target's admin port) is refused
// with ErrInvalidRestore before the store source is even opened, and
// nothing changes.
func TestInvalidRestoreRefusedBeforeStore(t *testing.T) {
	ctx := context.Background()
	src := newTestServer(t, "source", func(c *config.Config) { c.AdminEndpoint.Port = 9090 })
	src.update("Endpoint", "Clash", map[string]any{"Port": 9089, "MessageHub": "DemoHub", "ConnectionPolicies": "DemoConnectionPolicy"})
	storeDir := t.TempDir()
	b, err := Backup(ctx, BackupRequest{Password: testPassword, Dir: src.userfiles(), Store: StoreParams{URL: "file://" + storeDir + "/s.bak"}, WorkFactor: testWF}, src.deps(testOpener("")))
	if err != nil {
		t.Fatal(err)
	}
	dst := newTestServer(t, "target", nil)
	before := treeHash(t, dst.dir)
	opened := false
	open := func(ctx context.Context, loc *destination.Location, cred destination.Credentials) (destination.Destination, error) {
		opened = true
		return testOpener("")(ctx, loc, cred)
	}
	_, err = dst.restorer(open).Restore(ctx, RestoreRequest{ConfigBackup: b.Path, Password: testPassword, Store: StoreParams{URL: "file://" + storeDir + "/s.bak"}}, dst.cfg.Current(), dst)
	mustErr(t, err, ErrInvalidRestore)
	if !strings.Contains(err.Error(), "9089") {
		t.Errorf("error %q does not name the clashing port", err)
	}
	if opened || dst.stops != 0 || treeHash(t, dst.dir) != before {
		t.Fatalf("store source opened %v, stops %d, or the data directory changed", opened, dst.stops)
	}
	// The same backup restores in the same-environment mode.
	if _, err := dst.restorer(open).Restore(ctx, RestoreRequest{ConfigBackup: b.Path, Password: testPassword, Store: StoreParams{URL: "file://" + storeDir + "/s.bak"}, IncludeServerConfig: true}, dst.cfg.Current(), dst); err != nil {
		t.Fatal(err)
	}
}

// TestRestoreCancelled: cancelling a restore while the store backup is
// read stops it with the context's error and changes nothing.
func TestRestoreCancelled(t *testing.T) {
	src := sourceServer(t)
	b := src.st.NewBatch()
	for i := range 300 {
		m := store.Message{ID: uint64(1000 + i), Topic: "bulk", Payload: []byte(strings.Repeat("z", 8192)), QoS: 1}
		b.Put(store.MessageKey(m.ID), m.Encode())
	}
	if _, err := src.st.Commit(b); err != nil {
		t.Fatal(err)
	}
	res, storeURL := src.backupWithStore(t)
	dst := newTestServer(t, "target", nil)
	before := treeHash(t, dst.dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := dst.restorer(testOpener("")).Restore(ctx, RestoreRequest{
		ConfigBackup: res.Path, Password: testPassword, Store: StoreParams{URL: storeURL},
		Progress: func(p Progress) {
			if p.Phase == PhaseDownload {
				cancel()
			}
		},
	}, dst.cfg.Current(), dst)
	mustErr(t, err, context.Canceled)
	if dst.stops != 0 || treeHash(t, dst.dir) != before {
		t.Fatal("a cancelled restore changed something")
	}
}

// A restore's configuration backup is a user file, a regular file: a
// symbolic link in its place (made after the admin API checked the name)
// is not followed.
func TestRestoreDoesNotFollowALink(t *testing.T) {
	ctx := context.Background()
	src := sourceServer(t)
	b, err := Backup(ctx, BackupRequest{Password: testPassword, Dir: src.userfiles(), WorkFactor: testWF}, src.deps(nil))
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(b.Path, link); err != nil {
		t.Fatal(err)
	}
	dst := newTestServer(t, "target", nil)
	_, err = dst.restorer(nil).Stage(ctx, RestoreRequest{ConfigBackup: link, Password: testPassword}, dst.cfg.Current())
	if !errors.Is(err, syscall.ELOOP) {
		t.Fatalf("restore through a symbolic link: %v, want it refused (ELOOP)", err)
	}
	// The operator's offline check follows a link it was given.
	if _, err := Verify(ctx, VerifyRequest{ConfigBackup: link, Password: testPassword}); err != nil {
		t.Fatalf("verify through a symbolic link: %v", err)
	}
}
