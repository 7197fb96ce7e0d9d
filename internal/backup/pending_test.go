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

// commitThenFail is a destination whose commits happen and then report an
// error, as when the connection is lost right after the rename.
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
	return destination.CommitInfo{}, errors.New("connection lost")
}

// TestUncertainCommit: a store backup whose commit failed without telling
// whether it happened keeps its pending entry. A file:// store backup is
// settled at once (it is there, so it is removed); a remote one stays
// listed, and the next start reports it with its size and digest.
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
	_, err := Backup(ctx, BackupRequest{Password: testPassword, Dir: src.userfiles(), Time: t0, Store: StoreParams{URL: fileURL}, WorkFactor: testWF}, src.deps(open))
	if err == nil || !strings.Contains(err.Error(), "connection lost") {
		t.Fatalf("file:// backup: %v, want the commit's error", err)
	}
	if _, err := os.Stat(filepath.Join(fileDir, "s.bak")); err == nil {
		t.Fatal("the committed file:// store backup was left")
	}
	if list, _ := readPending(src.dir); len(list) != 0 {
		t.Fatalf("pending entries %+v after a settled file:// commit", list)
	}

	_, err = Backup(ctx, BackupRequest{Password: testPassword, Dir: src.userfiles(), Time: t0.Add(time.Second),
		Store: StoreParams{URL: sftpURL, UserID: sftpSrv.User, Password: sftpSrv.Password, HostKey: sftpSrv.HostKey}, WorkFactor: testWF}, src.deps(open))
	if err == nil || !strings.Contains(err.Error(), "connection lost") {
		t.Fatalf("sftp backup: %v, want the commit's error", err)
	}
	left, err := os.ReadFile(filepath.Join(sftpSrv.Root, "s.bak"))
	if err != nil {
		t.Fatalf("the lost commit did not happen in this test: %v", err)
	}
	out, err := RecoverPending(src.dir, src.userfiles())
	if err != nil {
		t.Fatal(err)
	}
	want := PendingOutcome{Orphan: strings.Split(sftpURL, "?")[0], Size: int64(len(left)), SHA256: sha256hex(string(left))}
	if len(out) != 1 || out[0] != want {
		t.Fatalf("outcomes %+v, want %+v", out, want)
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
