package main

import (
	"fmt"
	"slices"
	"time"
)

// median returns the median of xs (the lower middle for an even count).
func median[T int64 | float64 | time.Duration](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

func pick[T any](rs []result, f func(result) T) []T {
	out := make([]T, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

var titles = map[string]string{
	"fanin":   "QoS 0 fan-in, 100 → 1 (msgs/s delivered)",
	"fanout":  "QoS 0 fan-out, 1 → 100 (msgs/s delivered)",
	"qos1":    "QoS 1, 100 → 1 durable subscriber (msgs/s delivered)",
	"latency": "QoS 0 latency at 1,000 msgs/s, 1 → 1",
}

var targets = map[string]string{
	"fanin":  "≥ 2×",
	"fanout": "≥ 2×",
	"qos1":   "≥ 1×",
}

// printTables prints the Markdown tables of a run.
func printTables(scs []scenario, results map[string]map[string][]result, idle map[string][]idleResult, o options) {
	fmt.Printf("Median of %d rounds; ratio = mqsight / Mosquitto.\n\n", o.rounds)
	fmt.Println("| scenario | mqsight | Mosquitto | ratio | target |")
	fmt.Println("|---|---:|---:|---:|---|")
	for _, sc := range scs {
		mq, mo := results[sc.name]["mqsight"], results[sc.name]["mosquitto"]
		if sc.name == "latency" {
			for _, q := range []struct {
				label string
				f     func(result) time.Duration
			}{{"p50", func(r result) time.Duration { return r.p50 }}, {"p99", func(r result) time.Duration { return r.p99 }}} {
				a, b := median(pick(mq, q.f)), median(pick(mo, q.f))
				fmt.Printf("| %s %s | %v | %v | %.2f× | (lower is better) |\n", titles[sc.name], q.label,
					a.Round(time.Microsecond), b.Round(time.Microsecond), float64(a)/float64(b))
			}
			continue
		}
		a := median(pick(mq, func(r result) float64 { return r.rate }))
		b := median(pick(mo, func(r result) float64 { return r.rate }))
		fmt.Printf("| %s | %.0f | %.0f | %.2f× | %s |\n", titles[sc.name], a, b, a/b, targets[sc.name])
	}
	if idle != nil {
		a := median(pickIdle(idle["mqsight"]))
		b := median(pickIdle(idle["mosquitto"]))
		fmt.Printf("| RSS per idle connection at %d connections (bytes) | %.0f | %.0f | %.2f× | ≤ 1× |\n", o.conns, a, b, a/b)
	}

	fmt.Println()
	fmt.Println("Delivery checks, summed over the rounds (lost = sent × subscribers − distinct received):")
	fmt.Println()
	fmt.Println("| scenario | broker | sent | lost | duplicates | out of order | window stalls | p50 | p99 |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, sc := range scs {
		for _, name := range []string{"mqsight", "mosquitto"} {
			var sum result
			rs := results[sc.name][name]
			for _, r := range rs {
				sum.sent += r.sent
				sum.expected += r.expected
				sum.received += r.received
				sum.duplicates += r.duplicates
				sum.outOfOrder += r.outOfOrder
				sum.stalls += r.stalls
			}
			fmt.Printf("| %s | %s | %d | %d | %d | %d | %d | %v | %v |\n", sc.name, name, sum.sent, sum.lost(),
				sum.duplicates, sum.outOfOrder, sum.stalls,
				median(pick(rs, func(r result) time.Duration { return r.p50 })).Round(time.Microsecond),
				median(pick(rs, func(r result) time.Duration { return r.p99 })).Round(time.Microsecond))
		}
	}
}

func pickIdle(rs []idleResult) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = r.bytesPerConn()
	}
	return out
}
