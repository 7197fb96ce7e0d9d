// Command store measures the mqsight store (internal/store): durable
// commits per second of 256-byte messages with 1, 8 and 64 concurrent
// publishers, each waiting for its own commit; the raw fsync rate of the
// same disk as the physical reference; and the time to checkpoint a ~1 GB
// store compared with `cp -r` of the same directory. It prints Markdown
// tables. Run it through run.sh, which also prints the machine.
package main

import (
	"crypto/rand"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqsight/mqsight/internal/store"
)

func main() {
	base := flag.String("dir", os.TempDir(), "directory for the temporary stores")
	duration := flag.Duration("duration", 5*time.Second, "duration of each commit measurement")
	sizeMB := flag.Int("size-mb", 1024, "size of the checkpoint store in MiB (0 skips the checkpoint measurement)")
	publishers := flag.String("publishers", "1,8,64", "comma-separated publisher counts")
	flag.Parse()

	tmp, err := os.MkdirTemp(*base, "mqsight-bench-store-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)

	fsyncs := measureFsync(tmp, 2*time.Second)
	fmt.Printf("raw fsync rate of %s (4 KiB append + fdatasync, one writer): %.0f/s\n\n", *base, fsyncs)

	fmt.Println("| publishers | durable commits/s | fsyncs/s | batches per fsync | mean latency | p99 latency | vs raw fsync |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---:|")
	for _, p := range strings.Split(*publishers, ",") {
		var n int
		if _, err := fmt.Sscan(p, &n); err != nil || n < 1 {
			log.Fatalf("bad publisher count %q", p)
		}
		r := measureCommits(filepath.Join(tmp, fmt.Sprint("commits-", n)), n, *duration)
		fmt.Printf("| %d | %.0f | %.0f | %.1f | %s | %s | %.1fx |\n", n, r.commitsPerSec, r.groupsPerSec,
			r.commitsPerSec/r.groupsPerSec, r.mean.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.commitsPerSec/fsyncs)
	}
	if *sizeMB > 0 {
		fmt.Println()
		measureCheckpoint(tmp, *sizeMB)
	}
}

// measureFsync appends 4 KiB and calls fdatasync in a loop for d.
func measureFsync(dir string, d time.Duration) float64 {
	f, err := os.Create(filepath.Join(dir, "fsync-probe"))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		if _, err := f.Write(buf); err != nil {
			log.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			log.Fatal(err)
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds()
}

type commitResult struct {
	commitsPerSec, groupsPerSec float64
	mean, p99                   time.Duration
}

// measureCommits runs n publishers for d; each commits one 256-byte message
// per batch and waits for it before the next.
func measureCommits(dir string, n int, d time.Duration) commitResult {
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	payload := make([]byte, 256)
	_, _ = rand.Read(payload)
	var nextID atomic.Uint64
	latencies := make([][]time.Duration, n)
	before := s.Stats()
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for p := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				id := nextID.Add(1)
				m := store.Message{ID: id, Topic: "bench/store", Payload: payload, QoS: 1, Created: time.Now().UnixNano()}
				b := s.NewBatch()
				b.Put(store.MessageKey(id), m.Encode())
				t0 := time.Now()
				if _, err := s.Commit(b); err != nil {
					log.Fatal(err)
				}
				latencies[p] = append(latencies[p], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	after := s.Stats()
	all := slices.Concat(latencies...)
	slices.Sort(all)
	var sum time.Duration
	for _, l := range all {
		sum += l
	}
	commits := after.Commits - before.Commits
	return commitResult{
		commitsPerSec: float64(commits) / elapsed.Seconds(),
		groupsPerSec:  float64(after.Groups-before.Groups) / elapsed.Seconds(),
		mean:          sum / time.Duration(len(all)),
		p99:           all[len(all)*99/100],
	}
}

// measureCheckpoint builds a store of about sizeMB MiB of incompressible
// messages, then times Checkpoint against `cp -r` of the store directory.
func measureCheckpoint(tmp string, sizeMB int) {
	dir := filepath.Join(tmp, "big")
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	const msgSize, perBatch = 4096, 256
	payload := make([]byte, msgSize)
	start := time.Now()
	id := uint64(0)
	for written := 0; written < sizeMB<<20; written += msgSize * perBatch {
		b := s.NewBatch()
		for range perBatch {
			id++
			_, _ = rand.Read(payload)
			m := store.Message{ID: id, Topic: "bench/big", Payload: payload, QoS: 1}
			b.Put(store.MessageKey(id), m.Encode())
		}
		if _, err := s.Commit(b); err != nil {
			log.Fatal(err)
		}
	}
	build := time.Since(start)
	storeBytes := dirSize(dir)

	ckDir := filepath.Join(tmp, "checkpoint")
	start = time.Now()
	lsn, err := s.Checkpoint(ckDir)
	if err != nil {
		log.Fatal(err)
	}
	ckTime := time.Since(start)

	start = time.Now()
	if _, _, err := store.ReadMeta(ckDir); err != nil {
		log.Fatal(err)
	}
	metaTime := time.Since(start)

	cpDir := filepath.Join(tmp, "cp-copy")
	start = time.Now()
	if out, err := exec.Command("cp", "-r", dir, cpDir).CombinedOutput(); err != nil {
		log.Fatalf("cp -r: %v: %s", err, out)
	}
	cpTime := time.Since(start)

	fmt.Printf("checkpoint of a %.2f GiB store (%d messages of %d B, built in %s; LSN %d):\n\n",
		float64(storeBytes)/(1<<30), id, msgSize, build.Round(time.Millisecond), lsn)
	fmt.Println("| operation | time | data |")
	fmt.Println("|---|---:|---:|")
	fmt.Printf("| store.Checkpoint (hard links + flushed WAL) | %s | %.2f GiB |\n", ckTime.Round(time.Microsecond), float64(dirSize(ckDir))/(1<<30))
	fmt.Printf("| (part of the above: read-only open of the checkpoint to read its LSN, timed again separately) | %s | |\n", metaTime.Round(time.Microsecond))
	fmt.Printf("| cp -r of the store directory | %s | %.2f GiB |\n", cpTime.Round(time.Microsecond), float64(dirSize(cpDir))/(1<<30))
	fmt.Printf("| ratio cp -r / Checkpoint | %.1fx | |\n", cpTime.Seconds()/ckTime.Seconds())
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n
}
