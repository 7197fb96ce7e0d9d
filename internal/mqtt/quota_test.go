package mqtt

import (
	"fmt"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// withTopicLimit sets DemoTopicPolicy's MaxMessages and behaviour.
func withTopicLimit(max int, behavior string) func(*testServer) {
	return func(ts *testServer) {
		tp := ts.cfg.TopicPolicies["DemoTopicPolicy"]
		tp.MaxMessages, tp.MaxMessagesBehavior = max, behavior
	}
}

// fillOffline subscribes a durable client to q/# at QoS 1 and disconnects.
func fillOffline(t *testing.T, ts *testServer, id string) {
	sub := mqtttest.Dial(t, ts.addr, 5)
	sub.MustConnect(persistentV5(id))
	sub.MustSubscribe(mqtttest.Sub("q/#", 1))
	sub.Disconnect(0)
}

func TestRejectNewMessages(t *testing.T) {
	ts := startServer(t, withTopicLimit(10, "RejectNewMessages"))
	fillOffline(t, ts, "slow")

	t.Run("v5 publisher gets 0x97", func(t *testing.T) {
		pub := mqtttest.Dial(t, ts.addr, 5)
		pub.MustConnect(mqtttest.ConnectOptions{ClientID: "pub5", Clean: true})
		for i := range 10 {
			ack, err := pub.Publish("q/a", fmt.Appendf(nil, "%05d", i), 1, false)
			if err != nil || ack.ReasonCode != 0 {
				t.Fatalf("publish %d: %v %v", i, err, ack)
			}
		}
		ack, err := pub.Publish("q/a", []byte("overflow"), 1, false)
		if err != nil {
			t.Fatal(err)
		}
		if ack.ReasonCode != 0x97 {
			t.Fatalf("11th publish: reason 0x%02X, want 0x97 Quota exceeded", ack.ReasonCode)
		}
		ack, err = pub.Publish("q/a", []byte("overflow2"), 2, false)
		if err != nil || ack.FixedHeader.Type != packets.Pubrec || ack.ReasonCode != 0x97 {
			t.Fatalf("QoS 2 overflow: got %v, %v; want PUBREC 0x97", mqtttest.Describe(ack), err)
		}
		// QoS 0 to a full buffer is dropped, the connection stays.
		pub.MustSend(pub.PublishPacket("q/a", []byte("qos0"), 0, false))
		if err := pub.Ping(); err != nil {
			t.Fatalf("connection closed after QoS 0 overflow: %v", err)
		}
	})
	t.Run("v3.1.1 publisher is disconnected", func(t *testing.T) {
		pub := mqtttest.Dial(t, ts.addr, 4)
		pub.MustConnect(mqtttest.ConnectOptions{ClientID: "pub4", Clean: true})
		pub.MustSend(pub.PublishPacket("q/a", []byte("overflow"), 1, false))
		if kind, _ := pub.WaitClosed(waitLong); !kind.ClosedByBroker() {
			t.Fatalf("v3.1.1 publisher not disconnected on a full buffer: %v", kind)
		}
	})
	st := subStats(t, ts, "slow")
	if st.Buffered != 10 || st.Rejected < 3 {
		t.Fatalf("buffer stats: %+v; want 10 buffered and the refusals counted", st)
	}
	// The buffered ten are the first ten, in order.
	sub := mqtttest.Dial(t, ts.addr, 5)
	sub.MustConnect(persistentV5("slow"))
	receiveInWindows(t, sub, 10, 10)
}

func TestDiscardOldMessages(t *testing.T) {
	ts := startServer(t, withTopicLimit(20, "DiscardOldMessages"))
	fillOffline(t, ts, "slow")
	for _, v := range []byte{4, 5} {
		pub := mqtttest.Dial(t, ts.addr, v)
		pub.MustConnect(mqtttest.ConnectOptions{ClientID: fmt.Sprint("pub", v), Clean: true})
		for i := range 25 {
			ack, err := pub.Publish("q/a", fmt.Appendf(nil, "v%d-%02d", v, i), 1, false)
			if err != nil || ack.ReasonCode != 0 {
				t.Fatalf("v%d publish %d refused: %v %v", v, i, err, mqtttest.Describe(ack))
			}
		}
		pub.Disconnect(0)
	}
	// Each overflow drops down to 95% (19) before adding: the buffer holds
	// the newest 20 and the drops are counted.
	st := subStats(t, ts, "slow")
	if st.Buffered != 20 || st.Dropped != 30 {
		t.Fatalf("stats %+v: want 20 buffered, 30 dropped", st)
	}
	sub := mqtttest.Dial(t, ts.addr, 5)
	sub.MustConnect(persistentV5("slow"))
	var got []string
	for range 20 {
		pk := sub.Expect(packets.Publish)
		got = append(got, string(pk.Payload))
		sub.MustAcknowledge(pk)
	}
	if got[0] != "v5-05" || got[19] != "v5-24" {
		t.Fatalf("kept %v; want the newest 20 (v5-05 .. v5-24)", got)
	}
}

func subStats(t *testing.T, ts *testServer, clientID string) SubscriptionStats {
	t.Helper()
	for _, s := range ts.e.Subscriptions() {
		if s.ClientID == clientID {
			return s
		}
	}
	t.Fatalf("no subscription of %s", clientID)
	return SubscriptionStats{}
}
