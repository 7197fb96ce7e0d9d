//go:build linux

package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// What happens when the filesystem holding the data directory fills up.
// Each test mounts an ext4 filesystem of its own (see smallFS: root only,
// skipped otherwise), runs the real binary on it and fills it with a
// filler file. Run them with
//
//	go test ./tests/e2e -run 'TestDiskFull' -v
//
// The invariant checked everywhere: every message whose PUBACK / PUBREC
// said success reaches the durable subscriber after space is freed and the
// server restarted. The store keeps a free-space reserve (99 MiB by
// default, internal/store/space.go) so that Pebble never meets the full
// disk itself: a WAL write that fails ends the process, and a flush that
// fails is retried without end while commits stall.

// diskFullSetup starts a server on a fresh filesystem of fsMB MiB with a
// durable MQTT 5 subscriber "dfsub" (QoS 2 on df/#) that then goes offline.
func diskFullSetup(t *testing.T, fsMB int, env ...string) (mnt string, d *dataDir, p *proc) {
	t.Helper()
	mnt = smallFS(t, fsMB)
	d = prepareDataDirAt(t, filepath.Join(mnt, "data"), func(c *config.Config) {
		c.TopicPolicies["DemoTopicPolicy"].MaxMessages = 1000000
	})
	// Not start: on failure its cleanup would print the whole log, which
	// here holds hundreds of thousands of Pebble error lines.
	p = launch(t, binary, d.Path, env)
	if !waitStarted(p, 30*time.Second) {
		t.Fatalf("start (exit %v):\n%s", p.err, tail(p.logs.String(), 20))
	}
	sub := mqtttest.Dial(t, d.MQTTAddr, 5)
	sub.MustConnect(durableV5("dfsub", 0))
	sub.MustSubscribe(mqtttest.Sub("df/#", 2))
	sub.Disconnect(0)
	sub.Close()
	return mnt, d, p
}

// checkAckedDelivered starts the server (space must be free again) and
// checks that the durable subscriber gets every acknowledged message.
func checkAckedDelivered(t *testing.T, d *dataDir, acked map[string]bool) {
	t.Helper()
	p := launch(t, binary, d.Path, nil)
	if !waitStarted(p, 60*time.Second) {
		t.Fatalf("restart with free space did not start (exit %v):\n%s", p.err, tail(p.logs.String(), 20))
	}
	defer p.terminate(60 * time.Second)
	got, err := drainKeys(t, d.MQTTAddr, "dfsub", 5*time.Second, 50000)
	if err != nil {
		t.Errorf("draining the durable subscriber: %v", err)
	}
	lost := 0
	for k := range acked {
		if got[k] == 0 {
			if lost < 5 {
				t.Errorf("acknowledged message %s was not delivered after the restart", k)
			}
			lost++
		}
	}
	t.Logf("%d messages acknowledged, %d delivered after the restart, %d acknowledged ones lost", len(acked), len(got), lost)
}

func collectAcked(acked map[string]bool, rs ...*pubResult) {
	for _, r := range rs {
		for _, k := range r.Acked {
			acked[k] = true
		}
	}
}

// lastError returns the last ERROR line of a log.
func lastError(logs string) string {
	lines := strings.Split(logs, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "level=ERROR") {
			return lines[i]
		}
	}
	return ""
}

