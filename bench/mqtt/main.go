// Command mqtt is mqsight's MQTT load generator. It runs the same scenarios
// against mqsight and against a private Mosquitto (127.0.0.1, persistence
// off), alternating between the two brokers (ABBA...) in one run, and prints
// Markdown tables with the median of the rounds and the ratios:
//
//   - QoS 0 fan-in: 100 publishers → 1 subscriber
//   - QoS 0 fan-out: 1 publisher → 100 subscribers
//   - QoS 1 with a durable (persistent-session) subscriber, 100 publishers
//     (mqsight commits each message to its store with fsync before PUBACK;
//     Mosquitto keeps it in memory)
//   - publish → deliver latency p50/p99 at a fixed 1,000 msgs/s
//   - broker RSS per idle connection at 10,000 connections (the real
//     mqsight binary; /proc/<pid>/status VmRSS before and after)
//
// Every message carries its publisher, sequence number and send time, so
// each subscriber reports loss, duplicates and out-of-order delivery. A
// publisher may be at most a window of messages ahead of its slowest
// subscriber, so the rates are what a broker sustains without dropping. All
// traffic is on 127.0.0.1 and every loop is bounded in count and time.
//
// Usage: run it through run.sh, which builds it and the mqsight binary.
// `mqtt serve -data-dir D -pprof ADDR` is an internal mode: mqsight's server
// (internal/server, as the binary runs it) with a pprof endpoint.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

func newFlagSet(name string) *flag.FlagSet {
	return flag.NewFlagSet(name, flag.ContinueOnError)
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("bench/mqtt: ")
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		if err := serveMain(os.Args[2:]); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := benchMain(os.Args[1:]); err != nil {
		log.Fatal(err)
	}
}

// options of a benchmark run.
type options struct {
	rounds     int
	duration   time.Duration
	conns      int
	payload    int
	window     int
	mqsightBin string
	mosquitto  string
	only       []string
	profileDir string
	workDir    string
}

