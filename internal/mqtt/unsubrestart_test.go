package mqtt

import (
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
	"github.com/mqsight/mqsight/internal/store"
)

// A delivery in flight when its subscription is removed stays with the
// session until the client completes it ([MQTT-3.10.4-3]), also across a
// server restart: the reconnecting client gets the PUBLISH again, or the
// PUBREL, under the same packet identifier ([MQTT-4.4.0-1]). Were it
// forgotten, a client holding a QoS 2 identifier awaiting PUBREL would
// take a new message under that identifier for a duplicate.
func TestInflightOfRemovedSubscriptionSurvivesRestart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		qos    byte
		pubrec bool // the client answered PUBREC before unsubscribing
	}{
		{"QoS 1 sent", 1, false},
		{"QoS 2 sent", 2, false},
		{"QoS 2 PUBREC received", 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t)
			sub, _, m := inFlight(t, ts, "unsub", "u/#", "u/x", "in flight", tc.qos)
			if tc.pubrec {
				sub.MustSend(mqtttest.AckPacket(packets.Pubrec, m.PacketID, 0))
				if _, err := sub.AwaitAck(packets.Pubrel, m.PacketID, waitLong); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := sub.Unsubscribe("u/#"); err != nil {
				t.Fatal(err)
			}
			sub.Close()
			ts.waitOffline("unsub")
			ts.restart()

			sub = mqtttest.Dial(t, ts.addr, 4)
			if ack := sub.MustConnect(mqtttest.ConnectOptions{ClientID: "unsub"}); !ack.SessionPresent {
				t.Fatal("session lost")
			}
			if tc.pubrec {
				if _, err := sub.AwaitAck(packets.Pubrel, m.PacketID, waitLong); err != nil {
					t.Fatalf("PUBREL not resent after the restart: %v", err)
				}
				sub.MustSend(mqtttest.AckPacket(packets.Pubcomp, m.PacketID, 0))
			} else {
				again, err := sub.AwaitType(packets.Publish, waitLong)
				if err != nil {
					t.Fatalf("PUBLISH not resent after the restart: %v", err)
				}
				if again.PacketID != m.PacketID || !again.FixedHeader.Dup || again.FixedHeader.Qos != tc.qos ||
					string(again.Payload) != "in flight" {
					t.Fatalf("resent %s; want the same message, packet identifier %d, QoS %d, DUP", mqtttest.Describe(again), m.PacketID, tc.qos)
				}
				if tc.qos == 1 {
					sub.MustSend(mqtttest.AckPacket(packets.Puback, m.PacketID, 0))
				} else {
					sub.MustSend(mqtttest.AckPacket(packets.Pubrec, m.PacketID, 0))
					if _, err := sub.AwaitAck(packets.Pubrel, m.PacketID, waitLong); err != nil {
						t.Fatal(err)
					}
					sub.MustSend(mqtttest.AckPacket(packets.Pubcomp, m.PacketID, 0))
				}
			}
			sub.ExpectNothing(300 * time.Millisecond)
			sub.Close()
			ts.waitOffline("unsub")
			ts.restart()
			if n := countRecords(t, ts, store.KindReference) + countRecords(t, ts, store.KindMessage); n != 0 {
				t.Fatalf("%d reference and message records left after the delivery completed", n)
			}
		})
	}
}

