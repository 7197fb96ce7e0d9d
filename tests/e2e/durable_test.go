package e2e

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

func durableV5(id string, receiveMax uint16) mqtttest.ConnectOptions {
	o := mqtttest.ConnectOptions{ClientID: id}
	o.Properties.SessionExpiryInterval, o.Properties.SessionExpiryIntervalFlag = 86400, true
	o.Properties.ReceiveMaximum = receiveMax
	return o
}

// publishAll publishes n QoS 1 messages "%05d" to topic, keeping at most
// window unacknowledged, and returns once every PUBACK arrived.
func publishAll(t *testing.T, c *mqtttest.Conn, topic string, from, n, window int) {
	t.Helper()
	for base := from; base < from+n; base += window {
		end := min(base+window, from+n)
		ids := make([]uint16, 0, end-base)
		for i := base; i < end; i++ {
			pk := c.PublishPacket(topic, fmt.Appendf(nil, "%05d", i), 1, false)
			c.MustSend(pk)
			ids = append(ids, pk.PacketID)
		}
		for _, id := range ids {
			ack, err := c.AwaitAck(packets.Puback, id, 30*time.Second)
			if err != nil {
				t.Fatalf("PUBACK %d: %v", id, err)
			}
			if ack.ReasonCode >= 0x80 {
				t.Fatalf("publish refused: %s", mqtttest.Describe(ack))
			}
		}
	}
}

// The acceptance: 10,000 QoS 1 messages published while a durable
// subscriber is offline, the server kill -9'd and restarted, then the
// subscriber reconnects with Receive Maximum 10 and gets all 10,000, in
// order, none with DUP, never more than 10 unacknowledged.
func TestOfflineDurableSubscriberAcrossKill9(t *testing.T) {
	const n, window = 10000, 10
	// 10,000 buffered messages need a TopicPolicy allowing them (the
	// default MaxMessages is 5000).
	d := prepareDataDir(t, func(c *config.Config) { c.TopicPolicies["DemoTopicPolicy"].MaxMessages = 20000 })
	p := start(t, d.Path, nil)

	sub := mqtttest.Dial(t, d.MQTTAddr, 5)
	sub.MustConnect(durableV5("dev-10k", 0))
	sub.MustSubscribe(mqtttest.Sub("fleet/#", 1))
	sub.Disconnect(0)

	pub := mqtttest.Dial(t, d.MQTTAddr, 5)
	pub.MustConnect(mqtttest.ConnectOptions{ClientID: "pub-10k", Clean: true})
	publishAll(t, pub, "fleet/a", 0, n, 500)
	pub.Close()

	p.kill9()
	p = start(t, d.Path, nil)
	defer p.terminate(30 * time.Second)

	sub = mqtttest.Dial(t, d.MQTTAddr, 5)
	ack := sub.MustConnect(durableV5("dev-10k", window))
	if !ack.SessionPresent {
		t.Fatal("session lost across kill -9")
	}
	next := 0
	for next < n {
		var batch []*packets.Packet
		for len(batch) < window && next+len(batch) < n {
			pk, err := sub.AwaitType(packets.Publish, 30*time.Second)
			if err != nil {
				t.Fatalf("after %d messages: %v", next+len(batch), err)
			}
			batch = append(batch, pk)
		}
		if next%2000 == 0 {
			sub.ExpectNothing(50 * time.Millisecond) // window full: an 11th would be a violation
		}
		for _, pk := range batch {
			if want := fmt.Sprintf("%05d", next); string(pk.Payload) != want {
				t.Fatalf("message %d: payload %q (lost or out of order)", next, pk.Payload)
			}
			if pk.FixedHeader.Dup {
				t.Fatalf("message %d has DUP set but was never sent before", next)
			}
			sub.MustAcknowledge(pk)
			next++
		}
	}
	sub.ExpectNothing(200 * time.Millisecond)
}

// Publishers keep publishing while the server is killed at random moments;
// every message whose PUBACK the publisher saw must reach the durable
// subscriber after the restart (duplicates allowed, QoS 1).
func TestNoAcknowledgedMessageLostAcrossKill9(t *testing.T) {
	cycles := 5
	if testing.Short() {
		cycles = 2
	}
	d := prepareDataDir(t, nil)
	p := start(t, d.Path, nil)
	sub := mqtttest.Dial(t, d.MQTTAddr, 5)
	sub.MustConnect(durableV5("audit", 0))
	sub.MustSubscribe(mqtttest.Sub("audit/#", 1))
	sub.Disconnect(0)

	acked := map[string]bool{}
	seq := 0
	for cycle := range cycles {
		pub := mqtttest.Dial(t, d.MQTTAddr, 4)
		pub.MustConnect(mqtttest.ConnectOptions{ClientID: "auditpub", Clean: true})
		killAt := time.Now().Add(time.Duration(50+rand.IntN(250)) * time.Millisecond)
		inflight := map[uint16]string{}
		for time.Now().Before(killAt) && seq < 100000 {
			payload := fmt.Sprintf("c%d-%06d", cycle, seq)
			seq++
			pk := pub.PublishPacket("audit/x", []byte(payload), 1, false)
			if pub.Send(pk) != nil {
				break
			}
			inflight[pk.PacketID] = payload
			// Drain acks that already arrived.
			for {
				ack, err := pub.Next(time.Millisecond)
				if err != nil || ack == nil {
					break
				}
				if ack.FixedHeader.Type == packets.Puback {
					acked[inflight[ack.PacketID]] = true
					delete(inflight, ack.PacketID)
				}
			}
		}
		p.kill9()
		// Acks read after the kill were sent before it: they count too.
		for {
			ack, err := pub.Next(100 * time.Millisecond)
			if err != nil || ack == nil {
				break
			}
			if ack.FixedHeader.Type == packets.Puback {
				acked[inflight[ack.PacketID]] = true
			}
		}
		pub.Close()
		p = start(t, d.Path, nil)
	}
	defer p.terminate(30 * time.Second)
	delete(acked, "")
	if len(acked) == 0 {
		t.Fatal("no publish was acknowledged; the test proved nothing")
	}

	sub = mqtttest.Dial(t, d.MQTTAddr, 5)
	sub.MustConnect(durableV5("audit", 0))
	got := map[string]bool{}
	for {
		pk, err := sub.AwaitType(packets.Publish, 2*time.Second)
		if err != nil {
			break
		}
		got[string(pk.Payload)] = true
		sub.MustAcknowledge(pk)
	}
	for m := range acked {
		if !got[m] {
			t.Errorf("acknowledged message %s lost", m)
		}
	}
	t.Logf("%d cycles, %d acknowledged, %d delivered", cycles, len(acked), len(got))
}
