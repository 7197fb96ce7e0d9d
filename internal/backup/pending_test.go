package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/destination"
	"github.com/mqsight/mqsight/internal/destination/destinationtest"
)

// TestRecoverPending covers what the next start does with the pending
// marker: nothing for an entry whose configuration backup was linked after
// all; removes a file:// orphan that is the file its entry describes, and
// touches no other file under that name; reports a remote orphan, or one
// whose entry has no digest; removes the marker; without a marker it does
// nothing.
func TestRecoverPending(t *testing.T) {
	data, userfiles, storeDir := t.TempDir(), t.TempDir(), t.TempDir()
	if out, err := RecoverPending(data, userfiles); err != nil || len(out) != 0 {
		t.Fatalf("no marker: %v %v", out, err)
	}
	write := func(name, content string) string {
		p := filepath.Join(storeDir, name)
		os.WriteFile(p, []byte(content), 0o600)
		return p
	}
	linkedStore, orphanStore := write("linked.bak", "store"), write("orphan.bak", "store")
	otherStore, undescribed := write("other.bak", "another file that took the name"), write("undescribed.bak", "store")
	os.WriteFile(filepath.Join(userfiles, "imaBackup.101010-11272026"), []byte("config"), 0o600)
	sum := sha256hex("store")
	for _, p := range []pending{
		{ConfigBackup: "imaBackup.101010-11272026", StoreURL: "file://" + linkedStore, Size: 5, SHA256: sum},
		{ConfigBackup: "imaBackup.111111-11272026", StoreURL: "file://" + orphanStore, Size: 5, SHA256: sum},
		{ConfigBackup: "imaBackup.121212-11272026", StoreURL: "sftp://127.0.0.1:2222/x/s.bak", Size: 5, SHA256: sum},
		{ConfigBackup: "imaBackup.131313-11272026", StoreURL: "file://" + otherStore, Size: 5, SHA256: sum},
		{ConfigBackup: "imaBackup.141414-11272026", StoreURL: "file://" + storeDir + "/absent.bak", Size: 5, SHA256: sum},
		{ConfigBackup: "imaBackup.151515-11272026", StoreURL: "file://" + undescribed},
	} {
		if err := markPending(data, p); err != nil {
			t.Fatal(err)
		}
	}
	out, err := RecoverPending(data, userfiles)
	if err != nil {
		t.Fatal(err)
	}
	want := []PendingOutcome{
		{Orphan: "file://" + orphanStore, Size: 5, SHA256: sum, Removed: true},
		{Orphan: "sftp://127.0.0.1:2222/x/s.bak", Size: 5, SHA256: sum},
		{Orphan: "file://" + undescribed},
	}
	if fmt.Sprint(out) != fmt.Sprint(want) {
		t.Fatalf("outcomes %+v, want %+v", out, want)
	}
	for _, p := range []string{linkedStore, otherStore, undescribed} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s was touched: %v", p, err)
		}
	}
	if _, err := os.Stat(orphanStore); err == nil {
		t.Fatal("file:// orphan not removed")
	}
	if _, err := os.Stat(filepath.Join(data, pendingName)); err == nil {
		t.Fatal("marker left")
	}

	// A replacement cut short by a kill leaves its temporary: it goes too.
	os.WriteFile(filepath.Join(data, pendingName+".tmp"), []byte("[{"), 0o600)
	if out, err := RecoverPending(data, userfiles); err != nil || len(out) != 0 {
		t.Fatalf("with only a temporary: %v %v", out, err)
	}
	if _, err := os.Stat(filepath.Join(data, pendingName+".tmp")); err == nil {
		t.Fatal("the marker's temporary is left")
	}
}

// commitThenFail is a destination whose commits happen and then report a
// lost connection (ErrUncertain), as when it drops right after the rename.
type commitThenFail struct{ destination.Destination }

func (d commitThenFail) Create(ctx context.Context, name string) (destination.Upload, error) {
	u, err := d.Destination.Create(ctx, name)
	return lostCommit{u}, err
}

type lostCommit struct{ destination.Upload }

func (u lostCommit) Commit() (destination.CommitInfo, error) {
	if _, err := u.Upload.Commit(); err != nil {
		return destination.CommitInfo{}, err
	}
	return destination.CommitInfo{}, fmt.Errorf("rename: %w: %w: connection lost", destination.ErrUncertain, destination.ErrUnreachable)
}

