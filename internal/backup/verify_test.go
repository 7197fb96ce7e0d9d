package backup

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/archive"
	"github.com/mqsight/mqsight/internal/store"
)

// TestVerify checks a pair offline, from a store file and from a store URL,
// and gives each problem its own error.
func TestVerify(t *testing.T) {
	ctx := context.Background()
	src := sourceServer(t)
	storeDir := t.TempDir()
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.Local)
	a, err := Backup(ctx, BackupRequest{Password: testPassword, Dir: src.userfiles(), Time: t0, Store: StoreParams{URL: "file://" + storeDir + "/a.bak"}, WorkFactor: testWF}, src.deps(testOpener("")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Backup(ctx, BackupRequest{Password: testPassword, Dir: src.userfiles(), Time: t0.Add(time.Second), Store: StoreParams{URL: "file://" + storeDir + "/b.bak"}, WorkFactor: testWF}, src.deps(testOpener(""))); err != nil {
		t.Fatal(err)
	}
	cfgOnly, err := Backup(ctx, BackupRequest{Password: testPassword, Dir: src.userfiles(), Time: t0.Add(2 * time.Second), WorkFactor: testWF}, src.deps(nil))
	if err != nil {
		t.Fatal(err)
	}
	storeA := filepath.Join(storeDir, "a.bak")
	data, err := os.ReadFile(storeA)
	if err != nil {
		t.Fatal(err)
	}
	truncated := writeCopy(t, "a.bak", data[:len(data)-1])

	for _, req := range []VerifyRequest{
		{ConfigBackup: a.Path, StoreFile: storeA},
		{ConfigBackup: a.Path, Store: StoreParams{URL: "file://" + storeA}, Open: testOpener("")},
	} {
		req.Password = testPassword
		v, err := Verify(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if v.Config.BackupID != a.Manifest.BackupID || v.Store.BackupID != v.Config.BackupID || v.StoreSize != int64(len(data)) || v.StoreSHA256 != a.Store.SHA256 {
			t.Fatalf("verify result %+v", v)
		}
		// Both manifests record the store format, so that a restore can
		// refuse a newer one before it downloads the store backup.
		if v.Store.StoreFormat != store.FormatVersion || v.Config.StoreBackup.StoreFormat != store.FormatVersion {
			t.Fatalf("store format %d in the store manifest, %d in the configuration manifest; want %d", v.Store.StoreFormat, v.Config.StoreBackup.StoreFormat, store.FormatVersion)
		}
	}
	v, err := Verify(ctx, VerifyRequest{ConfigBackup: a.Path, Password: testPassword})
	if err != nil || v.Store != nil || v.Config.StoreBackup == nil {
		t.Fatalf("configuration only: %+v, %v", v, err)
	}

	for _, tc := range []struct {
		name string
		req  VerifyRequest
		want error
	}{
		{"wrong password", VerifyRequest{ConfigBackup: a.Path, Password: "wrong password", StoreFile: storeA}, archive.ErrWrongPassword},
		{"store from another backup", VerifyRequest{ConfigBackup: a.Path, StoreFile: filepath.Join(storeDir, "b.bak")}, ErrStoreMismatch},
		{"store with a configuration-only backup", VerifyRequest{ConfigBackup: cfgOnly.Path, StoreFile: storeA}, ErrStoreMismatch},
		{"missing store file", VerifyRequest{ConfigBackup: a.Path, StoreFile: filepath.Join(storeDir, "none.bak")}, ErrStoreMissing},
		{"missing store object", VerifyRequest{ConfigBackup: a.Path, Store: StoreParams{URL: "file://" + storeDir + "/none.bak"}, Open: testOpener("")}, ErrStoreMissing},
		{"truncated store", VerifyRequest{ConfigBackup: a.Path, StoreFile: truncated}, archive.ErrTruncated},
		{"store with bytes appended", VerifyRequest{ConfigBackup: a.Path, StoreFile: writeCopy(t, "long.bak", append(data, 0))}, archive.ErrTruncated},
		{"store given as configuration", VerifyRequest{ConfigBackup: storeA}, ErrWrongKind},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.req.Password == "" {
				tc.req.Password = testPassword
			}
			_, err := Verify(ctx, tc.req)
			mustErr(t, err, tc.want)
		})
	}
	if _, err := Verify(ctx, VerifyRequest{ConfigBackup: a.Path, Password: testPassword, StoreFile: storeA, Store: StoreParams{URL: "file://" + storeA}}); err == nil {
		t.Fatal("both a store file and a store URL accepted")
	}
}