// A subscription removed with a delivery in flight and then made again
// with the same filter numbers its references after that delivery's, so
// that the delivery's completion does not delete a new message's
// reference (which a restart would then lose).
func TestResubscribeKeepsInflightOfRemovedSubscription(t *testing.T) {
	ts := startServer(t)
	sub, pub, first := inFlight(t, ts, "resub", "r/#", "r/x", "first", 1)
	if _, err := sub.Unsubscribe("r/#"); err != nil {
		t.Fatal(err)
	}
	sub.MustSubscribe(mqtttest.Sub("r/#", 1))
	pub.MustPublish("r/x", []byte("second"), 1, false)
	second, err := sub.AwaitType(packets.Publish, waitLong)
	if err != nil {
		t.Fatal(err)
	}
	if string(second.Payload) != "second" {
		t.Fatalf("got %s; want second", mqtttest.Describe(second))
	}
	// Complete the first delivery only; the second stays in flight.
	sub.MustSend(mqtttest.AckPacket(packets.Puback, first.PacketID, 0))
	sub.ExpectNothing(200 * time.Millisecond)
	sub.Close()
	ts.waitOffline("resub")
	ts.restart()

	sub = mqtttest.Dial(t, ts.addr, 4)
	sub.MustConnect(mqtttest.ConnectOptions{ClientID: "resub"})
	again, err := sub.AwaitType(packets.Publish, waitLong)
	if err != nil {
		t.Fatalf("the second message was lost at the restart: %v", err)
	}
	if string(again.Payload) != "second" || again.PacketID != second.PacketID || !again.FixedHeader.Dup {
		t.Fatalf("resent %s; want second, packet identifier %d, DUP", mqtttest.Describe(again), second.PacketID)
	}
	sub.MustSend(mqtttest.AckPacket(packets.Puback, again.PacketID, 0))
	sub.ExpectNothing(300 * time.Millisecond)
}

// A session that ends with a delivery of a removed subscription in flight
// leaves no reference or message behind.
func TestEndedSessionDropsInflightOfRemovedSubscription(t *testing.T) {
	ts := startServer(t)
	sub, _, _ := inFlight(t, ts, "unsubend", "e/#", "e/x", "in flight", 1)
	if _, err := sub.Unsubscribe("e/#"); err != nil {
		t.Fatal(err)
	}
	sub.Close()
	ts.waitOffline("unsubend")

	sub = mqtttest.Dial(t, ts.addr, 4)
	sub.MustConnect(mqtttest.ConnectOptions{ClientID: "unsubend", Clean: true}) // after the old session ended
	sub.ExpectNothing(200 * time.Millisecond)
	// Not left for the next start's cleanup of orphans either.
	if n := countRecords(t, ts, store.KindReference) + countRecords(t, ts, store.KindMessage); n != 0 {
		t.Fatalf("%d reference and message records left after the session ended", n)
	}
}

