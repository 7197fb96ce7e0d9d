// Command backup measures mqsight's online store backup and restore
// against the plain tools an operator would otherwise use, in one run on
// one machine:
//
//   - a store of about 1 GB of buffered QoS 1 messages (published over
//     MQTT to an offline durable subscriber of an in-process server);
//   - `cp -r` of the store directory, and `tar c | age` of it, as
//     references;
//   - store backup over the REST API (202, polled to completion) to
//     file:// and to sftp:// on loopback (the OpenSSH server of
//     tests/sshd/start.sh when it is set up);
//   - QoS 1 publish throughput (8 publishers, 1 KiB messages, persisted
//     for an offline durable subscriber) without a backup, then while a
//     store backup runs;
//   - restore of the store backup (stop, stage, switch, start) against
//     `cp -r`.
//
// It prints Markdown tables for bench/RESULTS.md. Run it through run.sh.
package main

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/mqsight/mqsight/internal/admin"
	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/destination/destinationtest"
	"github.com/mqsight/mqsight/internal/server"
)

const (
	adminPassword  = "bench-admin-password"
	backupPassword = "bench-backup-password"
)

func main() {
	base := flag.String("dir", os.TempDir(), "directory for the data directory and copies")
	sizeMB := flag.Int("size-mb", 1024, "store size to build, MiB of message payload")
	loadFor := flag.Duration("load", 8*time.Second, "duration of the baseline throughput measurement")
	destDir := flag.String("dest-dir", "", "directory of the file:// destination (default: beside the store)")
	flag.Parse()

	tmp, err := os.MkdirTemp(*base, "mqsight-bench-backup-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	b := &bench{tmp: tmp, data: filepath.Join(tmp, "data")}
	b.startServer()
	defer b.srv.Close()

	began := time.Now()
	n := b.fill(*sizeMB)
	storeBytes := dirSize(filepath.Join(b.data, "store"))
	fmt.Printf("store: %d messages of 4 KiB buffered for one offline durable subscriber, built in %.1f s; store directory %.2f GiB\n\n",
		n, time.Since(began).Seconds(), float64(storeBytes)/(1<<30))

	rows := [][]string{}
	row := func(op string, d time.Duration, ref time.Duration, size int64, note string) {
		ratio := ""
		if ref > 0 {
			ratio = fmt.Sprintf("%.2fx", d.Seconds()/ref.Seconds())
		}
		rows = append(rows, []string{op, fmt.Sprintf("%.2f s", d.Seconds()), ratio,
			fmt.Sprintf("%.0f MB/s", float64(size)/1e6/d.Seconds()), note})
	}

	cpDir := filepath.Join(tmp, "cp")
	// The server is live: a compaction may delete a file cp is about to
	// read. Such a copy is retried (the timing is of a complete copy).
	cp := timeCopy("cp -r "+filepath.Join(b.data, "store")+" "+cpDir, cpDir)
	row("`cp -r` of the store directory", cp, cp, storeBytes, "reference; no fsync")
	cpSync := timeCopy("cp -r "+filepath.Join(b.data, "store")+" "+cpDir+" && sync -f "+cpDir, cpDir)
	row("`cp -r` then `sync -f`", cpSync, cp, storeBytes, "reference, durable like the backup")

	tarAge := b.tarAge()
	row("`tar c \\| age -r` (X25519 recipient) to a file, then `sync -f`", tarAge, cp, storeBytes, "reference")

	// The fixed cost inside every backup: a configuration-only backup is
	// one scrypt derivation (work factor 18) and a few KiB; a store backup
	// derives twice (store archive, configuration archive).
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	cfgOnly := timeIt(func() { b.call("POST", "/ima/v1/service/backup", map[string]any{"Password": backupPassword}) })
	rows = append(rows, []string{"mqsight configuration-only backup (synchronous; one scrypt, N=2^18)",
		fmt.Sprintf("%.2f s", cfgOnly.Seconds()), "", "", "fixed cost; a store backup pays it twice"})

	fileDest := filepath.Join(tmp, "dest")
	if *destDir != "" {
		if fileDest, err = os.MkdirTemp(*destDir, "mqsight-bench-dest-"); err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(fileDest)
	}
	os.MkdirAll(fileDest, 0o700)
	d, res := b.backup(map[string]any{"StoreDestinationURL": "file://" + fileDest + "/store-file.bak"})
	row("mqsight store backup to `file://`", d, cp, storeBytes, fmt.Sprintf("LSN %v, %.2f GiB written, fsynced", res["LSN"], res["StoreSize"].(float64)/(1<<30)))
	fileCfg := res["FileName"].(string)

	if o, err := destinationtest.ReadOpenSSH(); err == nil {
		name := fmt.Sprintf("bench-%d.bak", time.Now().UnixNano())
		d, res := b.backup(map[string]any{
			"StoreDestinationURL":    "sftp://" + o.Addr + o.Dir + "/" + name,
			"StoreDestinationUserID": o.User, "StoreDestinationPassword": o.Password,
			"StoreDestinationHostKey": o.HostKey})
		row("mqsight store backup to `sftp://` (OpenSSH on 127.0.0.1)", d, cp, storeBytes, fmt.Sprintf("synced=%v", res["StoreSynced"]))
		os.Remove(filepath.Join(o.Dir, name))
	} else {
		rows = append(rows, []string{"mqsight store backup to `sftp://`", "skipped", "", "", "tests/sshd/start.sh not run"})
	}

	// Throughput: baseline, then with a backup running.
	base1 := b.load(*loadFor, nil)
	var during loadResult
	var backupTook time.Duration
	during = b.load(0, func() {
		// No wait for a new second here: the baseline load took longer.
		backupTook, _ = b.job("backup", map[string]any{"Password": backupPassword,
			"StoreDestinationURL": "file://" + fileDest + "/store-load.bak"})
	})
	os.Remove(filepath.Join(fileDest, "store-load.bak"))

	// Restore of the first store backup.
	restore := b.restore(fileCfg, "file://"+fileDest+"/store-file.bak")
	row("mqsight restore of the `file://` store backup (stop, decrypt + stage, switch, start)", restore, cp, storeBytes, "")

	fmt.Println("| operation | time | vs `cp -r` | throughput | notes |")
	fmt.Println("|---|---:|---:|---:|---|")
	for _, r := range rows {
		fmt.Printf("| %s |\n", strings.Join(r, " | "))
	}
	fmt.Println()
	fmt.Println("| QoS 1 publish load (8 publishers, 1 KiB, persisted) | messages/s | acknowledged | p99 PUBACK latency |")
	fmt.Println("|---|---:|---:|---:|")
	fmt.Printf("| without backup (%.1f s) | %.0f | %d | %s |\n", base1.took.Seconds(), base1.rate(), base1.acked, base1.p99)
	fmt.Printf("| during a store backup to `file://` (%.1f s) | %.0f | %d | %s |\n", during.took.Seconds(), during.rate(), during.acked, during.p99)
	fmt.Printf("| ratio during / without | **%.0f%%** | | |\n", 100*during.rate()/base1.rate())
	fmt.Printf("\n(the backup under load took %.2f s)\n", backupTook.Seconds())
}

type bench struct {
	tmp, data string
	srv       *server.Server
	mqttAddr  string
	http      *http.Client
	adminURL  string
}

func (b *bench) startServer() {
	port := freePort()
	b.mqttAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	srv, err := server.New(server.Options{
		DataDir: b.data, AdminPassword: adminPassword, Console: io.Discard, AdminAddr: "127.0.0.1:0", Version: "bench",
		Initial: func(c *config.Config) error {
			ep := c.Endpoints["DemoEndpoint"]
			ep.Interface, ep.Port = "127.0.0.1", port
			// Room for the whole store in one subscription's buffer.
			for _, tp := range c.TopicPolicies {
				tp.MaxMessages = 20000000
			}
			return nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	b.srv = srv
	pem, err := os.ReadFile(filepath.Join(srv.Config().CertificateDir(), admin.SelfSignedCert))
	if err != nil {
		log.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	b.http = &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}}
	b.adminURL = "https://" + srv.AdminAddr().String()
}

// call sends an admin request and decodes the reply.
func (b *bench) call(method, path string, body any) map[string]any {
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, b.adminURL+path, rd)
	req.SetBasicAuth("admin", adminPassword)
	resp, err := b.http.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode/100 != 2 {
		log.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, out)
	}
	return out
}

// job posts op, polls it to the end and returns how long it took.
func (b *bench) job(op string, body map[string]any) (time.Duration, map[string]any) {
	t0 := time.Now()
	id := b.call("POST", "/ima/v1/service/"+op, body)["RequestID"].(string)
	for {
		st := b.call("GET", "/ima/v1/service/status/"+op+"/"+id, nil)
		switch st["Status"] {
		case "succeeded":
			res, _ := st["Result"].(map[string]any)
			return time.Since(t0), res
		case "failed", "cancelled":
			log.Fatalf("%s: %v", op, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// backup takes a store backup with the production scrypt work factor.
// Configuration backups are named by the second: it waits for a new one.
func (b *bench) backup(store map[string]any) (time.Duration, map[string]any) {
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	store["Password"] = backupPassword
	return b.job("backup", store)
}

func (b *bench) restore(cfgName, storeURL string) time.Duration {
	d, _ := b.job("restore", map[string]any{"Name": cfgName, "Password": backupPassword, "IncludeServerConfig": true,
		"StoreSourceURL": storeURL})
	return d
}

// client connects a paho client.
func (b *bench) client(id string, clean bool) mqtt.Client {
	o := mqtt.NewClientOptions().AddBroker("tcp://" + b.mqttAddr).SetClientID(id).SetCleanSession(clean).
		SetAutoReconnect(false).SetMaxResumePubInFlight(256).SetWriteTimeout(30 * time.Second)
	c := mqtt.NewClient(o)
	if t := c.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		log.Fatalf("connect %s: %v", id, t.Error())
	}
	return c
}

// durable subscribes id to filter with QoS 1 and disconnects, so that
// messages are buffered for it.
func (b *bench) durable(id, filter string) {
	c := b.client(id, false)
	if t := c.Subscribe(filter, 1, nil); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		log.Fatalf("subscribe: %v", t.Error())
	}
	c.Disconnect(100)
}

// fill buffers sizeMB MiB of 4 KiB incompressible messages for one
// offline durable subscriber, from 8 publishers with 64 messages in
// flight each.
func (b *bench) fill(sizeMB int) int {
	b.durable("fill-sub", "fill/#")
	n := sizeMB << 8 // 4 KiB messages
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := b.client(fmt.Sprint("filler-", w), true)
			defer c.Disconnect(100)
			payload := make([]byte, 4096)
			var pending []mqtt.Token
			for next.Add(1) <= int64(n) {
				rand.Read(payload)
				pending = append(pending, c.Publish("fill/data", 1, false, append([]byte(nil), payload...)))
				if len(pending) == 64 {
					waitAll(pending)
					pending = pending[:0]
				}
			}
			waitAll(pending)
		}()
	}
	wg.Wait()
	return n
}

func waitAll(ts []mqtt.Token) {
	for _, t := range ts {
		if !t.WaitTimeout(60*time.Second) || t.Error() != nil {
			log.Fatalf("publish: %v", t.Error())
		}
	}
}

type loadResult struct {
	acked int64
	took  time.Duration
	p99   time.Duration
}

func (r loadResult) rate() float64 { return float64(r.acked) / r.took.Seconds() }

// load runs 8 QoS 1 publishers (1 KiB, one message in flight each, so
// the rate follows the server's commit latency) for d, or, with during,
// for as long as during runs.
func (b *bench) load(d time.Duration, during func()) loadResult {
	b.durable("load-sub", "load/#")
	stop := make(chan struct{})
	var acked atomic.Int64
	var mu sync.Mutex
	var lats []time.Duration
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := b.client(fmt.Sprint("loader-", w), true)
			defer c.Disconnect(100)
			payload := make([]byte, 1024)
			var mine []time.Duration
			for {
				select {
				case <-stop:
					mu.Lock()
					lats = append(lats, mine...)
					mu.Unlock()
					return
				default:
				}
				t0 := time.Now()
				t := c.Publish("load/x", 1, false, payload)
				if !t.WaitTimeout(30*time.Second) || t.Error() != nil {
					log.Fatalf("load publish: %v", t.Error())
				}
				mine = append(mine, time.Since(t0))
				acked.Add(1)
			}
		}()
	}
	time.Sleep(time.Second) // warm up
	acked.Store(0)
	mu.Lock()
	lats = lats[:0]
	mu.Unlock()
	t0 := time.Now()
	if during != nil {
		during()
	} else {
		time.Sleep(d)
	}
	took := time.Since(t0)
	n := acked.Load()
	close(stop)
	wg.Wait()
	return loadResult{acked: n, took: took, p99: percentile(lats, 0.99)}
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*p)].Round(10 * time.Microsecond)
}

