package mqtt

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// A new subscription gets every matching retained message (3.1.1
// [MQTT-3.3.1-6], 5.0 [MQTT-3.3.1-9]), also more than its MaxMessages, in
// topic order whatever the order they were published in.
func TestRetainedAllMatchingInTopicOrder(t *testing.T) {
	for _, behavior := range []string{"RejectNewMessages", "DiscardOldMessages"} {
		t.Run(behavior, func(t *testing.T) {
			ts := startServer(t, withTopicLimit(10, behavior))
			pub := mqtttest.Dial(t, ts.addr, 5)
			pub.MustConnect(mqtttest.ConnectOptions{ClientID: "retainer", Clean: true})
			var want []string
			for i := range 30 {
				want = append(want, fmt.Sprintf("ret/%02d", i))
			}
			for _, i := range rand.Perm(len(want)) {
				pub.MustPublish(want[i], []byte(want[i]), 1, true)
			}
			pub.MustPublish("other/x", []byte("no match"), 1, true)
			for _, v := range []byte{4, 5} {
				sub := mqtttest.Dial(t, ts.addr, v)
				sub.MustConnect(mqtttest.ConnectOptions{ClientID: fmt.Sprint("reader", v), Clean: true})
				sub.MustSubscribe(mqtttest.Sub("ret/+", 1))
				var got []string
				for range want {
					pk := sub.ExpectPublish()
					if !pk.FixedHeader.Retain {
						t.Fatalf("v%d: %s without RETAIN", v, pk.TopicName)
					}
					got = append(got, pk.TopicName)
					sub.MustAcknowledge(pk)
				}
				if !slices.Equal(got, want) {
					t.Errorf("v%d: retained messages in the order\n%q\nwant topic order\n%q", v, got, want)
				}
				// Nothing more: a PINGRESP, queued behind anything else
				// the acknowledgements let out, comes next.
				sub.MustSend(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
				sub.Expect(packets.Pingresp)
			}
		})
	}
}

// retainMany makes n retained messages r/<i%100>/<i> in e's memory, without
// writing them to the store.
func retainMany(e *Engine, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.store.NewBatch()
	defer b.Discard()
	for i := range n {
		e.setRetainedLocked(&message{id: uint64(i + 1), topic: fmt.Sprintf("r/%d/%d", i%100, i), payload: []byte("v"), qos: 1, retain: true}, b)
	}
}

// A new subscription looks only at the retained topics its filter can
// match: an exact filter at one, a wildcard filter at the levels it names,
// not at all of them (a SUBSCRIBE holds Engine.mu while it looks).
func TestRetainedLookupCost(t *testing.T) {
	const n, per = 20_000, 20_000 / 100 // r/<i%100>/<i>: per topics under each r/<j>
	ts := startServer(t)
	retainMany(ts.e, n)
	ts.e.mu.Lock()
	defer ts.e.mu.Unlock()
	for _, tc := range []struct {
		filter        string
		matches       int
		visitedAtMost int
	}{
		{"x/1", 0, 1},
		{"r/5/1005", 1, 1},
		{"r/5/1006", 0, 1},
		{"r/5/+", per, 1 + 1 + per},
		{"r/5/#", per, 1 + 1 + per},
		{"r/+/1005", 1, 1 + 100 + 1},
		{"#", n, 1 + 100 + n}, // the only way to match all is to look at all
	} {
		got := 0
		visited := ts.e.mu.retained.match(tc.filter, func(*message) { got++ })
		if got != tc.matches || visited > tc.visitedAtMost {
			t.Errorf("%s: %d retained messages looking at %d topics; want %d looking at no more than %d",
				tc.filter, got, visited, tc.matches, tc.visitedAtMost)
		}
	}
}

// BenchmarkSubscribeRetained times queuing the retained messages of one new
// subscription among 100,000, under Engine.mu as a SUBSCRIBE does.
func BenchmarkSubscribeRetained(b *testing.B) {
	ts := startServer(b)
	e := ts.e
	retainMany(e, 100_000)
	for _, bc := range []struct {
		name, filter string
		want         int
	}{
		{"exact-miss", "x/1", 0},
		{"exact-hit", "r/5/1005", 1},
		{"plus", "r/5/+", 1000},
		{"hash", "r/5/#", 1000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				sub := &subscription{filter: bc.filter, opts: packets.Subscription{Qos: 1}, buf: newBuffer("bench", false, defaultLimits)}
				e.mu.Lock()
				release := e.sendRetainedLocked(sub)
				got := sub.buf.live
				release(false)
				e.mu.Unlock()
				if got != bc.want {
					b.Fatalf("%s: %d retained messages, want %d", bc.filter, got, bc.want)
				}
			}
		})
	}
}
