package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/store"
)

// backupCrashEnv carries a backupCrashSpec to the child of TestBackupCrash.
const backupCrashEnv = "MQSIGHT_BACKUP_CRASH_BACKUP"

type backupCrashSpec struct {
	DataDir, StoreDir, Point string
	Ready                    bool
}

// backupCrashPoints are the steps of a backup with a store, in order.
var backupCrashPoints = []string{
	"backup:checkpoint", "backup:entry", "backup:store-written", "backup:store-committed",
	"backup:config-synced", "backup:config-linked",
}

// TestBackupCrashChild is the child process of TestBackupCrash.
func TestBackupCrashChild(t *testing.T) {
	raw := os.Getenv(backupCrashEnv)
	if raw == "" {
		t.Skip("helper process of TestBackupCrash")
	}
	var spec backupCrashSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatal(err)
	}
	m, _, err := config.Open(filepath.Join(spec.DataDir, "config"), nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(spec.DataDir, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	deps := BackupDeps{Config: m, Store: st, ScratchDir: spec.DataDir, Open: testOpener("")}
	deps.step = func(p string) {
		if p == spec.Point {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	if spec.Ready {
		os.Stdout.WriteString("ready\n")
	}
	if _, err := Backup(context.Background(), BackupRequest{
		Password: testPassword, Dir: filepath.Join(spec.DataDir, "userfiles"), WorkFactor: testWF,
		Store: StoreParams{URL: "file://" + spec.StoreDir + "/s.bak"},
	}, deps); err != nil {
		t.Fatal(err)
	}
}

// TestBackupCrash kills a child taking a store backup (kill -9) at every
// step and at random moments, and checks that no file looks complete unless
// it is: after Recover, RecoverPending and RemoveTemporaries (what a server
// start does), a configuration backup exists only together with the store
// backup it names, and verifies with it; no store backup is left without
// one; everything else left is a temporary name.
func TestBackupCrash(t *testing.T) {
	if os.Getenv(backupCrashEnv) != "" {
		t.Skip("in the child")
	}
	src := newTestServer(t, "source", nil)
	b := src.st.NewBatch()
	payload := strings.Repeat("p", 4096)
	for i := range 1000 {
		m := store.Message{ID: uint64(i + 1), Topic: "bulk", Payload: []byte(payload), QoS: 1}
		b.Put(store.MessageKey(m.ID), m.Encode())
	}
	if _, err := src.st.Commit(b); err != nil {
		t.Fatal(err)
	}
	if err := src.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	cycle := func(t *testing.T, spec backupCrashSpec) (killed bool, cfgFiles []string, storeDone bool) {
		spec.DataDir, spec.StoreDir = filepath.Join(t.TempDir(), "data"), t.TempDir()
		copyTree(t, src.dir, spec.DataDir)
		within := time.Duration(0)
		if spec.Ready {
			within = 150 * time.Millisecond
		}
		killed = runCrashChild(t, "TestBackupCrashChild", backupCrashEnv, spec, within)
		if _, err := Recover(spec.DataDir); err != nil {
			t.Fatal(err)
		}
		userfiles := filepath.Join(spec.DataDir, "userfiles")
		orphans, err := RecoverPending(spec.DataDir, userfiles)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range orphans {
			if !o.Removed {
				t.Fatalf("orphan file:// store backup %s not removed", o.Orphan)
			}
		}
		if err := RemoveTemporaries(userfiles); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(spec.DataDir, pendingName)); err == nil {
			t.Fatal("pending marker left after recovery")
		}
		assertNoCheckpoint(t, spec.DataDir)
		ents, _ := os.ReadDir(userfiles)
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), namePrefix) {
				t.Fatalf("unexpected file %s in userfiles", e.Name())
			}
			cfgFiles = append(cfgFiles, filepath.Join(userfiles, e.Name()))
		}
		ents, _ = os.ReadDir(spec.StoreDir)
		for _, e := range ents {
			switch {
			case e.Name() == "s.bak":
				storeDone = true
			case strings.HasPrefix(e.Name(), "."):
			default:
				t.Fatalf("unexpected file %s at the destination", e.Name())
			}
		}
		storePath := filepath.Join(spec.StoreDir, "s.bak")
		switch {
		case len(cfgFiles) > 1:
			t.Fatalf("configuration backups %v", cfgFiles)
		case len(cfgFiles) == 1:
			if _, err := Verify(context.Background(), VerifyRequest{ConfigBackup: cfgFiles[0], Password: testPassword, StoreFile: storePath}); err != nil {
				t.Fatalf("configuration backup left by a killed backup does not verify: %v", err)
			}
		case storeDone:
			t.Fatal("a store backup without its configuration backup is left after recovery")
		}
		return killed, cfgFiles, storeDone
	}

	for i, p := range backupCrashPoints {
		t.Run(p, func(t *testing.T) {
			killed, cfgFiles, storeDone := cycle(t, backupCrashSpec{Point: p})
			if !killed {
				t.Fatalf("the child never reached %s", p)
			}
			// Committed at store-committed, but removed again at the next
			// start unless its configuration backup was linked.
			if wantStore := i == len(backupCrashPoints)-1; storeDone != wantStore {
				t.Fatalf("store backup present %v, want %v", storeDone, wantStore)
			}
			if wantCfg := i == len(backupCrashPoints)-1; (len(cfgFiles) == 1) != wantCfg {
				t.Fatalf("configuration backup %v, want one: %v", cfgFiles, wantCfg)
			}
		})
	}
	for i := range 14 {
		t.Run(fmt.Sprintf("random-%02d", i), func(t *testing.T) {
			killed, cfgFiles, storeDone := cycle(t, backupCrashSpec{Ready: true})
			t.Logf("killed %v, configuration backup %v, store backup %v", killed, len(cfgFiles) == 1, storeDone)
		})
	}
}