func countRecords(t *testing.T, ts *testServer, kind store.Kind) int {
	t.Helper()
	n := 0
	if err := ts.store.Scan(store.KindPrefix(kind), func(k, v []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// A v5 client that comes back with Session Expiry Interval 0 turns its
// session into a memory-only one: the delivery of a removed subscription
// still in flight is resent, and its reference leaves the store with the
// session's other records.
func TestUnpersistedSessionDropsInflightOfRemovedSubscription(t *testing.T) {
	ts := startServer(t)
	sub := mqtttest.Dial(t, ts.addr, 5)
	expiry := packets.Properties{SessionExpiryInterval: 3600, SessionExpiryIntervalFlag: true}
	sub.MustConnect(mqtttest.ConnectOptions{ClientID: "unsubmem", Properties: expiry})
	sub.MustSubscribe(mqtttest.Sub("m/#", 1))
	pub := mqtttest.Dial(t, ts.addr, 4)
	pub.MustConnect(mqtttest.ConnectOptions{ClientID: "unsubmempub", Clean: true})
	pub.MustPublish("m/x", []byte("in flight"), 1, false)
	m, err := sub.AwaitType(packets.Publish, waitLong)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Unsubscribe("m/#"); err != nil {
		t.Fatal(err)
	}
	sub.Close()
	ts.waitOffline("unsubmem")

	sub = mqtttest.Dial(t, ts.addr, 5)
	sub.MustConnect(mqtttest.ConnectOptions{ClientID: "unsubmem"}) // Session Expiry Interval 0
	again, err := sub.AwaitType(packets.Publish, waitLong)
	if err != nil || again.PacketID != m.PacketID {
		t.Fatalf("in-flight delivery not resent with packet identifier %d: %v", m.PacketID, err)
	}
	if n := countRecords(t, ts, store.KindReference) + countRecords(t, ts, store.KindMessage); n != 0 {
		t.Fatalf("%d reference and message records left for a memory-only session", n)
	}
	sub.MustSend(mqtttest.AckPacket(packets.Puback, m.PacketID, 0))
	sub.ExpectNothing(200 * time.Millisecond)
}

// A delivery in flight keeps the QoS it went out with across a restart,
// also when its subscription was replaced since (made again after an
// UNSUBSCRIBE, or replaced by a new SUBSCRIBE) with a lower QoS: the
// reconnecting client gets the QoS 2 PUBLISH or the PUBREL again and can
// complete it, and nothing is left in flight or in the store.
func TestInflightKeepsItsQoSAcrossRestart(t *testing.T) {
	for _, tc := range []struct {
		name        string
		pubrec      bool
		unsubscribe bool
	}{
		{"sent, resubscribed", false, true},
		{"PUBREC received, resubscribed", true, true},
		{"sent, subscription replaced", false, false},
		{"PUBREC received, subscription replaced", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t)
			sub, _, m := inFlight(t, ts, "qoskeep", "k/#", "k/x", "two", 2)
			if tc.pubrec {
				sub.MustSend(mqtttest.AckPacket(packets.Pubrec, m.PacketID, 0))
				if _, err := sub.AwaitAck(packets.Pubrel, m.PacketID, waitLong); err != nil {
					t.Fatal(err)
				}
			}
			if tc.unsubscribe {
				if _, err := sub.Unsubscribe("k/#"); err != nil {
					t.Fatal(err)
				}
			}
			sub.MustSubscribe(mqtttest.Sub("k/#", 0))
			sub.Close()
			ts.waitOffline("qoskeep")
			ts.restart()

			sub = mqtttest.Dial(t, ts.addr, 4)
			sub.MustConnect(mqtttest.ConnectOptions{ClientID: "qoskeep"})
			if tc.pubrec {
				if _, err := sub.AwaitAck(packets.Pubrel, m.PacketID, waitLong); err != nil {
					t.Fatal(err)
				}
			} else {
				again, err := sub.AwaitType(packets.Publish, waitLong)
				if err != nil {
					t.Fatal(err)
				}
				if again.FixedHeader.Qos != 2 || again.PacketID != m.PacketID || !again.FixedHeader.Dup {
					t.Fatalf("resent %s; want QoS 2, packet identifier %d, DUP", mqtttest.Describe(again), m.PacketID)
				}
				sub.MustSend(mqtttest.AckPacket(packets.Pubrec, m.PacketID, 0))
				if _, err := sub.AwaitAck(packets.Pubrel, m.PacketID, waitLong); err != nil {
					t.Fatal(err)
				}
			}
			sub.MustSend(mqtttest.AckPacket(packets.Pubcomp, m.PacketID, 0))
			sub.ExpectNothing(300 * time.Millisecond)
			ts.e.mu.Lock()
			inflight := len(ts.e.mu.sessions["qoskeep"].inflight)
			ts.e.mu.Unlock()
			if inflight != 0 {
				t.Fatalf("%d deliveries still in flight after PUBCOMP", inflight)
			}
			if n := countRecords(t, ts, store.KindReference); n != 0 {
				t.Fatalf("%d references left after PUBCOMP", n)
			}
		})
	}
}

// inFlight connects a persistent 3.1.1 session clientID subscribed to
// filter at qos and a publisher, publishes payload to topic at qos, and
// returns both connections and the PUBLISH the subscriber got (left
// unacknowledged, so in flight).
func inFlight(t *testing.T, ts *testServer, clientID, filter, topic, payload string, qos byte) (sub, pub *mqtttest.Conn, m *packets.Packet) {
	t.Helper()
	sub = mqtttest.Dial(t, ts.addr, 4)
	sub.MustConnect(mqtttest.ConnectOptions{ClientID: clientID})
	sub.MustSubscribe(mqtttest.Sub(filter, qos))
	pub = mqtttest.Dial(t, ts.addr, 4)
	pub.MustConnect(mqtttest.ConnectOptions{ClientID: clientID + "-pub", Clean: true})
	pub.MustPublish(topic, []byte(payload), qos, false)
	m, err := sub.AwaitType(packets.Publish, waitLong)
	if err != nil {
		t.Fatal(err)
	}
	return sub, pub, m
}
