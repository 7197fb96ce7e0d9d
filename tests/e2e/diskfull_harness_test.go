//go:build linux

package e2e

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/sys/unix"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// Disk-full tests run the server with its data directory on a small ext4
// filesystem of their own (a loop-mounted image, no blocks reserved for
// root, so that "full" means full for the server too). They need root and
// mkfs.ext4; otherwise they skip.

// smallFS mounts a fresh ext4 filesystem of mb MiB and returns its mount
// point. It is unmounted and its image removed when the test ends (after
// the processes the test started, whose cleanups run first).
func smallFS(t *testing.T, mb int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("disk-full tests mount a loop filesystem: run as root")
	}
	for _, tool := range []string{"mkfs.ext4", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("disk-full tests need %s: %v", tool, err)
		}
	}
	base, err := os.MkdirTemp("", "mqsight-diskfull-")
	if err != nil {
		t.Fatal(err)
	}
	img, mnt := filepath.Join(base, "fs.img"), filepath.Join(base, "mnt")
	run := func(name string, args ...string) error {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("MQSIGHT_DISKFULL_TMPFS") != "" { // tmpfs instead of ext4
		if err := run("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm", mb), "tmpfs", mnt); err != nil {
			os.RemoveAll(base)
			t.Skipf("cannot mount tmpfs: %v", err)
		}
		t.Cleanup(func() {
			if err := run("umount", mnt); err != nil {
				t.Errorf("unmount %s: %v", mnt, err)
				return
			}
			os.RemoveAll(base)
		})
		return mnt
	}
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, int64(mb)<<20); err != nil {
		t.Fatal(err)
	}
	if err := run("mkfs.ext4", "-q", "-m", "0", img); err != nil {
		os.RemoveAll(base)
		t.Fatal(err)
	}
	if err := run("mount", "-o", "loop", img, mnt); err != nil {
		os.RemoveAll(base)
		t.Skipf("cannot mount a loop filesystem: %v", err)
	}
	t.Cleanup(func() {
		var err error
		for range 50 {
			if err = run("umount", mnt); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Errorf("unmount %s: %v (image %s left)", mnt, err, img)
			return
		}
		os.RemoveAll(base)
	})
	return mnt
}

// freeBytes is what an unprivileged writer may still write on dir's
// filesystem.
func freeBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// fillDisk creates the file name in dir and grows it until at most leave
// bytes are free on the filesystem (leave 0: until a write fails with
// ENOSPC). It returns the file's path; removing it frees the space.
func fillDisk(t testing.TB, dir, name string, leave int64) string {
	t.Helper()
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	off := fi.Size()
	for chunk := int64(4 << 20); chunk >= 4096; chunk /= 2 {
		for freeBytes(t, dir)-chunk >= leave {
			if err := unix.Fallocate(int(f.Fd()), 0, off, chunk); err != nil {
				break
			}
			off += chunk
		}
	}
	if leave == 0 {
		// Take the last blocks with plain writes, until ENOSPC.
		buf := make([]byte, 4096)
		for range 1 << 16 {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, unix.ENOSPC) {
					t.Fatal(err)
				}
				break
			}
		}
	}
	if err := f.Sync(); err != nil && !errors.Is(err, unix.ENOSPC) {
		t.Fatal(err)
	}
	return path
}

// alive reports whether the process is still running.
func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// pubResult is what one load publisher saw.
type pubResult struct {
	Name     string
	Version  byte
	QoS      byte
	Sent     int
	Acked    []string     // payload keys whose PUBACK / PUBREC carried a success code
	Refused  map[byte]int // reason code -> count of negative PUBACK / PUBREC
	Comps    int          // PUBCOMPs received
	CompRC   map[byte]int // PUBCOMP reason codes
	End      string       // how the publisher's run ended
	Disc     []byte       // DISCONNECT reason codes received (v5)
	Elapsed  time.Duration
	firstBad time.Time
}

