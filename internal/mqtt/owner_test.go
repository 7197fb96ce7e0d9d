package mqtt

import (
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// A persistent session resumes only for the identity it belongs to: a
// client of another user with the same client ID starts afresh (Session
// Present 0) and gets nothing the first user subscribed to, also after a
// server restart; the owner resumes as before.
func TestSessionOfAnotherUserIsNotResumed(t *testing.T) {
	for _, restart := range []bool{false, true} {
		name := "running"
		if restart {
			name = "after a restart"
		}
		t.Run(name, func(t *testing.T) {
			ts := startServer(t, func(ts *testServer) {
				if ts.cfg.Users == nil {
					ts.cfg.Users = map[string]*config.User{}
				}
				for _, u := range []string{"alice", "bob"} {
					h, err := config.HashPassword(u + "-pw")
					if err != nil {
						t.Fatal(err)
					}
					ts.cfg.Users[u] = &config.User{Name: u, Password: h}
				}
			})
			as := func(user string) mqtttest.ConnectOptions {
				return mqtttest.ConnectOptions{ClientID: "shared-id", Username: []byte(user), Password: []byte(user + "-pw")}
			}
			alice := mqtttest.Dial(t, ts.addr, 4)
			alice.MustConnect(as("alice"))
			alice.MustSubscribe(mqtttest.Sub("users/alice/+", 1))
			alice.Close()
			ts.waitOffline("shared-id")
			// The owner resumes (and leaves again).
			alice = mqtttest.Dial(t, ts.addr, 4)
			if ack := alice.MustConnect(as("alice")); !ack.SessionPresent {
				t.Fatal("the owner's session was not resumed")
			}
			alice.Close()
			ts.waitOffline("shared-id")
			if restart {
				ts.restart() // the owner must come from the store now
			}

			bob := mqtttest.Dial(t, ts.addr, 4)
			if ack := bob.MustConnect(as("bob")); ack.SessionPresent {
				t.Fatal("another user resumed the session")
			}
			pub := mqtttest.Dial(t, ts.addr, 4)
			pub.MustConnect(mqtttest.ConnectOptions{ClientID: "owner-pub", Clean: true})
			pub.MustPublish("users/alice/secret", []byte("alice-private"), 1, false)
			if pk, err := bob.AwaitType(packets.Publish, 300*time.Millisecond); err == nil {
				t.Fatalf("another user got %s through the first user's subscription", mqtttest.Describe(pk))
			}
		})
	}
}

// waitingPolicy stands for a policy waiting for a password-check slot: it
// waits until its context ends, then refuses as busy.
type waitingPolicy struct{ entered chan struct{} }

func (p waitingPolicy) Connect(cfg *config.Config, info ConnInfo) (Client, byte) {
	p.entered <- struct{}{}
	<-info.Context.Done()
	return nil, 0x89
}

// Close does not wait for a CONNECT whose policy waits (for a password
// check): the wait ends as Close begins, not at the connect timeout.
func TestCloseEndsAPolicyWait(t *testing.T) {
	entered := make(chan struct{}, 1)
	ts := startServer(t, func(ts *testServer) { ts.opts.Policy = waitingPolicy{entered} })
	c := mqtttest.Dial(t, ts.addr, 4)
	c.MustSend(mqtttest.ConnectPacket(mqtttest.ConnectOptions{ClientID: "waits", Clean: true}, 4))
	select {
	case <-entered:
	case <-time.After(waitLong):
		t.Fatal("the policy was never asked")
	}
	start := time.Now()
	ts.e.Close()
	if d := time.Since(start); d > ts.e.limits.ConnectTimeout/2 {
		t.Fatalf("Close took %v: it waited for the policy until the connect timeout", d)
	}
}
