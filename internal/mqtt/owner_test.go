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
			if restart {
				ts.restart()
			}
			// The owner resumes.
			alice = mqtttest.Dial(t, ts.addr, 4)
			if ack := alice.MustConnect(as("alice")); !ack.SessionPresent {
				t.Fatal("the owner's session was not resumed")
			}
			alice.Close()
			ts.waitOffline("shared-id")

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