// loadPublisher publishes payloads of size bytes (random, incompressible,
// prefixed by "name-seq|") to topic at qos, with at most window
// unacknowledged, until max messages, the deadline, the connection ends,
// an acknowledgement is overdue (ackWait), or stopAfterRefusals negative
// acknowledgements were received. It never calls t.Fatal (it runs on its
// own goroutine).
func loadPublisher(t testing.TB, addr, name string, version, qos byte, topic string, size, window, max int, deadline time.Time, ackWait time.Duration, stopAfterRefusals int) *pubResult {
	r := &pubResult{Name: name, Version: version, QoS: qos, Refused: map[byte]int{}, CompRC: map[byte]int{}}
	start := time.Now()
	defer func() { r.Elapsed = time.Since(start) }()
	c, err := mqtttest.DialTimeout(t, addr, version, 5*time.Second)
	if err != nil {
		r.End = "dial: " + err.Error()
		return r
	}
	defer c.Close()
	ack, err := c.Connect(mqtttest.ConnectOptions{ClientID: name, Clean: true})
	if err != nil {
		r.End = "connect: " + err.Error()
		return r
	}
	if ack.ReasonCode != 0 {
		r.End = fmt.Sprintf("CONNACK reason 0x%02x", ack.ReasonCode)
		return r
	}
	pending := map[uint16]string{}
	comps := map[uint16]bool{}
	refusals := 0
	body := make([]byte, size)
	for r.Sent < max {
		if time.Now().After(deadline) {
			r.End = "deadline"
			break
		}
		for len(pending) < window && r.Sent < max {
			key := fmt.Sprintf("%s-%06d", name, r.Sent)
			rand.Read(body)
			payload := append([]byte(key+"|"), body...)
			pk := c.PublishPacket(topic, payload, qos, false)
			if err := c.Send(pk); err != nil {
				r.End = "send: " + err.Error()
				goto drain
			}
			pending[pk.PacketID] = key
			r.Sent++
		}
		for len(pending) > 0 {
			pk, err := c.Next(ackWait)
			if err != nil {
				if errors.Is(err, mqtttest.ErrTimeout) {
					r.End = fmt.Sprintf("no acknowledgement within %v (%d outstanding)", ackWait, len(pending))
				} else {
					r.End = "read: " + err.Error()
				}
				goto drain
			}
			if !handleAck(c, r, pk, pending, comps) {
				if pk.FixedHeader.Type == packets.Disconnect {
					r.End = fmt.Sprintf("DISCONNECT reason 0x%02x", pk.ReasonCode)
					goto drain
				}
			}
			if (pk.FixedHeader.Type == packets.Puback || pk.FixedHeader.Type == packets.Pubrec) && pk.ReasonCode >= 0x80 {
				refusals++
			}
		}
		if stopAfterRefusals > 0 && refusals >= stopAfterRefusals {
			r.End = fmt.Sprintf("stopped after %d refusals", refusals)
			break
		}
	}
	if r.End == "" {
		r.End = "max reached"
	}
drain:
	// Late acknowledgements and PUBCOMPs that already arrived count too.
	for {
		pk, err := c.Next(500 * time.Millisecond)
		if err != nil {
			break
		}
		handleAck(c, r, pk, pending, comps)
	}
	return r
}

// handleAck records one packet from the broker; false if it was not an
// acknowledgement.
func handleAck(c *mqtttest.Conn, r *pubResult, pk *packets.Packet, pending map[uint16]string, comps map[uint16]bool) bool {
	switch pk.FixedHeader.Type {
	case packets.Puback, packets.Pubrec:
		key, ok := pending[pk.PacketID]
		if !ok {
			return true
		}
		delete(pending, pk.PacketID)
		if pk.ReasonCode >= 0x80 {
			r.Refused[pk.ReasonCode]++
			if r.firstBad.IsZero() {
				r.firstBad = time.Now()
			}
			return true
		}
		r.Acked = append(r.Acked, key)
		if pk.FixedHeader.Type == packets.Pubrec {
			comps[pk.PacketID] = true
			c.Send(mqtttest.AckPacket(packets.Pubrel, pk.PacketID, 0))
		}
		return true
	case packets.Pubcomp:
		r.Comps++
		r.CompRC[pk.ReasonCode]++
		delete(comps, pk.PacketID)
		return true
	case packets.Disconnect:
		r.Disc = append(r.Disc, pk.ReasonCode)
		return false
	}
	return false
}

func (r *pubResult) String() string {
	return fmt.Sprintf("%s (v%d QoS %d): sent %d, acked %d, refused %v, PUBCOMP %d %v, DISCONNECT %x, ended: %s after %v",
		r.Name, r.Version, r.QoS, r.Sent, len(r.Acked), r.Refused, r.Comps, r.CompRC, r.Disc, r.End, r.Elapsed.Round(time.Millisecond))
}

// runPublishers runs the four kinds of publishers (3.1.1 and 5, QoS 1 and
// 2) concurrently.
func runPublishers(t testing.TB, addr, prefix, topic string, size, window, max int, d, ackWait time.Duration, stopAfterRefusals int) []*pubResult {
	deadline := time.Now().Add(d)
	kinds := []struct {
		v, q byte
	}{{4, 1}, {4, 2}, {5, 1}, {5, 2}}
	res := make([]*pubResult, len(kinds))
	var wg sync.WaitGroup
	for i, k := range kinds {
		wg.Go(func() {
			name := fmt.Sprintf("%s-v%d-q%d", prefix, k.v, k.q)
			res[i] = loadPublisher(t, addr, name, k.v, k.q, topic, size, window, max, deadline, ackWait, stopAfterRefusals)
		})
	}
	wg.Wait()
	return res
}

// drainKeys connects the durable v5 subscriber id (session kept) and reads
// every message until quiet passes with none, acknowledging each; it
// returns the payload keys received (the part before "|").
func drainKeys(t testing.TB, addr, id string, quiet time.Duration, limit int) (map[string]int, error) {
	c, err := mqtttest.DialTimeout(t, addr, 5, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ack, err := c.Connect(durableV5(id, 0))
	if err != nil {
		return nil, err
	}
	if !ack.SessionPresent {
		return nil, fmt.Errorf("session of %s not present (CONNACK reason 0x%02x)", id, ack.ReasonCode)
	}
	got := map[string]int{}
	for n := 0; n < limit; n++ {
		pk, err := c.AwaitType(packets.Publish, quiet)
		if err != nil {
			break
		}
		key, _, _ := strings.Cut(string(pk.Payload), "|")
		got[key]++
		if err := c.Acknowledge(pk); err != nil {
			return got, err
		}
	}
	c.Disconnect(0)
	return got, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// waitStarted waits until p logs "mqsight started"; false if it exited or
// d passed first.
func waitStarted(p *proc, d time.Duration) bool {
	deadline := time.After(d)
	for !strings.Contains(p.logs.String(), "mqsight started") {
		select {
		case <-p.logs.added:
		case <-p.done:
			return strings.Contains(p.logs.String(), "mqsight started")
		case <-deadline:
			return false
		}
	}
	return true
}
