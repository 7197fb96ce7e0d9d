package mqtt

import (
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
	"github.com/mqsight/mqsight/internal/store"
)

// A restore marks the restored store's messages (store.MarkRestored)
// instead of rewriting each record: after the engine starts on it, a
// buffered message up to the mark is delivered first with DUP=1, and
// messages published afterwards get IDs above the mark and no DUP. A
// restored retained message goes to each new subscription as a new
// delivery: DUP=0, every time.
func TestRestoredMarkGivesDupAndNewIDsAboveIt(t *testing.T) {
	ts := startServer(t)
	sub := mqtttest.Dial(t, ts.addr, 4)
	sub.MustConnect(mqtttest.ConnectOptions{ClientID: "sub", Clean: false})
	sub.MustSubscribe(mqtttest.Sub("r/#", 1))
	sub.Disconnect(0)
	pub := mqtttest.Dial(t, ts.addr, 4)
	pub.MustConnect(mqtttest.ConnectOptions{ClientID: "pub", Clean: true})
	pub.MustPublish("r/old", []byte("old"), 1, false)
	pub.MustPublish("retained/old", []byte("kept"), 1, true)
	pub.Disconnect(0)

	const mark = 1000 // above every ID the engine has used
	if err := ts.store.MarkRestored(mark); err != nil {
		t.Fatal(err)
	}
	ts.restart()
	if n := ts.e.RestoredMessages(); n != 2 { // r/old buffered, retained/old retained
		t.Fatalf("engine counts %d restored messages, want 2", n)
	}

	pub = mqtttest.Dial(t, ts.addr, 4)
	pub.MustConnect(mqtttest.ConnectOptions{ClientID: "pub", Clean: true})
	pub.MustPublish("r/new", []byte("new"), 1, false)
	pub.Disconnect(0)
	err := ts.store.Scan(store.KindPrefix(store.KindMessage), func(k, v []byte) error {
		rec, err := store.DecodeMessage(v)
		if err != nil {
			return err
		}
		if string(rec.Payload) == "new" && rec.ID <= mark {
			t.Errorf("message published after the restore got ID %d, at or below the mark %d", rec.ID, mark)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	sub = mqtttest.Dial(t, ts.addr, 4)
	sub.MustConnect(mqtttest.ConnectOptions{ClientID: "sub", Clean: false})
	for _, want := range []struct {
		payload string
		dup     bool
	}{{"old", true}, {"new", false}} {
		pk, err := sub.AwaitType(packets.Publish, waitLong)
		if err != nil {
			t.Fatalf("awaiting %s: %v", want.payload, err)
		}
		sub.MustAcknowledge(pk)
		if string(pk.Payload) != want.payload || pk.FixedHeader.Dup != want.dup {
			t.Fatalf("got %q DUP=%v, want %q DUP=%v", pk.Payload, pk.FixedHeader.Dup, want.payload, want.dup)
		}
	}

	for i := range 2 {
		c := mqtttest.Dial(t, ts.addr, 4)
		c.MustConnect(mqtttest.ConnectOptions{ClientID: "late", Clean: true})
		c.MustSubscribe(mqtttest.Sub("retained/#", 1))
		pk, err := c.AwaitType(packets.Publish, waitLong)
		if err != nil {
			t.Fatal(err)
		}
		c.MustAcknowledge(pk)
		if string(pk.Payload) != "kept" || !pk.FixedHeader.Retain || pk.FixedHeader.Dup {
			t.Fatalf("subscription %d: retained got %q RETAIN=%v DUP=%v, want \"kept\" RETAIN=1 DUP=0",
				i+1, pk.Payload, pk.FixedHeader.Retain, pk.FixedHeader.Dup)
		}
		c.Disconnect(0)
	}
}