// tarAge times `tar c store | age -r KEY > file`.
func (b *bench) tarAge() time.Duration {
	keyFile := filepath.Join(b.tmp, "age.key")
	if err := exec.Command("age-keygen", "-o", keyFile).Run(); err != nil {
		log.Fatalf("age-keygen: %v", err)
	}
	key, _ := os.ReadFile(keyFile)
	var recipient string
	for _, l := range strings.Split(string(key), "\n") {
		if v, ok := strings.CutPrefix(l, "# public key: "); ok {
			recipient = v
		}
	}
	out := filepath.Join(b.tmp, "tar-age")
	return timeCopy("mkdir "+out+" && tar c -C "+b.data+" store 2>/dev/null | age -r "+recipient+" > "+out+"/store.tar.age"+
		" && sync -f "+out+"/store.tar.age", out)
}

func run(name string, args ...string) {
	cmd := exec.Command(name, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		log.Fatalf("%s %v: %v", name, args, err)
	}
}

// timeCopy times a shell copy command into dir, retrying (up to 5 times)
// when it fails because the live store changed under it; dir is removed.
func timeCopy(command, dir string) time.Duration {
	defer os.RemoveAll(dir)
	for try := 1; ; try++ {
		os.RemoveAll(dir)
		t0 := time.Now()
		err := exec.Command("bash", "-o", "pipefail", "-c", command).Run()
		if err == nil {
			return time.Since(t0)
		}
		if try == 5 {
			log.Fatalf("%s: %v", command, err)
		}
	}
}

func timeIt(f func()) time.Duration {
	t0 := time.Now()
	f()
	return time.Since(t0)
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
		return nil
	})
	return n
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
