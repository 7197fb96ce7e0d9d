package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// crashCycles is the number of kill -9 cycles per test (MQSIGHT_SOAK=1:
// five times more).
func crashCycles() int {
	if os.Getenv("MQSIGHT_SOAK") == "1" {
		return 100
	}
	return 20
}

// fillStore buffers n messages of size bytes for a durable subscription,
// so that a backup takes long enough to be killed in the middle.
func fillStore(t *testing.T, addr string, n, size int) {
	drain(t, addr, "bulk", 50*time.Millisecond, mqtttest.Sub("bulk/#", 1))
	c := mqtttest.Dial(t, addr, 4)
	defer c.Close()
	c.MustConnect(mqtttest.ConnectOptions{ClientID: "filler", Clean: true})
	payload := []byte(strings.Repeat("x", size))
	for i := 0; i < n; i++ {
		c.MustPublish("bulk/data", payload, 1, false)
	}
}

// killDuring arms one of three ways to die during the operation: a
// failpoint that kills the process at a durability boundary, or a SIGKILL
// from the test after a random delay.
// Half of the cycles use the failpoints in turn, half a random delay up
// to maxDelay.
func killDuring(cycle int, points []string, maxDelay time.Duration) (env []string, delay time.Duration) {
	if cycle%2 == 0 {
		return []string{"MQSIGHT_FAILPOINTS=" + points[(cycle/2)%len(points)] + "=kill"}, 0
	}
	return nil, rand.N(maxDelay)
}

// TestKill9DuringBackup kills the server during store backups to a local
// directory and to an SFTP server, at failpoints and at random moments:
// every file that looks complete, locally or remotely, is a complete,
// authentic backup; and the server starts again every time.
func TestKill9DuringBackup(t *testing.T) {
	bin, err := failpointBinary()
	if err != nil {
		t.Fatal(err)
	}
	d := prepareDataDir(t, nil)
	p := startWith(t, bin, d.Path, []string{lowWorkFactor})
	fillStore(t, d.MQTTAddr, 3000, 2048)
	p.kill9()
	dests := []storeDest{fileDest(t), sftpDest(t)}
	userfiles := filepath.Join(d.Path, "userfiles")
	complete := 0
	var last time.Time
	for cycle := range crashCycles() {
		env, delay := killDuring(cycle, []string{"backupAfterCheckpoint", "backupBeforeCommit"}, 150*time.Millisecond)
		p := startWith(t, bin, d.Path, append(env, lowWorkFactor))
		a := newAPI(t, d, p)
		dest := dests[cycle%len(dests)]
		body := dest.params("StoreDestination", fmt.Sprintf("cycle-%02d.bak", cycle))
		body["Password"] = e2eBackupPassword
		// Consecutive backups need distinct seconds (configuration
		// backups are named by the second).
		if now := time.Now(); now.Unix() == last.Unix() {
			time.Sleep(time.Until(now.Truncate(time.Second).Add(time.Second)))
		}
		last = time.Now()
		if _, err := a.do("POST", "/ima/v1/service/backup", body); err != nil {
			t.Fatalf("cycle %d: %v", cycle, err)
		}
		if env == nil {
			time.Sleep(delay)
			p.kill9()
		} else if !p.exited(30 * time.Second) {
			t.Fatalf("cycle %d: failpoint %v did not kill the server", cycle, env)
		}
		// Whatever has a final name is complete and authentic.
		check := func(where, dir string, names []string) {
			for _, n := range names {
				if !looksComplete(n) {
					continue
				}
				if err := verifyArchive(filepath.Join(dir, n), e2eBackupPassword); err != nil {
					t.Errorf("cycle %d: %s file %s looks complete but is not: %v", cycle, where, n, err)
				}
				complete++
			}
		}
		check("local", userfiles, dirLister(userfiles)())
		check(dest.Name, dest.Dir, dest.list())
	}
	// The server starts after the last kill and cleans up its checkpoints.
	p = startWith(t, bin, d.Path, []string{lowWorkFactor})
	ents, _ := os.ReadDir(d.Path)
	for _, e := range ents {
		if strings.Contains(e.Name(), "checkpoint") {
			t.Errorf("leftover backup checkpoint %s after restart", e.Name())
		}
	}
	t.Logf("%d cycles; %d complete files found, all authentic", crashCycles(), complete)
}

