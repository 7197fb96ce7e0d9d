package mqtt

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
	"github.com/mqsight/mqsight/internal/store"
)

// persistentV5 connects a v5 client with a long session expiry.
func persistentV5(id string) mqtttest.ConnectOptions {
	o := mqtttest.ConnectOptions{ClientID: id}
	o.Properties.SessionExpiryInterval, o.Properties.SessionExpiryIntervalFlag = 3600, true
	return o
}

// A QoS 1 PUBACK for a message bound for a durable subscription is never
// sent before the store commit holding the message: the commit hook must
// have seen the payload when the PUBACK arrives, even with a slow fsync.
func TestPubackNeverBeforeCommit(t *testing.T) {
	var seen sync.Map // payload → struct{}
	var slow atomic.Bool
	ts := startServer(t)
	ts.close()
	ts.storeOpts.BeforeSync = func() error {
		if slow.Load() {
			time.Sleep(30 * time.Millisecond)
		}
		return nil
	}
	ts.open()
	ts.store.SetCommitHook(func(e store.CommitEvent) {
		for i := range 50 {
			p := fmt.Appendf(nil, "payload-%03d", i)
			if bytes.Contains(e.Repr, p) {
				seen.Store(string(p), struct{}{})
			}
		}
	})

	for _, v := range []byte{4, 5} {
		seen.Clear()
		sub := mqtttest.Dial(t, ts.addr, v)
		opts := persistentV5(fmt.Sprintf("durable-%d", v))
		if v == 4 {
			opts = mqtttest.ConnectOptions{ClientID: opts.ClientID}
		}
		sub.MustConnect(opts)
		sub.MustSubscribe(mqtttest.Sub("orders/#", 1))
		sub.Disconnect(0)

		slow.Store(true)
		pub := mqtttest.Dial(t, ts.addr, v)
		pub.MustConnect(mqtttest.ConnectOptions{ClientID: "pub", Clean: true})
		for i := range 50 {
			p := fmt.Sprintf("payload-%03d", i)
			ack, err := pub.Publish("orders/x", []byte(p), 1, false)
			if err != nil {
				t.Fatal(err)
			}
			if ack.FixedHeader.Type != packets.Puback {
				t.Fatalf("got %s, want PUBACK", mqtttest.Describe(ack))
			}
			if _, ok := seen.Load(p); !ok {
				t.Fatalf("v%d: PUBACK for %s arrived before its store commit", v, p)
			}
		}
		slow.Store(false)
		pub.Disconnect(0)
	}
}

// Messages for an offline durable subscriber survive a restart and are
// delivered in order, within its Receive Maximum, without DUP.
func TestOfflineDurableSubscriberSurvivesRestart(t *testing.T) {
	ts := startServer(t)
	sub := mqtttest.Dial(t, ts.addr, 5)
	sub.MustConnect(persistentV5("dev1"))
	sub.MustSubscribe(mqtttest.Sub("t/#", 1))
	sub.Disconnect(0)

	const n = 500
	pub := mqtttest.Dial(t, ts.addr, 5)
	pub.MustConnect(mqtttest.ConnectOptions{ClientID: "pub", Clean: true})
	for i := range n {
		pub.MustPublish("t/x", fmt.Appendf(nil, "%05d", i), 1, false)
	}
	pub.Disconnect(0)

	ts.restart()

	const window = 10
	sub = mqtttest.Dial(t, ts.addr, 5)
	o := persistentV5("dev1")
	o.Properties.ReceiveMaximum = window
	ack := sub.MustConnect(o)
	if !ack.SessionPresent {
		t.Fatal("session not present after restart")
	}
	receiveInWindows(t, sub, n, window)
}

// receiveInWindows reads n QoS>0 messages numbered %05d in order, acking
// each batch of window only after it is complete, and fails if more than
// window arrive unacknowledged or any carries DUP.
func receiveInWindows(t *testing.T, c *mqtttest.Conn, n, window int) {
	t.Helper()
	next := 0
	for next < n {
		var batch []*packets.Packet
		for len(batch) < window && next+len(batch) < n {
			pk, err := c.AwaitType(packets.Publish, waitLong)
			if err != nil {
				t.Fatalf("after %d messages: %v", next+len(batch), err)
			}
			batch = append(batch, pk)
		}
		if next < 5*window {
			c.ExpectNothing(30 * time.Millisecond) // the window is full: nothing more may come
		}
		for _, pk := range batch {
			if want := fmt.Sprintf("%05d", next); string(pk.Payload) != want {
				t.Fatalf("message %d: got payload %q (out of order)", next, pk.Payload)
			}
			if pk.FixedHeader.Dup {
				t.Fatalf("message %d delivered with DUP set", next)
			}
			next++
			c.MustAcknowledge(pk)
		}
	}
}
