package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/store"
)

// crashEnv carries a crashSpec to the child process of TestApplyCrash.
const crashEnv = "MQSIGHT_BACKUP_CRASH_CHILD"

// crashSpec tells the child what to restore and where to die.
type crashSpec struct {
	DataDir  string
	Backup   string
	StoreURL string
	// Point is the step at which the child SIGKILLs itself; "" for none.
	Point string
	// Ready makes the child print "ready" before it starts, so the parent
	// can kill it after a random delay.
	Ready bool
}

// crashPoints are the steps of Stage and Apply, in order. A kill at any
// point up to "apply:swapped" must leave the old state after Recover; at
// "apply:committed" or later the new one.
var crashPoints = []string{
	"stage:begin", "stage:store", "stage:flagged", "stage:config", "stage:done",
	"apply:begin", "apply:stopped", "apply:journal",
	"apply:aside:config", "apply:aside:store", "apply:in:config", "apply:in:store", "apply:swapped",
	"apply:committed", "apply:cleaned",
}

type nopComponents struct{}

func (nopComponents) Stop(context.Context) error  { return nil }
func (nopComponents) Start(context.Context) error { return nil }

// TestCrashChild is the child process of TestApplyCrash; it does nothing
// in a normal test run.
func TestCrashChild(t *testing.T) {
	raw := os.Getenv(crashEnv)
	if raw == "" {
		t.Skip("helper process of TestApplyCrash")
	}
	var spec crashSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(spec.DataDir, "config", "server.json"))
	if err != nil {
		t.Fatal(err)
	}
	cur, err := config.Unmarshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRestorer(spec.DataDir, RestorerOptions{Open: testOpener("")})
	r.step = func(p string) {
		if p == spec.Point {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	if spec.Ready {
		os.Stdout.WriteString("ready\n")
	}
	if _, err := r.Restore(context.Background(), RestoreRequest{
		ConfigBackup: spec.Backup, Password: testPassword, IncludeServerConfig: true, Store: StoreParams{URL: spec.StoreURL},
	}, cur, nopComponents{}); err != nil {
		t.Fatal(err)
	}
}

// TestApplyCrash kills a restoring child process (kill -9) at every step
// of Stage and Apply and at random moments, runs Recover, and checks that
// the data directory is entirely the old state or entirely the new one:
// configuration generation, store UID and a marker message agree, and no
// restore leftovers remain.
func TestApplyCrash(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("in the child")
	}
	ctx := context.Background()
	src := newTestServer(t, "new-state", nil)
	putMessage(t, src.st, 1000, "marker/new", "new", false)
	storeDir := t.TempDir()
	storeURL := "file://" + storeDir + "/store.bak"
	res, err := Backup(ctx, BackupRequest{Password: testPassword, Dir: src.userfiles(), Store: StoreParams{URL: storeURL}, WorkFactor: testWF}, src.deps(testOpener("")))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := newTestServer(t, "old-state", nil)
	tmpl.update("MessageHub", "OldHub", map[string]any{})
	putMessage(t, tmpl.st, 1000, "marker/old", "old", false)
	old := dirState{gen: tmpl.cfg.Current().Generation, uid: tmpl.st.UID(), marker: "marker/old"}
	// A restored store gets a new UID (store.Reincarnate): the new state is
	// told by its generation and marker, and by a UID that is not the old one.
	nu := dirState{gen: max(old.gen, res.Manifest.ConfigGeneration) + 1, uid: "reincarnated", marker: "marker/new"}
	if err := tmpl.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	cycle := func(t *testing.T, spec crashSpec, randomKill bool) (killed bool, got dirState) {
		spec.DataDir = filepath.Join(t.TempDir(), "data")
		copyTree(t, tmpl.dir, spec.DataDir)
		spec.Backup, spec.StoreURL, spec.Ready = res.Path, storeURL, randomKill
		within := time.Duration(0)
		if randomKill {
			within = 60 * time.Millisecond
		}
		killed = runCrashChild(t, "TestCrashChild", crashEnv, spec, within)
		if _, err := Recover(spec.DataDir); err != nil {
			t.Fatalf("recover: %v", err)
		}
		got = inspect(t, spec.DataDir)
		if got.uid != old.uid && got.uid != res.Manifest.StoreBackup.StoreUID {
			got.uid = "reincarnated"
		}
		return killed, got
	}

	for i, p := range crashPoints {
		t.Run(p, func(t *testing.T) {
			killed, got := cycle(t, crashSpec{Point: p}, false)
			if !killed {
				t.Fatalf("the child never reached %s", p)
			}
			want := old
			if i >= len(crashPoints)-2 {
				want = nu
			}
			if got != want {
				t.Fatalf("killed at %s: state %+v, want %+v", p, got, want)
			}
		})
	}
	for i := range 8 {
		t.Run(fmt.Sprintf("random-%02d", i), func(t *testing.T) {
			_, got := cycle(t, crashSpec{}, true)
			if got != old && got != nu {
				t.Fatalf("random kill %d: mixed state %+v (old %+v, new %+v)", i, got, old, nu)
			}
		})
	}
}

// dirState summarizes a data directory.
type dirState struct {
	gen    uint64
	uid    string
	marker string
}

// inspect reads a data directory's state after Recover, and checks that
// no restore leftovers remain.
func inspect(t *testing.T, dir string) dirState {
	t.Helper()
	for _, n := range []string{stagingDirName, oldDirName, journalName} {
		if ok, _ := exists(filepath.Join(dir, n)); ok {
			t.Fatalf("%s left after Recover", n)
		}
	}
	doc, err := os.ReadFile(filepath.Join(dir, "config", "server.json"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Unmarshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dir, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	v, err := st.Get(store.MessageKey(1000))
	if err != nil {
		t.Fatal(err)
	}
	m, err := store.DecodeMessage(v)
	if err != nil {
		t.Fatal(err)
	}
	return dirState{gen: c.Generation, uid: st.UID(), marker: m.Topic}
}

// copyTree copies the regular files and directories under src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}
