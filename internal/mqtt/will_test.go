package mqtt

import (
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
	"github.com/mqsight/mqsight/internal/store"
)

// storedWill returns the will in the stored client state of clientID
// (nil if there is none).
func storedWill(t *testing.T, ts *testServer, clientID string) []byte {
	t.Helper()
	v, err := ts.store.Get(store.ClientStateKey(clientID))
	if err != nil {
		t.Fatalf("client state of %s: %v", clientID, err)
	}
	cs, err := store.DecodeClientState(v)
	if err != nil {
		t.Fatal(err)
	}
	return cs.Will
}

// watchWills connects a persistent QoS 1 subscriber to will/# and leaves
// it offline, so that wills published while nobody is connected are kept.
func watchWills(t *testing.T, ts *testServer) {
	t.Helper()
	w, _ := v5Open(t, ts, "watch", v5Persistent)
	w.MustSubscribe(mqtttest.Sub("will/#", 1))
	v5Offline(t, ts, w)
}

// resumeWatch reconnects the watcher of watchWills.
func resumeWatch(t *testing.T, ts *testServer) *mqtttest.Conn {
	t.Helper()
	w, _ := v5Open(t, ts, "watch", v5Persistent)
	return w
}

// A delayed will whose connection broke before a server restart is
// published after the restart, once, when its delay has passed.
func TestDelayedWillSurvivesRestart(t *testing.T) {
	ts := startServer(t)
	watchWills(t, ts)
	c, _ := v5Open(t, ts, "c", v5Persistent, v5Will("will/c", "gone", 1, false, 1))
	v5Offline(t, ts, c)
	if storedWill(t, ts, "c") == nil {
		t.Fatal("the pending will is not in the stored session state")
	}
	ts.restart()

	w := resumeWatch(t, ts)
	w.ExpectMessage("will/c", []byte("gone"))
	// Published in the same batch that rewrote the state without it.
	if got := storedWill(t, ts, "c"); got != nil {
		t.Fatalf("state still holds the will after its publication (%d bytes)", len(got))
	}
	v5Offline(t, ts, w)
	ts.restart()
	w = resumeWatch(t, ts)
	w.ExpectNothing(1500 * time.Millisecond) // not published a second time
	if c, ack := v5Open(t, ts, "c", v5Persistent); !ack.SessionPresent {
		t.Fatal("the session of the will's client was lost")
	} else {
		c.Disconnect(0)
	}
}

// A client that comes back after a restart, within the will delay,
// cancels its will ([MQTT-3.1.3-9]).
func TestDelayedWillCancelledAfterRestart(t *testing.T) {
	ts := startServer(t)
	watchWills(t, ts)
	c, _ := v5Open(t, ts, "c", v5Persistent, v5Will("will/c", "gone", 1, false, 1))
	v5Offline(t, ts, c)
	ts.restart()
	c, ack := v5Open(t, ts, "c", v5Persistent)
	if !ack.SessionPresent {
		t.Fatal("session lost")
	}
	if got := storedWill(t, ts, "c"); got != nil {
		t.Fatalf("state still holds the will after the client came back (%d bytes)", len(got))
	}
	w := resumeWatch(t, ts)
	w.ExpectNothing(1500 * time.Millisecond)
	c.Disconnect(0)
}

// A will that fell due while the server was down is published when it
// starts; the session stays if it has not expired, and ends (after the
// will) if it has.
func TestWillDueWhileDown(t *testing.T) {
	for _, tc := range []struct {
		name          string
		expiry, delay uint32
		sessionStays  bool
	}{
		{"will due, session alive", 3600, 60, true},
		{"session expired first", 60, 3600, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &offsetClock{}
			ts := startServer(t, withClock(clock))
			watchWills(t, ts)
			c, _ := v5Open(t, ts, "c", v5Resume, v5Expiry(tc.expiry), v5Will("will/c", "gone", 1, false, tc.delay))
			v5Offline(t, ts, c)
			ts.close()
			clock.advance(2 * time.Minute)
			ts.open()

			w := resumeWatch(t, ts)
			w.ExpectMessage("will/c", []byte("gone"))
			w.ExpectNothing(v5Quiet)
			c, ack := v5Open(t, ts, "c", v5Resume, v5Expiry(tc.expiry))
			if ack.SessionPresent != tc.sessionStays {
				t.Fatalf("Session Present %v, want %v", ack.SessionPresent, tc.sessionStays)
			}
			c.Disconnect(0)
		})
	}
}

// The will's Message Expiry Interval counts from its publication, not from
// the CONNECT that carried it (MQTT 5.0 §3.1.3.2.4).
func TestWillExpiryCountsFromPublication(t *testing.T) {
	clock := &offsetClock{}
	ts := startServer(t, withClock(clock))
	watch, _ := v5Open(t, ts, "watch")
	watch.MustSubscribe(mqtttest.Sub("will/#", 1))
	c, _ := v5Open(t, ts, "c", v5Will("will/c", "gone", 1, false, 0), func(o *mqtttest.ConnectOptions) {
		o.Will.Properties.MessageExpiryInterval = 30
	})
	clock.advance(time.Hour) // connected for an hour
	v5Offline(t, ts, c)
	pub := watch.ExpectMessage("will/c", []byte("gone"))
	if mei := pub.Properties.MessageExpiryInterval; mei < 29 || mei > 30 {
		t.Fatalf("will delivered with Message Expiry Interval %d, want 30", mei)
	}
}
