package mqtt

import (
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
	"github.com/mqsight/mqsight/internal/store"
)

// A QoS 2 PUBLISH that got its PUBREC is received for good: when the client
// resends it after a server restart (its PUBREL not sent yet), it is
// acknowledged again and not routed a second time ([MQTT-4.3.3-10]); after
// PUBCOMP the packet identifier is free for a new message.
func TestInboundQoS2SurvivesRestart(t *testing.T) {
	ts := startServer(t)
	sub := mqtttest.Dial(t, ts.addr, 4)
	sub.MustConnect(mqtttest.ConnectOptions{ClientID: "q2sub"})
	sub.MustSubscribe(mqtttest.Sub("q2/#", 2))
	sub.Disconnect(0)

	pub := mqtttest.Dial(t, ts.addr, 4)
	pub.MustConnect(mqtttest.ConnectOptions{ClientID: "q2pub"})
	pk := pub.PublishPacket("q2/x", []byte("once"), 2, false)
	pub.MustSend(pk)
	if _, err := pub.AwaitAck(packets.Pubrec, pk.PacketID, waitLong); err != nil {
		t.Fatal(err)
	}
	pub.Close()

	ts.restart()

	pub = mqtttest.Dial(t, ts.addr, 4)
	if ack := pub.MustConnect(mqtttest.ConnectOptions{ClientID: "q2pub"}); !ack.SessionPresent {
		t.Fatal("publisher session lost")
	}
	pk.FixedHeader.Dup = true
	pub.MustSend(pk)
	if _, err := pub.AwaitAck(packets.Pubrec, pk.PacketID, waitLong); err != nil {
		t.Fatal(err)
	}
	pub.MustSend(mqtttest.AckPacket(packets.Pubrel, pk.PacketID, 0))
	if _, err := pub.AwaitAck(packets.Pubcomp, pk.PacketID, waitLong); err != nil {
		t.Fatal(err)
	}
	// The identifier is free again: the same id now carries a new message.
	pk2 := pub.PublishPacket("q2/x", []byte("second"), 2, false)
	pk2.PacketID = pk.PacketID
	pub.MustSend(pk2)
	if _, err := pub.AwaitAck(packets.Pubrec, pk.PacketID, waitLong); err != nil {
		t.Fatal(err)
	}
	pub.MustSend(mqtttest.AckPacket(packets.Pubrel, pk.PacketID, 0))
	if _, err := pub.AwaitAck(packets.Pubcomp, pk.PacketID, waitLong); err != nil {
		t.Fatal(err)
	}

	sub = mqtttest.Dial(t, ts.addr, 4)
	sub.MustConnect(mqtttest.ConnectOptions{ClientID: "q2sub"})
	var got []string
	for {
		m, err := sub.AwaitType(packets.Publish, 500*time.Millisecond)
		if err != nil {
			break
		}
		got = append(got, string(m.Payload))
		sub.MustSend(mqtttest.AckPacket(packets.Pubrec, m.PacketID, 0))
		if _, err := sub.AwaitAck(packets.Pubrel, m.PacketID, waitLong); err != nil {
			t.Fatal(err)
		}
		sub.MustSend(mqtttest.AckPacket(packets.Pubcomp, m.PacketID, 0))
	}
	if len(got) != 2 || got[0] != "once" || got[1] != "second" {
		t.Fatalf("subscriber got %q; want [once second], each exactly once", got)
	}
}

// An outbound QoS 2 delivery's PUBREL leaves only once the PUBREC state is
// on disk: a client that got the PUBREL has released the identifier, and a
// server restarting to the older state would send the PUBLISH again
// ([MQTT-4.3.3-6]).
func TestOutboundPubrelWaitsForDisk(t *testing.T) {
	ts := startServer(t)
	sub := mqtttest.Dial(t, ts.addr, 4)
	sub.MustConnect(mqtttest.ConnectOptions{ClientID: "q2out"})
	sub.MustSubscribe(mqtttest.Sub("q2/#", 2))
	pub := mqtttest.Dial(t, ts.addr, 4)
	pub.MustConnect(mqtttest.ConnectOptions{ClientID: "q2outpub", Clean: true})
	pub.MustPublish("q2/x", []byte("once"), 2, false)
	m, err := sub.AwaitType(packets.Publish, waitLong)
	if err != nil {
		t.Fatal(err)
	}

	// Hold every commit's completion until released.
	hold, held := make(chan struct{}), make(chan struct{}, 1)
	ts.store.SetCommitHook(func(store.CommitEvent) {
		select {
		case held <- struct{}{}:
		default:
		}
		<-hold
	})
	sub.MustSend(mqtttest.AckPacket(packets.Pubrec, m.PacketID, 0))
	select {
	case <-held:
	case <-time.After(waitLong):
		t.Fatal("the PUBREC state was never committed")
	}
	if f, err := sub.NextFrame(300 * time.Millisecond); err == nil {
		close(hold)
		t.Fatalf("got %s before the PUBREC state was on disk", f)
	}
	close(hold)
	ts.store.SetCommitHook(nil)
	if _, err := sub.AwaitAck(packets.Pubrel, m.PacketID, waitLong); err != nil {
		t.Fatal(err)
	}
}
