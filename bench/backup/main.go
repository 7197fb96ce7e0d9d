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
//     tests/sshd/start.sh when it is set up), the latter also against
//     OpenSSH's own `scp -r` of the store directory (with sshpass), and
//     with -ops sftp-rtt both again through a proxy that makes the server
//     look -rtt away;
//   - QoS 1 publish throughput (8 publishers, 1 KiB messages, persisted
//     for an offline durable subscriber) without a backup, then while a
//     store backup runs;
//   - restore of the store backup (stop, stage, switch, start) against
//     `cp -r`;
//   - the floor (-ops floor): each part a store backup cannot skip, timed
//     alone (one scrypt, SHA-256 and age encryption of the backup's bytes,
//     their durable write), and the shortest backup they allow here.
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
	"runtime/pprof"
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
	"github.com/mqsight/mqsight/internal/testport"
)

const (
	adminPassword  = "bench-admin-password"
	backupPassword = "bench-backup-password"
)

func main() {
	base := flag.String("dir", os.TempDir(), "directory for the data directory and copies")
	sizeMB := flag.Int("size-mb", 1024, "store size to build, MiB of message payload")
	loadFor := flag.Duration("load", 8*time.Second, "duration of each baseline throughput measurement")
	destDir := flag.String("dest-dir", "", "directory of the file:// destination (default: beside the store)")
	rounds := flag.Int("rounds", 3, "rounds of every copy and backup measurement (the tables show medians)")
	loadRounds := flag.Int("load-rounds", 5, "rounds of the throughput measurement")
	cold := flag.Bool("cold", false, "drop the page cache (sync; echo 3 > /proc/sys/vm/drop_caches; root) before each timed copy or backup")
	ops := flag.String("ops", "copy,backup,floor,sftp,load,restore", "measurements to run (also sftp-rtt: sftp and scp through a proxy adding -rtt)")
	rtt := flag.Duration("rtt", 20*time.Millisecond, "round-trip time the sftp-rtt proxy adds")
	series := flag.Bool("series", false, "print the publish rate per 250 ms during each backup under load")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the first store backup to file:// to this file (go tool pprof)")
	restoreProfile := flag.String("restoreprofile", "", "write a CPU profile of the restore to this file (go tool pprof)")
	flag.Parse()
	want := map[string]bool{}
	for _, op := range strings.Split(*ops, ",") {
		want[strings.TrimSpace(op)] = true
	}

	tmp, err := os.MkdirTemp(*base, "mqsight-bench-backup-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	b := &bench{tmp: tmp, data: filepath.Join(tmp, "data"), cold: *cold}
	b.startServer()
	defer b.srv.Close()

	began := time.Now()
	n := b.fill(*sizeMB)
	storeBytes := dirSize(filepath.Join(b.data, "store"))
	storeFiles, _ := os.ReadDir(filepath.Join(b.data, "store"))
	fmt.Printf("store: %d messages of 4 KiB buffered for one offline durable subscriber, built in %.1f s; store directory %.2f GiB in %d files\n",
		n, time.Since(began).Seconds(), float64(storeBytes)/(1<<30), len(storeFiles))
	cache := "warm: the store was just written and sits in the page cache"
	if *cold {
		cache = "cold: page cache dropped before each timed operation"
	}
	fmt.Printf("page cache: %s; %d rounds, operations alternated within each round\n\n", cache, *rounds)

	fileDest := filepath.Join(tmp, "dest")
	if *destDir != "" {
		if fileDest, err = os.MkdirTemp(*destDir, "mqsight-bench-dest-"); err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(fileDest)
	}
	os.MkdirAll(fileDest, 0o700)
	openssh, sshErr := destinationtest.ReadOpenSSH()
	_, scpErr := exec.LookPath("sshpass")

	// Copies and backups, alternated within each round.
	var times = map[string][]time.Duration{}
	var order []string
	add := func(op string, d time.Duration) {
		if _, ok := times[op]; !ok {
			order = append(order, op)
		}
		times[op] = append(times[op], d)
	}
	const (
		opCp      = "`cp -r` of the store directory"
		opCpSync  = "`cp -r` then `sync -f`"
		opTarAge  = "`tar c \\| age -r` (X25519 recipient) to a file, then `sync -f`"
		opCfg     = "mqsight configuration-only backup (one scrypt, N=2^18)"
		opFile    = "mqsight store backup to `file://`"
		opSFTP    = "mqsight store backup to `sftp://` (OpenSSH on 127.0.0.1)"
		opSCP     = "`scp -r` of the store directory to the same OpenSSH server, then `sync -f`"
		opSCP1    = "`scp` of the store backup file itself to the same OpenSSH server, then `sync -f`"
		opSFTPRTT = "mqsight store backup to `sftp://`, %v round trip away"
		opSCPRTT  = "`scp -r` of the store directory, %v round trip away, then `sync -f`"
		opSCP1RTT = "`scp` of the store backup file itself, %v round trip away, then `sync -f`"
		opRestore = "mqsight restore of a `file://` store backup (stop, decrypt + stage, switch, start)"

		opFloorScrypt = "floor: one scrypt (N=2^18) alone, in process"
		opFloorSHA    = "floor: SHA-256 of as many bytes as the store backup, in memory"
		opFloorAge    = "floor: age encryption of as many bytes, in memory"
		opFloorWrite  = "floor: durable write of as many bytes (`O_DIRECT` 1 MiB blocks, `fsync`)"
		opFloor       = "**floor of a store backup here**: the slowest of the four, or their CPU time over the cores if longer"
	)
	var fileCfg, fileStore string
	var lastRes map[string]any
	var far string // the latency proxy's address, once started
	for r := range *rounds {
		if want["copy"] {
			cpDir := filepath.Join(tmp, "cp")
			// The server is live: a compaction may delete a file cp is about
			// to read. Such a copy is retried (the timing is of a complete
			// copy).
			add(opCp, b.timeCopy("cp -r "+filepath.Join(b.data, "store")+" "+cpDir, cpDir))
			add(opCpSync, b.timeCopy("cp -r "+filepath.Join(b.data, "store")+" "+cpDir+" && sync -f "+cpDir, cpDir))
			add(opTarAge, b.tarAge())
		}
		if want["backup"] {
			b.waitSecond()
			b.dropCache()
			add(opCfg, timeIt(func() { b.call("POST", "/ima/v1/service/backup", map[string]any{"Password": backupPassword}) }))
			name := fmt.Sprintf("store-file-%d.bak", r)
			if r == 0 && *profile != "" {
				b.startProfile(*profile)
			}
			d, res := b.backup(map[string]any{"StoreDestinationURL": "file://" + fileDest + "/" + name})
			if r == 0 && *profile != "" {
				pprof.StopCPUProfile()
			}
			add(opFile, d)
			if fileStore != "" {
				os.Remove(filepath.Join(fileDest, fileStore))
			}
			fileCfg, fileStore, lastRes = res["FileName"].(string), name, res
		}
		if want["floor"] {
			size := storeBytes
			if lastRes != nil {
				size = int64(lastRes["StoreSize"].(float64))
			}
			b.settle()
			f := measureFloor(size, fileDest, backupPassword)
			add(opFloorScrypt, f.scrypt)
			add(opFloorSHA, f.sha)
			add(opFloorAge, f.age)
			add(opFloorWrite, f.write)
			add(opFloor, f.bound())
		}
		if want["sftp"] && sshErr == nil {
			name := fmt.Sprintf("bench-%d.bak", time.Now().UnixNano())
			d, _ := b.backup(map[string]any{
				"StoreDestinationURL":    "sftp://" + openssh.Addr + openssh.Dir + "/" + name,
				"StoreDestinationUserID": openssh.User, "StoreDestinationPassword": openssh.Password,
				"StoreDestinationHostKey": openssh.HostKey})
			add(opSFTP, d)
			if scpErr == nil {
				add(opSCP1, b.scp(openssh, openssh.Addr, filepath.Join(openssh.Dir, name)))
				add(opSCP, b.scp(openssh, openssh.Addr, filepath.Join(b.data, "store")))
			}
			os.Remove(filepath.Join(openssh.Dir, name))
		}
		if want["sftp-rtt"] && sshErr == nil {
			if far == "" {
				far = latencyProxy(openssh.Addr, *rtt)
			}
			name := fmt.Sprintf("bench-%d.bak", time.Now().UnixNano())
			d, _ := b.backup(map[string]any{
				"StoreDestinationURL":    "sftp://" + far + openssh.Dir + "/" + name,
				"StoreDestinationUserID": openssh.User, "StoreDestinationPassword": openssh.Password,
				"StoreDestinationHostKey": openssh.HostKey})
			add(fmt.Sprintf(opSFTPRTT, *rtt), d)
			if scpErr == nil {
				add(fmt.Sprintf(opSCP1RTT, *rtt), b.scp(openssh, far, filepath.Join(openssh.Dir, name)))
				add(fmt.Sprintf(opSCPRTT, *rtt), b.scp(openssh, far, filepath.Join(b.data, "store")))
			}
			os.Remove(filepath.Join(openssh.Dir, name))
		}
	}
	if want["load"] {
		fmt.Println("| QoS 1 publish load (8 publishers, 1 KiB, one in flight each, persisted) | without a backup | during a store backup to `file://` | during / without | p99 PUBACK without / during | backup under load |")
		fmt.Println("|---|---:|---:|---:|---:|---:|")
		var ratios []float64
		for r := range *loadRounds {
			// Each measurement starts on a settled disk (the copies above
			// leave write-back behind), and the order alternates between
			// rounds, so neither side always runs first.
			var without, during loadResult
			var took time.Duration
			measureWithout := func() {
				b.settle()
				without = b.load(*loadFor, nil, false)
			}
			measureDuring := func() {
				b.settle()
				during = b.load(0, func() {
					took, _ = b.job("backup", map[string]any{"Password": backupPassword,
						"StoreDestinationURL": "file://" + fileDest + "/store-load.bak"})
				}, *series)
				os.Remove(filepath.Join(fileDest, "store-load.bak"))
			}
			if r%2 == 0 {
				measureWithout()
				measureDuring()
			} else {
				measureDuring()
				measureWithout()
			}
			ratio := during.rate() / without.rate()
			ratios = append(ratios, ratio)
			fmt.Printf("| round %d | %.0f msgs/s | %.0f msgs/s | %.0f%% | %s / %s | %.2f s |\n", r+1, without.rate(), during.rate(), 100*ratio, without.p99, during.p99, took.Seconds())
		}
		slices.Sort(ratios)
		fmt.Printf("| **median** | | | **%.0f%%** | | |\n\n", 100*ratios[len(ratios)/2])
	}
	if want["restore"] {
		if fileStore == "" {
			d, res := b.backup(map[string]any{"StoreDestinationURL": "file://" + fileDest + "/store-file-r.bak"})
			add(opFile, d)
			fileCfg, fileStore, lastRes = res["FileName"].(string), "store-file-r.bak", res
		}
		b.dropCache()
		if *restoreProfile != "" {
			b.startProfile(*restoreProfile)
		}
		add(opRestore, b.restore(fileCfg, "file://"+fileDest+"/"+fileStore))
		if *restoreProfile != "" {
			pprof.StopCPUProfile()
		}
	}

	if len(order) > 0 {
		cp, cpSync := median(times[opCp]), median(times[opCpSync])
		fmt.Println("| operation | median time | vs `cp -r` | vs `cp -r` + `sync -f` | store directory size / time | every round |")
		fmt.Println("|---|---:|---:|---:|---:|---|")
		for _, op := range order {
			m := median(times[op])
			ratio := func(ref time.Duration) string {
				if ref <= 0 || op == opCfg {
					return ""
				}
				return fmt.Sprintf("%.2fx", m.Seconds()/ref.Seconds())
			}
			tp := fmt.Sprintf("%.0f MB/s", float64(storeBytes)/1e6/m.Seconds())
			if op == opCfg || op == opFloorScrypt {
				tp = "fixed cost"
			}
			var each []string
			for _, d := range times[op] {
				each = append(each, fmt.Sprintf("%.2f", d.Seconds()))
			}
			fmt.Printf("| %s | %.2f s | %s | %s | %s | %s s |\n", op, m.Seconds(), ratio(cp), ratio(cpSync), tp, strings.Join(each, ", "))
		}
		if lastRes != nil {
			fmt.Printf("\n(store backup: LSN %v, %.2f GiB written and fsynced; OpenSSH: %v)\n", lastRes["LSN"], lastRes["StoreSize"].(float64)/(1<<30), sshStatus(sshErr))
		}
		for _, c := range []struct{ where, sftp, scp1, scp string }{
			{"on loopback", opSFTP, opSCP1, opSCP},
			{fmt.Sprint(*rtt, " round trip away"), fmt.Sprintf(opSFTPRTT, *rtt), fmt.Sprintf(opSCP1RTT, *rtt), fmt.Sprintf(opSCPRTT, *rtt)},
		} {
			sftp, scp1, scp := median(times[c.sftp]), median(times[c.scp1]), median(times[c.scp])
			if sftp > 0 && scp1 > 0 && scp > 0 {
				fmt.Printf("(%s: store backup to `sftp://` vs `scp` of its file: %.2fx; vs `scp -r` of the store: %.2fx)\n",
					c.where, sftp.Seconds()/scp1.Seconds(), sftp.Seconds()/scp.Seconds())
			}
		}
		if (want["sftp"] || want["sftp-rtt"]) && sshErr == nil && scpErr != nil {
			fmt.Println("(`scp -r` skipped: sshpass not found; apt-get install -y sshpass)")
		}
		fmt.Println()
	}
}

func sshStatus(err error) string {
	if err != nil {
		return "not set up (tests/sshd/start.sh), sftp skipped"
	}
	return "tests/sshd/start.sh"
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

type bench struct {
	tmp, data string
	cold      bool
	srv       *server.Server
	mqttAddr  string
	http      *http.Client
	adminURL  string
}

func (b *bench) startServer() {
	port, err := testport.Pick()
	if err != nil {
		log.Fatal(err)
	}
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
func (b *bench) backup(store map[string]any) (time.Duration, map[string]any) {
	b.waitSecond()
	b.dropCache()
	store["Password"] = backupPassword
	return b.job("backup", store)
}

// startProfile starts a CPU profile into file.
func (b *bench) startProfile(file string) {
	f, err := os.Create(file)
	if err != nil {
		log.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Fatal(err)
	}
}

// settle writes back what is dirty and waits a moment.
func (b *bench) settle() {
	run("sync")
	time.Sleep(2 * time.Second)
}

// waitSecond waits for the next second: configuration backups are named by
// the second.
func (b *bench) waitSecond() {
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
}

// dropCache writes back and drops the page cache when the run is cold.
func (b *bench) dropCache() {
	if !b.cold {
		return
	}
	run("sync")
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0); err != nil {
		log.Fatalf("-cold: %v", err)
	}
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
// for as long as during runs; series prints the rate per 250 ms.
func (b *bench) load(d time.Duration, during func(), series bool) loadResult {
	b.durable("load-sub", "load/#")
	stop := make(chan struct{})
	var acked atomic.Int64
	var measuring atomic.Bool
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
				if measuring.Load() {
					mine = append(mine, time.Since(t0))
					acked.Add(1)
				}
			}
		}()
	}
	time.Sleep(time.Second) // warm up
	measuring.Store(true)
	t0 := time.Now()
	done := make(chan struct{})
	var printed sync.WaitGroup
	if series {
		printed.Add(1)
		go func() {
			defer printed.Done()
			var last int64
			var line []string
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-done:
					fmt.Printf("series (msgs/s per 250 ms): %s\n", strings.Join(line, " "))
					return
				case <-tick.C:
					n := acked.Load()
					line = append(line, strconv.FormatInt((n-last)*4, 10))
					last = n
				}
			}
		}()
	}
	if during != nil {
		during()
	} else {
		time.Sleep(d)
	}
	took := time.Since(t0)
	measuring.Store(false)
	n := acked.Load()
	close(done)
	printed.Wait()
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
	os.Remove(keyFile)
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
	return b.timeCopy("mkdir "+out+" && tar c -C "+b.data+" store 2>/dev/null | age -r "+recipient+" > "+out+"/store.tar.age"+
		" && sync -f "+out+"/store.tar.age", out)
}