// TestUncertainCommit: a store backup whose commit lost its connection
// keeps its pending entry, and the backup's error says where a store
// backup may have been left. The next start removes a file:// one that is
// there (it is the described file) and reports a remote one with its size
// and digest.
func TestUncertainCommit(t *testing.T) {
	ctx := context.Background()
	src := sourceServer(t)
	sftpSrv := destinationtest.StartSFTPServer(t, t.TempDir())
	open := func(ctx context.Context, loc *destination.Location, cred destination.Credentials) (destination.Destination, error) {
		d, err := testOpener("")(ctx, loc, cred)
		return commitThenFail{d}, err
	}
	fileDir := t.TempDir()
	fileURL := "file://" + fileDir + "/s.bak"
	sftpURL := "sftp://" + sftpSrv.Addr + sftpSrv.Root + "/s.bak"
	t0 := time.Date(2026, 11, 27, 9, 30, 0, 0, time.Local)
	for i, params := range []StoreParams{
		{URL: fileURL},
		{URL: sftpURL, UserID: sftpSrv.User, Password: sftpSrv.Password, HostKey: sftpSrv.HostKey},
	} {
		_, err := Backup(ctx, BackupRequest{Password: testPassword, Dir: src.userfiles(), Time: t0.Add(time.Duration(i) * time.Second), Store: params, WorkFactor: testWF}, src.deps(open))
		if !errors.Is(err, destination.ErrUncertain) || !strings.Contains(err.Error(), "the store backup may have been left at "+params.URL) {
			t.Fatalf("%s: %v, want the lost commit, naming where the store backup may be", params.URL, err)
		}
	}
	if list, _ := readPending(src.dir); len(list) != 2 {
		t.Fatalf("pending entries %+v, want both kept", list)
	}
	left, err := os.ReadFile(filepath.Join(sftpSrv.Root, "s.bak"))
	if err != nil {
		t.Fatalf("the lost commit did not happen in this test: %v", err)
	}
	out, err := RecoverPending(src.dir, src.userfiles())
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].Orphan != fileURL || !out[0].Removed || out[1].Orphan != sftpURL || out[1].Removed ||
		out[1].Size != int64(len(left)) || out[1].SHA256 != sha256hex(string(left)) {
		t.Fatalf("outcomes %+v", out)
	}
	if _, err := os.Stat(filepath.Join(fileDir, "s.bak")); err == nil {
		t.Fatal("the file:// store backup of the lost commit was left")
	}
}

// A file:// orphan that cannot be checked (here its directory is a file:
// ENOTDIR; as root, permissions would not stop the test) is reported with
// the reason and left; the recovery, and so the server's start, goes on.
func TestRecoverPendingUncheckableFile(t *testing.T) {
	data, userfiles, storeDir := t.TempDir(), t.TempDir(), t.TempDir()
	notDir := filepath.Join(storeDir, "plain")
	os.WriteFile(notDir, []byte("x"), 0o600)
	url := "file://" + notDir + "/s.bak"
	if err := markPending(data, pending{ConfigBackup: "imaBackup.101010-11272026", StoreURL: url, Size: 5, SHA256: sha256hex("store")}); err != nil {
		t.Fatal(err)
	}
	out, err := RecoverPending(data, userfiles)
	if err != nil {
		t.Fatalf("an uncheckable orphan stopped the recovery: %v", err)
	}
	if len(out) != 1 || out[0].Orphan != url || out[0].Removed || out[0].Err == nil {
		t.Fatalf("outcomes %+v, want the orphan reported with why it was left", out)
	}
	if _, err := os.Stat(filepath.Join(data, pendingName)); err == nil {
		t.Fatal("marker left")
	}
}

// TestPendingEntriesAreKeptApart: a backup that completes takes only its
// own entry out of the marker, so an orphan an earlier failed backup left
// is still reported at the next start.
func TestPendingEntriesAreKeptApart(t *testing.T) {
	data, userfiles := t.TempDir(), t.TempDir()
	first := pending{ConfigBackup: "imaBackup.101010-11272026", StoreURL: "sftp://127.0.0.1:2222/x/first.bak"}
	second := pending{ConfigBackup: "imaBackup.111111-11272026", StoreURL: "sftp://127.0.0.1:2222/x/second.bak"}
	for _, p := range []pending{first, second} {
		if err := markPending(data, p); err != nil {
			t.Fatal(err)
		}
	}
	clearPending(data, second.ConfigBackup)
	out, err := RecoverPending(data, userfiles)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Orphan != first.StoreURL || out[0].Removed {
		t.Fatalf("outcomes %+v, want the first backup's store reported", out)
	}
}

// A file:// store destination inside the server's data directory (the
// scratch directory; directly, deeper, or through a symbolic link) is
// refused before anything is written: among the server's own files a
// store backup could take a name the server reads at its next start.
func TestStoreDestinationInsideDataDirIsRefused(t *testing.T) {
	src := sourceServer(t)
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(filepath.Join(src.dir, "store"), link); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 27, 9, 30, 0, 0, time.Local)
	for i, url := range []string{
		"file://" + src.dir + "/maintenance",
		"file://" + filepath.Join(src.dir, "store") + "/MANIFEST-000099",
		"file://" + link + "/x.bak",
	} {
		_, err := Backup(context.Background(), BackupRequest{Password: testPassword, Dir: src.userfiles(),
			Time: t0.Add(time.Duration(i) * time.Second), Store: StoreParams{URL: url}, WorkFactor: testWF}, src.deps(testOpener("")))
		if !errors.Is(err, destination.ErrBadURL) || !strings.Contains(err.Error(), "inside the server's data directory") {
			t.Fatalf("%s: %v, want it refused as inside the data directory", url, err)
		}
	}
	for _, p := range []string{filepath.Join(src.dir, "maintenance"), filepath.Join(src.dir, "store", "MANIFEST-000099"), filepath.Join(src.dir, "store", "x.bak")} {
		if _, err := os.Stat(p); err == nil {
			t.Fatalf("%s was written", p)
		}
	}
	if entries, _ := os.ReadDir(src.userfiles()); len(entries) != 0 {
		t.Fatalf("user files after refused backups: %v", entries)
	}
}