// Scenarios 1 and 2: QoS 1 and 2 publishers, 3.1.1 and 5, to an offline
// durable subscriber until the filesystem is full.
//
// Once the free space falls below the reserve, MQTT 5 publishers get 0x97
// and 3.1.1 publishers are disconnected; the server stays up, and once the
// filler is removed publishing resumes without a restart. (Before the
// reserve, the first WAL write that hit ENOSPC ended the process, and every
// client saw a bare TCP close.)
func TestDiskFullPublishKeepsServerUp(t *testing.T) {
	mnt, d, p := diskFullSetup(t, 400)
	filler := fillDisk(t, mnt, "filler", 150<<20)
	t.Logf("free before publishing: %d MiB", freeBytes(t, mnt)>>20)

	res := runPublishers(t, d.MQTTAddr, "load", "df/a", 32<<10, 8, 1500, 60*time.Second, 15*time.Second, 1)
	acked := map[string]bool{}
	collectAcked(acked, res...)
	for _, r := range res {
		t.Log(r)
	}
	exited := p.exited(time.Second)
	if exited {
		t.Errorf("the server exited (%v) when the disk filled; last error logged:\n%s", p.err, lastError(p.logs.String()))
	}
	for _, r := range res {
		if r.Version == 5 && len(r.Refused) == 0 && len(r.Disc) == 0 && strings.Contains(r.End, "closed by the broker") {
			t.Errorf("%s: the connection was closed without a negative acknowledgement or a DISCONNECT reason code (%s)", r.Name, r.End)
		}
	}

	// Scenario 2: free the space; publishing should resume without a
	// restart.
	os.Remove(filler)
	if !exited {
		time.Sleep(time.Second)
		publishAfterFreeing(t, d, p, acked)
	}
	checkAckedDelivered(t, d, acked)
}

// publishAfterFreeing checks that every kind of publisher gets its
// messages acknowledged (adding them to acked), then stops the server.
func publishAfterFreeing(t *testing.T, d *dataDir, p *proc, acked map[string]bool) {
	t.Helper()
	after := runPublishers(t, d.MQTTAddr, "after", "df/b", 1024, 1, 3, 20*time.Second, 10*time.Second, 1)
	collectAcked(acked, after...)
	for _, r := range after {
		if len(r.Acked) != 3 {
			t.Errorf("after freeing space: %s", r)
		}
	}
	if err := p.terminate(60 * time.Second); err != nil {
		t.Errorf("SIGTERM after freeing space: %v", err)
	}
}

// The store's disk footprint. Pebble preallocates every new WAL file to
// 1.1 × MemTableSize with fallocate (FALLOC_FL_KEEP_SIZE), however little
// it holds. The memtable starts at 256 KiB and doubles, so after every
// start the first few MiB of traffic rotate through several WAL files,
// each preallocated, and they stay until their memtables are flushed (a
// clean stop does not release them). With the 64 MiB memtable of before,
// 6.4 MiB of messages took 352 MiB of disk; with 16 MiB, 88 MiB.
func TestDiskFullStoreFootprint(t *testing.T) {
	_, d, p := diskFullSetup(t, 1024)
	w := loadPublisher(t, d.MQTTAddr, "fp", 5, 1, "df/fp", 32<<10, 16, 200, time.Now().Add(60*time.Second), 20*time.Second, 0)
	if len(w.Acked) != 200 {
		t.Fatalf("publishing 200 messages: %s", w)
	}
	if err := p.terminate(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	var size, alloc int64
	var logs []string
	filepath.Walk(filepath.Join(d.Path, "store"), func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		st := fi.Sys().(*syscall.Stat_t)
		size += fi.Size()
		alloc += st.Blocks * 512
		if strings.HasSuffix(path, ".log") {
			logs = append(logs, filepath.Base(path)+": "+itoa(fi.Size()>>10)+" KiB, "+itoa(st.Blocks*512>>20)+" MiB on disk")
		}
		return nil
	})
	t.Logf("6.4 MiB of payloads: store files hold %d MiB, take %d MiB on disk; WAL files:\n%s", size>>20, alloc>>20, strings.Join(logs, "\n"))
	if alloc > 128<<20 {
		t.Errorf("a store holding %d MiB takes %d MiB of disk after a clean stop", size>>20, alloc>>20)
	}
}

