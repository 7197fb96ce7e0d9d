package mqtt

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// notifyPolicy is the built-in policy with DisconnectedClientNotification
// on for filters under "alerts/".
type notifyPolicy struct{ ConfigPolicy }

type notifyClient struct{ Client }

func (p notifyPolicy) Connect(cfg *config.Config, info ConnInfo) (Client, byte) {
	c, rc := p.ConfigPolicy.Connect(cfg, info)
	if c == nil {
		return nil, rc
	}
	return notifyClient{c}, 0
}

func (notifyClient) Notify(_ *config.Config, filter string) bool {
	return len(filter) > 7 && filter[:7] == "alerts/"
}

// Messages arriving for an offline persistent session's notifying
// subscription are announced once per interval on NotificationTopic; a
// session that reconnects is not announced; other subscriptions are not
// counted.
func TestDisconnectedClientNotification(t *testing.T) {
	ts := startServer(t, func(ts *testServer) {
		ts.opts.Policy = notifyPolicy{}
		ts.opts.Limits.NotificationInterval = 100 * time.Millisecond
		hash, err := config.HashPassword("secret-1")
		if err != nil {
			t.Fatal(err)
		}
		ts.cfg.Users["alice"] = &config.User{Name: "alice", Password: hash}
	})
	watcher := mqtttest.Dial(t, ts.addr, 5)
	watcher.MustConnect(mqtttest.ConnectOptions{ClientID: "watcher", Clean: true})
	watcher.MustSubscribe(mqtttest.Sub(NotificationTopic, 1))

	dev := mqtttest.Dial(t, ts.addr, 4)
	dev.MustConnect(mqtttest.ConnectOptions{ClientID: "dev1", Username: []byte("alice"), Password: []byte("secret-1")})
	dev.MustSubscribe(mqtttest.Sub("alerts/#", 1), mqtttest.Sub("other/#", 1))
	dev.Disconnect(0)
	ts.waitOffline("dev1")

	pub := mqtttest.Dial(t, ts.addr, 4)
	pub.MustConnect(mqtttest.ConnectOptions{ClientID: "pub", Clean: true})
	for _, topic := range []string{"alerts/a", "alerts/a", "alerts/b", "other/x"} {
		pub.MustPublish(topic, []byte("m"), 1, false)
	}
	// The three notifying messages are announced in one notice, or split
	// over consecutive intervals when the publishes straddle one (a busy
	// machine); counted together they must be exact, and other/x never
	// appears.
	want := map[string]int{"alerts/a": 2, "alerts/b": 1}
	got := map[string]int{}
	for notices := 0; got["alerts/a"] < 2 || got["alerts/b"] < 1; notices++ {
		if notices == 3 {
			t.Fatalf("after 3 notices the counts are %v, want %v", got, want)
		}
		pk, err := watcher.AwaitType(packets.Publish, waitLong)
		if err != nil {
			t.Fatalf("counts so far %v, want %v: %v", got, want, err)
		}
		watcher.MustAcknowledge(pk)
		var n notice
		if err := json.Unmarshal(pk.Payload, &n); err != nil {
			t.Fatalf("notice %q: %v", pk.Payload, err)
		}
		if n.ClientID != "dev1" || n.UserID != "alice" || len(n.MessagesArrived) == 0 {
			t.Fatalf("notice %s", pk.Payload)
		}
		for _, a := range n.MessagesArrived {
			got[a.TopicString] += a.MessageCount
		}
	}
	if len(got) != len(want) || got["alerts/a"] != 2 || got["alerts/b"] != 1 {
		t.Fatalf("announced %v, want %v", got, want)
	}
	// Announced once; after a reconnect nothing more.
	watcher.ExpectNothing(300 * time.Millisecond)
	dev = mqtttest.Dial(t, ts.addr, 4)
	dev.MustConnect(mqtttest.ConnectOptions{ClientID: "dev1", Username: []byte("alice"), Password: []byte("secret-1")})
	pub.MustPublish("alerts/c", []byte("m"), 1, false)
	watcher.ExpectNothing(300 * time.Millisecond)
}