// scp times OpenSSH's scp of src (-r for a directory) to the OpenSSH test
// server with its default cipher, then `sync -f` of the copy (the server
// is this machine, and scp does not fsync): the transport's own cost, for
// the store backup to sftp:// to be read against. The password goes to
// sshpass through the environment.
//
// addr is the server's address or a proxy's in front of it; the host key
// is checked against the server's own known_hosts entry either way.
func (b *bench) scp(o destinationtest.OpenSSH, addr, src string) time.Duration {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		log.Fatal(err)
	}
	sshHost, sshPort, err := net.SplitHostPort(o.Addr)
	if err != nil {
		log.Fatal(err)
	}
	dir := filepath.Join(o.Dir, fmt.Sprintf("scp-%d", time.Now().UnixNano()))
	os.Setenv("SSHPASS", o.Password)
	defer os.Unsetenv("SSHPASS")
	q := strconv.Quote
	cmd := "sshpass -e scp -q -r -P " + port + " -o " + q("UserKnownHostsFile="+o.KnownHosts) +
		" -o StrictHostKeyChecking=yes -o " + q("HostKeyAlias=["+sshHost+"]:"+sshPort) + " " + q(src) + " " + q(o.User+"@"+host+":"+dir) +
		" && sync -f " + q(dir)
	return b.timeCommand(cmd, dir, false)
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
//
// Warm runs copy once untimed first: on this VM the first touch of a page
// the guest has not used lately costs a host page fault, which made a
// first copy 2-3x slower than the same copy again; the timed copy then
// gets the page cache pages the untimed one freed, as on a machine that
// has been running for a while.
func (b *bench) timeCopy(command, dir string) time.Duration {
	return b.timeCommand(command, dir, !b.cold)
}

// timeCommand is timeCopy with the untimed first run only when warmUp is
// set; network copies (scp) skip it: they read the store the local copies
// have already warmed, and are long.
func (b *bench) timeCommand(command, dir string, warmUp bool) time.Duration {
	defer os.RemoveAll(dir)
	if warmUp {
		os.RemoveAll(dir)
		exec.Command("bash", "-o", "pipefail", "-c", command).Run()
	}
	for try := 1; ; try++ {
		os.RemoveAll(dir)
		b.dropCache()
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