// Scenarios 1, 2 and 5 with the filesystem filled to the last byte by
// another process after the store has written for a while (its current
// WAL file is preallocated). Before the reserve, publishes then went into
// the WAL while memtable flushes failed and were retried in a tight loop:
// publishers got no answer at all, a persistent CONNECT no CONNACK, the
// log a thousand lines a second, and SIGTERM did not stop the server.
// Now every publish is answered, the log stays quiet, a persistent
// session connects, and SIGTERM stops the server.
func TestDiskFullStallAnswersAndStops(t *testing.T) {
	mnt, d, p := diskFullSetup(t, 800)
	// Grow the memtable to its full size (several rotations), so that the
	// current WAL file is fully preallocated.
	warm := loadPublisher(t, d.MQTTAddr, "warm", 5, 1, "df/w", 32<<10, 16, 2000, time.Now().Add(120*time.Second), 20*time.Second, 1)
	if len(warm.Acked) != 2000 {
		t.Fatalf("warm-up: %s", warm)
	}
	acked := map[string]bool{}
	collectAcked(acked, warm)
	filler := fillDisk(t, mnt, "filler", 0)

	res := runPublishers(t, d.MQTTAddr, "load", "df/a", 32<<10, 8, 3000, 90*time.Second, 30*time.Second, 1)
	collectAcked(acked, res...)
	for _, r := range res {
		t.Log(r)
		if strings.HasPrefix(r.End, "no acknowledgement") {
			t.Errorf("%s: publishes left unanswered while the disk is full: %s", r.Name, r.End)
		}
	}
	if !p.alive() {
		t.Fatalf("server exited (%v): %s", p.err, lastError(p.logs.String()))
	}
	n0 := strings.Count(p.logs.String(), "\n")
	time.Sleep(5 * time.Second)
	if n := strings.Count(p.logs.String(), "\n") - n0; n > 100 {
		t.Errorf("%d log lines in 5 s while the disk is full, e.g.\n%s", n, tail(p.logs.String(), 1))
	}

	// A persistent session connecting now.
	c := mqtttest.Dial(t, d.MQTTAddr, 5)
	if _, err := c.Connect(durableV5("newcomer", 0)); err != nil {
		t.Errorf("persistent CONNECT while the disk is full: %v", err)
	}
	c.Close()

	p.cmd.Process.Signal(syscall.SIGTERM)
	if !p.exited(30 * time.Second) {
		t.Errorf("SIGTERM: the server has not stopped after 30 s while the disk is full")
	}
	os.Remove(filler)
	if !p.exited(60 * time.Second) {
		t.Fatal("the server did not stop after space was freed either")
	}
	checkAckedDelivered(t, d, acked)
}