// TestKill9DuringRestore kills the server during restores, at the
// failpoints around the switch and at random moments. After each restart
// the server is entirely on its old state or entirely on the restored one:
// the configuration (hub "After" exists only in the old one) and the store
// (retained "state" is "after" only in the old one) always agree.
func TestKill9DuringRestore(t *testing.T) {
	bin, err := failpointBinary()
	if err != nil {
		t.Fatal(err)
	}
	d := prepareDataDir(t, nil)
	dest := fileDest(t)
	p := startWith(t, bin, d.Path, []string{lowWorkFactor})
	a := newAPI(t, d, p)
	fillStore(t, d.MQTTAddr, 1000, 2048)
	publish(t, d.MQTTAddr, "state", true, "before")
	body := dest.params("StoreDestination", "restore-me.bak")
	body["Password"] = e2eBackupPassword
	j := a.job("backup", body)
	if j.Body["Status"] != "succeeded" {
		t.Fatalf("backup: %s", j.Raw)
	}
	cfgName := j.Body["Result"].(map[string]any)["FileName"].(string)
	makeOld := func(a *api) {
		a.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{"MessageHub": map[string]any{"After": map[string]any{}}})
		publish(t, d.MQTTAddr, "state", true, "after")
	}
	makeOld(a)
	// One restore to the end, timed: the random kills fall within twice
	// its duration.
	rb := dest.params("StoreSource", "restore-me.bak")
	rb["Name"], rb["Password"], rb["IncludeServerConfig"] = cfgName, e2eBackupPassword, true
	began := time.Now()
	if j := a.job("restore", rb); j.Body["Status"] != "succeeded" {
		t.Fatalf("restore: %s", j.Raw)
	}
	took := time.Since(began)
	if got := retained(t, d.MQTTAddr, "state"); got != "before" {
		t.Fatalf("restore: retained %q", got)
	}
	makeOld(a)
	p.kill9()

	outcomes := map[string]int{}
	for cycle := range crashCycles() {
		env, delay := killDuring(cycle, []string{"restoreBeforeSwap", "restoreAfterSwap"}, 2*took)
		p := startWith(t, bin, d.Path, append(env, lowWorkFactor))
		a := newAPI(t, d, p)
		if _, err := a.do("POST", "/ima/v1/service/restore", rb); err != nil {
			t.Fatalf("cycle %d: %v", cycle, err)
		}
		if env == nil {
			time.Sleep(delay)
			p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
		} else if !p.exited(30 * time.Second) {
			t.Fatalf("cycle %d: failpoint %v did not kill the server", cycle, env)
		}

		p = startWith(t, bin, d.Path, []string{lowWorkFactor})
		a = newAPI(t, d, p)
		_, hubAfter := a.config()["MessageHub"].(map[string]any)["After"]
		state := retained(t, d.MQTTAddr, "state")
		switch {
		case hubAfter && state == "after":
			outcomes["old"]++
		case !hubAfter && state == "before":
			outcomes["new"]++
			makeOld(a)
		default:
			t.Fatalf("cycle %d (%v, delay %v): a mix of old and new: hub After %v, retained %q\n%s",
				cycle, env, delay, hubAfter, state, p.logs.String())
		}
		p.kill9()
	}
	if outcomes["old"] == 0 || outcomes["new"] == 0 {
		t.Errorf("outcomes %v: the kills did not hit both sides of the switch", outcomes)
	}
	t.Logf("%d cycles (restore takes %v): %v", crashCycles(), took, outcomes)
}