func benchMain(args []string) error {
	var o options
	fs := newFlagSet("mqtt")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds per scenario and broker (median reported)")
	fs.DurationVar(&o.duration, "duration", 4*time.Second, "publishing time of each scenario run")
	fs.IntVar(&o.conns, "conns", 10000, "idle connections for the RSS measurement (0 skips it)")
	fs.IntVar(&o.payload, "payload", 64, "payload bytes per message (at least 16)")
	fs.IntVar(&o.window, "window", 1000, "messages in flight per subscriber (end-to-end window)")
	fs.StringVar(&o.mqsightBin, "mqsight", "", "mqsight binary for the RSS measurement (required when -conns > 0)")
	fs.StringVar(&o.mosquitto, "mosquitto", "/usr/sbin/mosquitto", "mosquitto binary")
	only := fs.String("scenarios", "fanin,fanout,qos1,latency", "scenarios to run")
	fs.StringVar(&o.profileDir, "profile", "", "directory: after the rounds, profile mqsight (CPU, allocs) under each scenario")
	fs.StringVar(&o.workDir, "dir", os.TempDir(), "directory for broker data and logs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.only = strings.Split(*only, ",")
	if o.conns > 0 && o.mqsightBin == "" {
		return errors.New("-mqsight is required for the RSS measurement (or -conns 0)")
	}
	work, err := os.MkdirTemp(o.workDir, "mqsight-bench-mqtt-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	self, err := os.Executable()
	if err != nil {
		return err
	}
	scs, err := o.scenarios()
	if err != nil {
		return err
	}
	fmt.Printf("each scenario %v of publishing, %d rounds alternating brokers; payload %d B; window %d msgs per subscriber\n\n",
		o.duration, o.rounds, o.payload, o.window)

	mq, err := startMqsightServe(self, filepath.Join(work, "mqsight"))
	if err != nil {
		return err
	}
	defer mq.stop()
	mo, err := startMosquitto(o.mosquitto, filepath.Join(work, "mosquitto"))
	if err != nil {
		return err
	}
	defer mo.stop()

	results := map[string]map[string][]result{} // scenario → broker → rounds
	epoch := time.Now()
	for _, sc := range scs {
		results[sc.name] = map[string][]result{}
		for r := range o.rounds {
			order := []*broker{mq, mo}
			if r%2 == 1 {
				order = []*broker{mo, mq}
			}
			for _, b := range order {
				res, err := sc.run(b.addr, fmt.Sprintf("r%d%c", r, b.name[1]), epoch)
				if err != nil {
					return fmt.Errorf("%s against %s, round %d: %w", sc.name, b.name, r+1, err)
				}
				results[sc.name][b.name] = append(results[sc.name][b.name], res)
				fmt.Printf("round %d %-8s %-9s %9.0f msgs/s  sent %d recv %d lost %d dup %d ooo %d stalls %d  p50 %v p99 %v\n",
					r+1, sc.name, b.name, res.rate, res.sent, res.received, res.lost(), res.duplicates, res.outOfOrder,
					res.stalls, res.p50.Round(time.Microsecond), res.p99.Round(time.Microsecond))
			}
		}
	}

	var idle map[string][]idleResult
	if o.conns > 0 {
		if idle, err = o.measureIdleAll(work); err != nil {
			return err
		}
	}
	fmt.Println()
	printTables(scs, results, idle, o)

	if o.profileDir != "" {
		return o.profile(scs, mq, epoch, self, work)
	}
	return nil
}

// scenarios returns the scenarios selected with -scenarios.
func (o options) scenarios() ([]scenario, error) {
	all := []scenario{
		{name: "fanin", publishers: 100, subscribers: 1, qos: 0, window: max(1, o.window/100), sampleEvery: 16},
		{name: "fanout", publishers: 1, subscribers: 100, qos: 0, window: o.window, sampleEvery: 16},
		{name: "qos1", publishers: 100, subscribers: 1, qos: 1, durable: true, window: max(1, o.window/100),
			inflight: max(1, o.window/100), sampleEvery: 4},
		{name: "latency", publishers: 1, subscribers: 1, qos: 0, window: o.window, rate: 1000, sampleEvery: 1},
	}
	var out []scenario
	for _, name := range o.only {
		i := slices.IndexFunc(all, func(s scenario) bool { return s.name == name })
		if i < 0 {
			return nil, fmt.Errorf("unknown scenario %q", name)
		}
		sc := all[i]
		sc.duration = o.duration
		sc.payload = o.payload
		sc.maxPerPublisher = 5_000_000 / sc.publishers
		out = append(out, sc)
	}
	return out, nil
}

// measureIdleAll measures RSS per idle connection on fresh brokers,
// alternating, twice each.
func (o options) measureIdleAll(work string) (map[string][]idleResult, error) {
	out := map[string][]idleResult{}
	for r := range 2 {
		for i := range 2 {
			name := []string{"mqsight", "mosquitto"}[(i+r)%2]
			dir := filepath.Join(work, fmt.Sprintf("idle-%s-%d", name, r))
			var b *broker
			var err error
			if name == "mqsight" {
				b, err = startMqsightBinary(o.mqsightBin, dir)
			} else {
				b, err = startMosquitto(o.mosquitto, dir)
			}
			if err != nil {
				return nil, err
			}
			res, err := measureIdle(b, o.conns, fmt.Sprint(r), nil)
			b.stop()
			if err != nil {
				return nil, fmt.Errorf("idle connections on %s: %w", name, err)
			}
			out[name] = append(out[name], res)
			fmt.Printf("idle %d %-9s RSS %d KiB → %d KiB with %d more connections (opened in %v): %.0f B/conn\n",
				r+1, name, res.beforeKB, res.afterKB, res.conns, res.connectElapsed.Round(time.Millisecond), res.bytesPerConn())
		}
	}
	return out, nil
}

// profile runs each scenario once more against mqsight while fetching a
// CPU and an allocation profile covering it.
func (o options) profile(scs []scenario, mq *broker, epoch time.Time, self, work string) error {
	if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
		return err
	}
	for _, sc := range scs {
		errs := make(chan error, 2)
		for _, kind := range []string{"profile", "allocs"} {
			path := filepath.Join(o.profileDir, fmt.Sprintf("%s.%s.pb.gz", sc.name, map[string]string{"profile": "cpu", "allocs": "allocs"}[kind]))
			go func() { errs <- mq.fetchProfile(kind, sc.duration, path) }()
		}
		res, err := sc.run(mq.addr, "prof", epoch)
		if err != nil {
			return fmt.Errorf("profile %s: %w", sc.name, err)
		}
		if err := errors.Join(<-errs, <-errs); err != nil {
			return err
		}
		fmt.Printf("profiled %-8s %9.0f msgs/s → %s/%s.{cpu,allocs}.pb.gz\n", sc.name, res.rate, o.profileDir, sc.name)
	}
	if o.conns == 0 {
		return nil
	}
	// Idle connections: what the heap holds per connection.
	b, err := startMqsightServe(self, filepath.Join(work, "idle-profile"))
	if err != nil {
		return err
	}
	defer b.stop()
	path := filepath.Join(o.profileDir, "idle.heap.pb.gz")
	res, err := measureIdle(b, o.conns, "prof", func() error { return b.fetchProfile("heap", 0, path) })
	if err != nil {
		return fmt.Errorf("profile idle connections: %w", err)
	}
	fmt.Printf("profiled idle    %.0f B/conn → %s\n", res.bytesPerConn(), path)
	return nil
}