// Scenario 5: start while the filesystem is full (0 bytes free), after a
// clean stop. The store refuses to open below half its reserve, so the
// server exits at once saying why. (Before, pebble.Open replayed the WAL
// and waited without end for a flush that could not succeed.)
func TestDiskFullStartFailsClearly(t *testing.T) {
	mnt, d, p := diskFullSetup(t, 400)
	w := loadPublisher(t, d.MQTTAddr, "warm", 5, 1, "df/w", 32<<10, 16, 200, time.Now().Add(60*time.Second), 20*time.Second, 1)
	acked := map[string]bool{}
	collectAcked(acked, w)
	if err := p.terminate(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(d.Path, "config", "server.json")
	cfg, _ := os.ReadFile(cfgPath)
	filler := fillDisk(t, mnt, "filler", 0)

	p2 := launch(t, binary, d.Path, nil)
	started := waitStarted(p2, 30*time.Second)
	logs := p2.logs.String()
	switch {
	case started:
		t.Logf("started with a full disk")
	case !p2.alive():
		if !strings.Contains(logs, "not enough free disk space") {
			t.Errorf("start failed (%v) without saying the disk is full:\n%s", p2.err, tail(logs, 5))
		}
	default:
		t.Errorf("after 30 s the server has neither started nor failed; %d log lines, the last:\n%s", strings.Count(logs, "\n"), tail(logs, 1))
		p2.cmd.Process.Signal(syscall.SIGTERM)
		if !p2.exited(15 * time.Second) {
			t.Errorf("it ignores SIGTERM")
			p2.kill9()
		}
	}
	if now, _ := os.ReadFile(cfgPath); !bytes.Equal(now, cfg) {
		t.Errorf("server.json changed")
	}
	if started {
		p2.terminate(60 * time.Second)
	}
	os.Remove(filler)
	checkAckedDelivered(t, d, acked)
}

// Scenarios 3 and 4: a configuration change, a configuration backup and a
// store backup (file:// on the same filesystem) while the filesystem is
// full: each fails with 500 CWLNA9500 naming ENOSPC,
// server.json is untouched, no temporary or complete-looking file is left,
// the server keeps its configuration, and all of it works again once space
// is freed.
func TestDiskFullAdminFailsCleanly(t *testing.T) {
	mnt, d, p := diskFullSetup(t, 1024, lowWorkFactor)
	a := newAPI(t, d, p)
	a.must(200, "POST", "/ima/v1/service/backup", map[string]any{"Password": e2eBackupPassword}) // creates userfiles/
	w := loadPublisher(t, d.MQTTAddr, "warm", 5, 1, "df/w", 32<<10, 16, 100, time.Now().Add(60*time.Second), 20*time.Second, 1)
	acked := map[string]bool{}
	collectAcked(acked, w)
	backups := filepath.Join(mnt, "backups")
	if err := os.Mkdir(backups, 0o700); err != nil {
		t.Fatal(err)
	}
	cfgDir := filepath.Join(d.Path, "config")
	cfgBefore, _ := os.ReadFile(filepath.Join(cfgDir, "server.json"))
	userBefore := dirNames(t, filepath.Join(d.Path, "userfiles"))
	dataBefore := dirNames(t, d.Path)
	filler := fillDisk(t, mnt, "filler", 0)

	wantENOSPC := func(what string, r reply, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if r.Status != 500 || r.code() != "CWLNA9500" || !strings.Contains(string(r.Raw), "no space left on device") {
			t.Errorf("%s: status %d %s", what, r.Status, r.Raw)
		}
	}
	r, err := a.do("POST", "/ima/v1/configuration", map[string]any{"TopicPolicy": map[string]any{"DemoTopicPolicy": map[string]any{"MaxMessages": 777}}})
	wantENOSPC("configuration change", r, err)
	if now, _ := os.ReadFile(filepath.Join(cfgDir, "server.json")); !bytes.Equal(now, cfgBefore) {
		t.Errorf("server.json changed by a failed change")
	}
	if names := dirNames(t, cfgDir); strings.Join(names, ",") != "certificates,server.json" {
		t.Errorf("configuration directory holds %v", names)
	}
	g := a.must(200, "GET", "/ima/v1/configuration/TopicPolicy/DemoTopicPolicy", nil)
	if !strings.Contains(string(g.Raw), `"MaxMessages": 1000000`) {
		t.Errorf("the server's configuration changed: %s", g.Raw)
	}

	time.Sleep(1100 * time.Millisecond) // configuration backups are named by the second
	r, err = a.do("POST", "/ima/v1/service/backup", map[string]any{"Password": e2eBackupPassword})
	wantENOSPC("configuration backup", r, err)
	time.Sleep(1100 * time.Millisecond)
	r = a.must(202, "POST", "/ima/v1/service/backup", map[string]any{"Password": e2eBackupPassword, "StoreDestinationURL": "file://" + backups + "/store1.bak"})
	j := a.waitJob("backup", r.Body["RequestID"].(string))
	if j.Body["Status"] != "failed" || !strings.Contains(string(j.Raw), "no space left on device") {
		t.Errorf("store backup on a full disk: %s", j.Raw)
	}
	if names := dirNames(t, backups); len(names) != 0 {
		t.Errorf("the failed store backup left %v", names)
	}
	if names := dirNames(t, filepath.Join(d.Path, "userfiles")); strings.Join(names, ",") != strings.Join(userBefore, ",") {
		t.Errorf("user files: %v, before %v", names, userBefore)
	}
	if names := dirNames(t, d.Path); strings.Join(names, ",") != strings.Join(dataBefore, ",") {
		t.Errorf("data directory: %v, before %v", names, dataBefore)
	}
	if !p.alive() {
		t.Fatalf("server exited: %s", lastError(p.logs.String()))
	}

	os.Remove(filler)
	a.must(200, "POST", "/ima/v1/configuration", map[string]any{"TopicPolicy": map[string]any{"DemoTopicPolicy": map[string]any{"MaxMessages": 777}}})
	time.Sleep(1100 * time.Millisecond)
	r = a.must(202, "POST", "/ima/v1/service/backup", map[string]any{"Password": e2eBackupPassword, "StoreDestinationURL": "file://" + backups + "/store2.bak"})
	if j := a.waitJob("backup", r.Body["RequestID"].(string)); j.Body["Status"] != "succeeded" {
		t.Errorf("store backup after freeing space: %s", j.Raw)
	}
	publishAfterFreeing(t, d, p, acked)
	checkAckedDelivered(t, d, acked)
}

// Scenario 4 with the data directory on a filesystem with room and the
// store backup's file:// destination on a full one: the upload fails with
// ENOSPC part way: nothing is left at the destination, no
// configuration backup is left, and the next backup elsewhere succeeds.
func TestDiskFullStoreBackupDestinationFull(t *testing.T) {
	_, d, p := diskFullSetup(t, 1024, lowWorkFactor)
	a := newAPI(t, d, p)
	a.must(200, "POST", "/ima/v1/service/backup", map[string]any{"Password": e2eBackupPassword})
	loadPublisher(t, d.MQTTAddr, "warm", 5, 1, "df/w", 32<<10, 16, 300, time.Now().Add(60*time.Second), 20*time.Second, 1)
	userBefore := dirNames(t, filepath.Join(d.Path, "userfiles"))
	small := smallFS(t, 16)
	fillDisk(t, small, "filler", 2<<20) // 2 MiB free: the upload starts, then fails
	time.Sleep(1100 * time.Millisecond) // configuration backups are named by the second
	r := a.must(202, "POST", "/ima/v1/service/backup", map[string]any{"Password": e2eBackupPassword, "StoreDestinationURL": "file://" + small + "/store.bak"})
	j := a.waitJob("backup", r.Body["RequestID"].(string))
	if j.Body["Status"] != "failed" || !strings.Contains(string(j.Raw), "no space left on device") {
		t.Errorf("store backup to a full destination: %s", j.Raw)
	}
	t.Logf("job: %s", j.Raw)
	if names := dirNames(t, small); strings.Join(names, ",") != "filler,lost+found" {
		t.Errorf("the destination holds %v", names)
	}
	if names := dirNames(t, filepath.Join(d.Path, "userfiles")); strings.Join(names, ",") != strings.Join(userBefore, ",") {
		t.Errorf("user files: %v, before %v", names, userBefore)
	}
	if _, err := os.Stat(filepath.Join(d.Path, ".backup-pending")); err == nil {
		t.Errorf(".backup-pending left behind")
	}
	other := t.TempDir()
	time.Sleep(1100 * time.Millisecond)
	r = a.must(202, "POST", "/ima/v1/service/backup", map[string]any{"Password": e2eBackupPassword, "StoreDestinationURL": "file://" + other + "/store.bak"})
	if j := a.waitJob("backup", r.Body["RequestID"].(string)); j.Body["Status"] != "succeeded" {
		t.Errorf("the next store backup: %s", j.Raw)
	}
	p.terminate(60 * time.Second)
}

func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
