package store

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Environment of the crash child (see crashChild).
const (
	crashChildDirEnv   = "MQSIGHT_STORE_CRASH_CHILD_DIR"
	crashChildCycleEnv = "MQSIGHT_STORE_CRASH_CHILD_CYCLE"
	crashCommitters    = 4
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildDirEnv); dir != "" {
		crashChild(dir, os.Getenv(crashChildCycleEnv))
		return
	}
	os.Exit(m.Run())
}

// crashChild is the process the crash test kills: crashCommitters
// goroutines commit batches until killed. Batch i of goroutine g in cycle c
// writes the keys t/c/g/i and u/c/g/i; after its Commit returns the child
// prints "lsn c g i" in one write.
func crashChild(dir, cycle string) {
	s, err := Open(dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	var out sync.Mutex
	for g := range crashCommitters {
		go func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("%s/%d/%d", cycle, g, i)
				b := s.NewBatch()
				b.Put([]byte("t/"+id), []byte(id))
				b.Put([]byte("u/"+id), make([]byte, 100+i%400))
				lsn, err := s.Commit(b)
				if err != nil {
					fmt.Fprintln(os.Stderr, "commit:", err)
					os.Exit(3)
				}
				out.Lock()
				_, _ = os.Stdout.WriteString(fmt.Sprintf("%d %s %d %d\n", lsn, cycle, g, i))
				out.Unlock()
			}
		}()
	}
	select {}
}

// ack is one batch whose Commit returned in the child.
type ack struct {
	lsn         uint64
	cycle, g, i int
}

// TestCrashKeepsAcknowledgedBatches is the kill -9 acceptance test: a child
// commits batches from 4 goroutines and is killed at a random point, at
// least 20 times; after each kill the store must hold every batch whose
// Commit had returned, each batch entirely or not at all, and its LSNs must be
// gap-free: the batches present are exactly LSNs 1..LastLSN.
func TestCrashKeepsAcknowledgedBatches(t *testing.T) {
	cycles := 20
	if os.Getenv("MQSIGHT_SOAK") != "" {
		cycles = 200
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "store")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var lastLSN uint64
	var uid string
	for cycle := range cycles {
		// Kill after a random number of acknowledged commits; now and then
		// right away, while the child is still opening the store.
		killAfter := 1 + rng.IntN(300)
		if cycle > 0 && rng.IntN(6) == 0 {
			killAfter = 0
		}
		acks := runCrashChild(t, exe, dir, cycle, killAfter)

		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("cycle %d: reopen after kill -9: %v", cycle, err)
		}
		if uid != "" && s.UID() != uid {
			t.Fatalf("cycle %d: UID changed from %s to %s", cycle, uid, s.UID())
		}
		uid = s.UID()
		last := s.LastLSN()
		if last < lastLSN {
			t.Fatalf("cycle %d: LastLSN went back from %d to %d", cycle, lastLSN, last)
		}
		for _, a := range acks {
			if a.lsn <= lastLSN || a.lsn > last {
				t.Fatalf("cycle %d: acknowledged LSN %d outside (%d, %d]", cycle, a.lsn, lastLSN, last)
			}
		}
		checkCrashStore(t, s, cycle, acks, last)
		lastLSN = last
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("cycle %d: killed after %d acks (wanted %d); LastLSN %d", cycle, len(acks), killAfter, last)
	}
}

// runCrashChild starts the child for cycle, kills it with SIGKILL once it
// has acknowledged killAfter batches, and returns every acknowledgement it
// printed before dying.
func runCrashChild(t *testing.T, exe, dir string, cycle, killAfter int) []ack {
	t.Helper()
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildDirEnv+"="+dir, crashChildCycleEnv+"="+strconv.Itoa(cycle))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var acks []ack
	timeout := time.After(20 * time.Second)
	killed := false
	kill := func() {
		if !killed {
			killed = true
			_ = cmd.Process.Kill() // SIGKILL
		}
	}
	if killAfter == 0 {
		kill()
	}
	for line := range lines {
		var a ack
		if _, err := fmt.Sscanf(line, "%d %d %d %d", &a.lsn, &a.cycle, &a.g, &a.i); err != nil {
			kill()
			t.Fatalf("cycle %d: child printed %q: %v", cycle, line, err)
		}
		acks = append(acks, a)
		if len(acks) >= killAfter {
			kill()
		}
		select {
		case <-timeout:
			kill()
			t.Fatalf("cycle %d: child acknowledged only %d batches in 20 s; stderr: %s", cycle, len(acks), stderr.String())
		default:
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("cycle %d: child exited by itself: %v; stderr: %s", cycle, err, stderr.String())
	}
	return acks
}

// checkCrashStore checks the store after a kill in cycle.
func checkCrashStore(t *testing.T, s *Store, cycle int, acks []ack, last uint64) {
	t.Helper()
	tKeys := map[string]bool{}
	uKeys := map[string]bool{}
	err := s.Scan([]byte("t/"), func(k, v []byte) error {
		if string(v) != string(k[2:]) {
			return fmt.Errorf("key %s holds %q", k, v)
		}
		tKeys[string(k[2:])] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Scan([]byte("u/"), func(k, v []byte) error {
		uKeys[string(k[2:])] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range acks {
		id := fmt.Sprintf("%d/%d/%d", a.cycle, a.g, a.i)
		if !tKeys[id] {
			t.Fatalf("cycle %d: acknowledged batch %s (LSN %d) is missing", cycle, id, a.lsn)
		}
	}
	if len(uKeys) != len(tKeys) {
		t.Fatalf("cycle %d: %d t keys but %d u keys: a batch was applied in part", cycle, len(tKeys), len(uKeys))
	}
	for id := range tKeys {
		if !uKeys[id] {
			t.Fatalf("cycle %d: batch %s applied in part", cycle, id)
		}
	}
	// Every batch writes one t key and takes one LSN, nothing else commits:
	// the batches present are LSNs 1..last exactly when there are last keys.
	if uint64(len(tKeys)) != last {
		t.Fatalf("cycle %d: %d batches present but LastLSN %d: LSNs are not gap-free", cycle, len(tKeys), last)
	}
	// Each goroutine's batches are sequential: present ones form a prefix.
	maxI := map[string]int{}
	for id := range tKeys {
		cg := id[:strings.LastIndexByte(id, '/')]
		i, _ := strconv.Atoi(id[strings.LastIndexByte(id, '/')+1:])
		maxI[cg] = max(maxI[cg], i+1)
	}
	count := 0
	for _, n := range maxI {
		count += n
	}
	if count != len(tKeys) {
		t.Fatalf("cycle %d: a committer's batches are not a prefix (%d present, prefixes hold %d)", cycle, len(tKeys), count)
	}
}
