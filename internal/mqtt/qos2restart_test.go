package mqtt

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
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

	awaitHeld, release := holdCommits(t, ts)
	sub.MustSend(mqtttest.AckPacket(packets.Pubrec, m.PacketID, 0))
	awaitHeld()
	if f, err := sub.NextFrame(300 * time.Millisecond); err == nil {
		t.Fatalf("got %s before the PUBREC state was on disk", f)
	}
	release()
	if _, err := sub.AwaitAck(packets.Pubrel, m.PacketID, waitLong); err != nil {
		t.Fatal(err)
	}
}

// A shared subscription's QoS 2 delivery in flight stays with its member
// across a server restart ([MQTT-4.8.2-4]): after the PUBLISH, the member
// gets it again (DUP) when it comes back; after its PUBREC, the PUBREL.
// The other member never gets it. If the member's session ended while the
// server was down, nobody gets it ([MQTT-4.8.2-5]).
func TestSharedQoS2InFlightSurvivesRestart(t *testing.T) {
	for _, tc := range []struct {
		name        string
		pubrec      bool // the member acknowledged with PUBREC before the restart
		sessionEnds bool
	}{
		{name: "after PUBLISH"},
		{name: "after PUBREC", pubrec: true},
		{name: "member session ended", sessionEnds: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &offsetClock{}
			ts := startServer(t, withClock(clock))
			// b's session never expires; a's expires after an hour.
			a, pub := sharedPair(t, ts, v5Resume, v5Expiry(maxExpiry))
			pub.MustPublish("t", []byte("x"), 2, false)
			first := a.ExpectPublish()
			if tc.pubrec {
				a.MustSend(mqtttest.AckPacket(packets.Pubrec, first.PacketID, 0))
				if _, err := a.AwaitAck(packets.Pubrel, first.PacketID, waitLong); err != nil {
					t.Fatal(err)
				}
			}
			v5Offline(t, ts, a)
			ts.close()
			if tc.sessionEnds {
				clock.advance(2 * time.Hour) // past a's one-hour session expiry
			}
			ts.open()

			b, ack := v5Open(t, ts, "b", v5Resume, v5Expiry(maxExpiry))
			if !ack.SessionPresent {
				t.Fatal("b's session was lost")
			}
			b.ExpectNothing(v5Quiet) // never handed to the other member
			a, ack = v5Open(t, ts, "a", v5Persistent)
			switch {
			case tc.sessionEnds:
				if ack.SessionPresent {
					t.Fatal("a's session outlived its expiry")
				}
				a.ExpectNothing(v5Quiet)
			case tc.pubrec:
				if _, err := a.AwaitAck(packets.Pubrel, first.PacketID, waitLong); err != nil {
					t.Fatalf("PUBREL not resent after the restart: %v", err)
				}
				a.MustSend(mqtttest.AckPacket(packets.Pubcomp, first.PacketID, 0))
				a.ExpectNothing(v5Quiet)
			default:
				a.MustAcknowledge(expectResent(t, a, "x", first.PacketID))
			}
			b.ExpectNothing(v5Quiet)
		})
	}
}

// A member that comes back with a smaller Receive Maximum than it had
// deliveries in flight gets the rest later, with their packet identifiers
// ([MQTT-4.4.0-1]); none goes to another member of the group
// ([MQTT-4.8.2-4]), also across a server restart.
func TestSharedQoS2StaysWithMemberUnderSmallerWindow(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			ts := startServer(t)
			a, pub := sharedPair(t, ts, v5Persistent)
			pub.MustPublish("t", []byte("m1"), 2, false)
			pub.MustPublish("t", []byte("m2"), 2, false)
			first := map[string]uint16{}
			for range 2 {
				pk := a.ExpectPublish()
				first[string(pk.Payload)] = pk.PacketID
			}
			v5Offline(t, ts, a)
			if restart {
				ts.restart()
			}
			b, _ := v5Open(t, ts, "b", v5Persistent)
			a, _ = v5Open(t, ts, "a", v5Persistent, v5ReceiveMax(1))
			got := expectResent(t, a, "m1", first["m1"])
			pub, _ = v5Open(t, ts, "pub")
			pub.MustPublish("t", []byte("m3"), 2, false) // new: may go to b
			a.ExpectNothing(v5Quiet)                     // the window is full
			a.MustAcknowledge(got)
			a.MustAcknowledge(expectResent(t, a, "m2", first["m2"]))
			for {
				pk, err := b.AwaitType(packets.Publish, v5Quiet)
				if err != nil {
					break
				}
				if string(pk.Payload) != "m3" {
					t.Fatalf("the other member got %q, which was in flight to a", pk.Payload)
				}
				b.MustAcknowledge(pk)
			}
		})
	}
}

// A member that unsubscribes while a QoS 2 delivery of the group is in
// flight to it completes that delivery; the group does not hand it to
// another member ([MQTT-4.8.2-4], [MQTT-3.10.4-3]).
func TestSharedQoS2InFlightSurvivesUnsubscribe(t *testing.T) {
	ts := startServer(t)
	a, pub := sharedPair(t, ts, v5Persistent)
	pub.MustPublish("t", []byte("x"), 2, false)
	got := a.ExpectPublish()
	if err := a.Send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe, Qos: 1}, PacketID: 900,
		Filters: packets.Subscriptions{{Filter: "$share/g/t"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AwaitAck(packets.Unsuback, 900, waitLong); err != nil {
		t.Fatal(err)
	}
	b, _ := v5Open(t, ts, "b", v5Persistent)
	b.ExpectNothing(v5Quiet)
	a.MustAcknowledge(got) // PUBREC, PUBREL, PUBCOMP
	b.ExpectNothing(v5Quiet)
}

// PUBRELs leave in the order of their PUBRECs ([MQTT-4.6.0-4]), also when
// one waits for its state to reach the disk (a durable shared group's
// entry) and the next needs no store write (a non-persistent session's own
// subscription).
func TestPubrelOrderAcrossDurableAndNot(t *testing.T) {
	ts := startServer(t)
	p, _ := v5Open(t, ts, "p", v5Persistent) // makes the group durable
	p.MustSubscribe(mqtttest.Sub("$share/g/t", 2))
	v5Offline(t, ts, p)
	c, _ := v5Open(t, ts, "c")
	c.MustSubscribe(mqtttest.Sub("$share/g/t", 2))
	c.MustSubscribe(mqtttest.Sub("own", 2))
	pub, _ := v5Open(t, ts, "pub")
	pub.MustPublish("t", []byte("shared"), 2, false)
	shared := c.ExpectPublish()
	pub.MustPublish("own", []byte("own"), 2, false)
	own := c.ExpectPublish()

	awaitHeld, release := holdCommits(t, ts)
	c.MustSend(mqtttest.AckPacket(packets.Pubrec, shared.PacketID, 0))
	c.MustSend(mqtttest.AckPacket(packets.Pubrec, own.PacketID, 0))
	awaitHeld()
	if f, err := c.NextFrame(300 * time.Millisecond); err == nil {
		t.Fatalf("got %s while the first PUBREL waited for the disk", f)
	}
	release()
	for _, want := range []uint16{shared.PacketID, own.PacketID} {
		pk, err := c.AwaitType(packets.Pubrel, waitLong)
		if err != nil {
			t.Fatal(err)
		}
		if pk.PacketID != want {
			t.Fatalf("PUBREL %d, want %d first", pk.PacketID, want)
		}
	}
}

// A message waiting in flight for a smaller window that no longer fits the
// client's Maximum Packet Size is discarded as if sent ([MQTT-3.1.2-25]);
// it does not hold a window slot for the rest of the connection.
func TestUnsentTooLargeIsDiscarded(t *testing.T) {
	ts := startServer(t)
	a, _ := v5Open(t, ts, "a", v5Persistent)
	a.MustSubscribe(mqtttest.Sub("t", 1))
	pub, _ := v5Open(t, ts, "pub")
	for _, p := range [][]byte{[]byte("m1"), []byte("m2"), bytes.Repeat([]byte("x"), 500), []byte("m4")} {
		pub.MustPublish("t", p, 1, false)
	}
	for range 4 {
		a.ExpectPublish()
	}
	v5Offline(t, ts, a)
	a, _ = v5Open(t, ts, "a", v5Persistent, func(o *mqtttest.ConnectOptions) {
		o.Properties.ReceiveMaximum, o.Properties.MaximumPacketSize = 1, 200
	})
	for _, want := range []string{"m1", "m2", "m4"} {
		pk, err := a.AwaitType(packets.Publish, waitLong)
		if err != nil {
			t.Fatalf("awaiting %s: %v", want, err)
		}
		if string(pk.Payload) != want {
			t.Fatalf("got %q, want %s", pk.Payload, want)
		}
		a.MustAcknowledge(pk)
	}
	pub.MustPublish("t", []byte("new"), 1, false)
	a.ExpectMessage("t", []byte("new"))
}

// An acknowledgement of the wrong kind for a message waiting in flight for
// the window is ignored: the message still goes out when the window opens.
func TestWrongAckLeavesUnsentWaiting(t *testing.T) {
	ts := startServer(t)
	a, _ := v5Open(t, ts, "a", v5Persistent)
	a.MustSubscribe(mqtttest.Sub("t", 1))
	pub, _ := v5Open(t, ts, "pub")
	pub.MustPublish("t", []byte("m1"), 1, false)
	pub.MustPublish("t", []byte("m2"), 1, false)
	m1, m2 := a.ExpectPublish(), a.ExpectPublish()
	v5Offline(t, ts, a)
	a, _ = v5Open(t, ts, "a", v5Persistent, v5ReceiveMax(1))
	got := a.ExpectPublish()
	if got.PacketID != m1.PacketID {
		t.Fatalf("first resend %s, want m1", mqtttest.Describe(got))
	}
	a.MustSend(mqtttest.AckPacket(packets.Pubcomp, m2.PacketID, 0)) // not an ack of a QoS 1 message
	a.MustAcknowledge(got)
	if again := a.ExpectPublish(); again.PacketID != m2.PacketID || string(again.Payload) != "m2" {
		t.Fatalf("second resend %s, want m2 with id %d", mqtttest.Describe(again), m2.PacketID)
	}
}

// A message resent after its expiry has passed carries a Message Expiry
// Interval of 1, not a wrapped negative one.
func TestResendAfterExpiryCarriesOneSecond(t *testing.T) {
	clock := &offsetClock{}
	ts := startServer(t, withClock(clock))
	a, _ := v5Open(t, ts, "a", v5Persistent)
	a.MustSubscribe(mqtttest.Sub("t", 1))
	pub, _ := v5Open(t, ts, "pub")
	pk := pub.PublishPacket("t", []byte("short"), 1, false)
	pk.Properties.MessageExpiryInterval = 1
	pub.MustSend(pk)
	a.ExpectPublish()
	v5Offline(t, ts, a)
	clock.advance(time.Minute)
	a, _ = v5Open(t, ts, "a", v5Persistent)
	got := a.ExpectPublish()
	if mei := got.Properties.MessageExpiryInterval; mei != 1 {
		t.Fatalf("resent with Message Expiry Interval %d, want 1", mei)
	}
}

// A queue's QoS 2 delivery in flight stays with its consumer across a
// restart; another consumer does not get it.
func TestQueueQoS2InFlightSurvivesRestart(t *testing.T) {
	ts := startServer(t, withQueue("Q2", 100, true, true))
	a, _ := v5Open(t, ts, "a", v5Persistent)
	a.MustSubscribe(mqtttest.Sub("$queue/Q2", 2))
	pub, _ := v5Open(t, ts, "pub")
	pub.MustPublish("$queue/Q2", []byte("x"), 2, false)
	first := a.ExpectPublish()
	v5Offline(t, ts, a)
	ts.restart()
	b, _ := v5Open(t, ts, "b", v5Persistent)
	b.MustSubscribe(mqtttest.Sub("$queue/Q2", 2))
	b.ExpectNothing(v5Quiet)
	a, _ = v5Open(t, ts, "a", v5Persistent)
	a.MustAcknowledge(expectResent(t, a, "x", first.PacketID))
	b.ExpectNothing(v5Quiet)
}

// holdCommits makes every store commit of ts wait, once durable and before
// its callbacks run, until release (which the test's cleanup also calls);
// awaitHeld waits until a commit is being held.
func holdCommits(t *testing.T, ts *testServer) (awaitHeld, release func()) {
	hold, held := make(chan struct{}), make(chan struct{}, 1)
	ts.store.SetCommitHook(func(store.CommitEvent) {
		select {
		case held <- struct{}{}:
		default:
		}
		<-hold
	})
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(hold)
			ts.store.SetCommitHook(nil)
		})
	}
	t.Cleanup(release)
	awaitHeld = func() {
		t.Helper()
		select {
		case <-held:
		case <-time.After(waitLong):
			t.Fatal("no store commit was held")
		}
	}
	return awaitHeld, release
}

// sharedPair makes persistent sessions "a" and "b" (CONNECT options bOpts)
// members of $share/g/t at QoS 2, with b offline, so that what is
// published next goes to a; it returns a and a publisher.
func sharedPair(t *testing.T, ts *testServer, bOpts ...func(*mqtttest.ConnectOptions)) (a, pub *mqtttest.Conn) {
	t.Helper()
	a, _ = v5Open(t, ts, "a", v5Persistent)
	a.MustSubscribe(mqtttest.Sub("$share/g/t", 2))
	b, _ := v5Open(t, ts, "b", bOpts...)
	b.MustSubscribe(mqtttest.Sub("$share/g/t", 2))
	v5Offline(t, ts, b)
	pub, _ = v5Open(t, ts, "pub")
	return a, pub
}

// expectResent reads the next packet from c and requires the PUBLISH of
// payload sent again: its original packet identifier pid, DUP=1.
func expectResent(t *testing.T, c *mqtttest.Conn, payload string, pid uint16) *packets.Packet {
	t.Helper()
	got := c.ExpectPublish()
	if string(got.Payload) != payload || got.PacketID != pid || !got.FixedHeader.Dup {
		t.Fatalf("got %s, want %q resent with id %d and DUP", mqtttest.Describe(got), payload, pid)
	}
	return got
}

// closedWithoutThenResume expects the server to close c without sending a
// packet of type typ, then resumes the persistent session id on a new
// connection.
func closedWithoutThenResume(t *testing.T, ts *testServer, c *mqtttest.Conn, id string, typ byte) *mqtttest.Conn {
	t.Helper()
	for _, got := range c.ExpectClosed(waitLong) {
		if got.FixedHeader.Type == typ {
			t.Fatalf("packet type %d sent although the commit behind it failed", typ)
		}
	}
	again, ack := v5Open(t, ts, id, v5Persistent, v5Resume)
	if !ack.SessionPresent {
		t.Fatal("session not resumed")
	}
	return again
}

// An inbound PUBREL whose release could not be committed gets no PUBCOMP:
// the connection closes, the identifier stays received, and the PUBREL
// the client sends again at its next connection is completed (reason 0,
// not "Packet Identifier not found").
func TestInboundPubrelCommitFailureClosesWithoutPubcomp(t *testing.T) {
	var arm func()
	ts := startServer(t, func(ts *testServer) { arm = failNextCommit(ts) })
	pub, _ := v5Open(t, ts, "q2fail-in", v5Persistent)
	pk := pub.PublishPacket("q2fail/in", []byte("x"), 2, false)
	pk.PacketID = 7
	pub.MustSend(pk)
	if rec, err := pub.AwaitAck(packets.Pubrec, 7, waitLong); err != nil || rec.ReasonCode >= 0x80 {
		t.Fatalf("PUBREC %v, %v", rec, err)
	}
	arm()
	pub.MustSend(mqtttest.AckPacket(packets.Pubrel, 7, 0))
	again := closedWithoutThenResume(t, ts, pub, "q2fail-in", packets.Pubcomp)
	again.MustSend(mqtttest.AckPacket(packets.Pubrel, 7, 0))
	comp, err := again.AwaitAck(packets.Pubcomp, 7, waitLong)
	if err != nil || comp.ReasonCode != 0 {
		t.Fatalf("PUBCOMP after the resent PUBREL: %v, %v", comp, err)
	}
}

// An outbound PUBREC whose state could not be committed gets no PUBREL:
// the connection closes, and at the next connection the client gets the
// PUBLISH again (DUP), as the disk says, then the PUBREL after its PUBREC.
func TestOutboundPubrecCommitFailureClosesWithoutPubrel(t *testing.T) {
	var arm func()
	ts := startServer(t, func(ts *testServer) { arm = failNextCommit(ts) })
	sub, _ := v5Open(t, ts, "q2fail-out", v5Persistent)
	sub.MustSubscribe(mqtttest.Sub("q2fail/out", 2))
	pub, _ := v5Open(t, ts, "q2fail-pub")
	pub.MustPublish("q2fail/out", []byte("once"), 2, false)
	first := sub.ExpectPublish()
	arm()
	sub.MustSend(mqtttest.AckPacket(packets.Pubrec, first.PacketID, 0))
	again := closedWithoutThenResume(t, ts, sub, "q2fail-out", packets.Pubrel)
	resent := again.ExpectPublish()
	if resent.PacketID != first.PacketID || !resent.FixedHeader.Dup || string(resent.Payload) != "once" {
		t.Fatalf("resent %v, want the PUBLISH again with DUP", resent)
	}
	again.MustSend(mqtttest.AckPacket(packets.Pubrec, first.PacketID, 0))
	if _, err := again.AwaitAck(packets.Pubrel, first.PacketID, waitLong); err != nil {
		t.Fatal(err)
	}
}

// gateNextCommit installs a store hook that, once armed, holds the next
// commit until released and then fails it.
func gateNextCommit(ts *testServer) (arm, awaitHeld, release func()) {
	var mu sync.Mutex
	armed := false
	held, open := make(chan struct{}), make(chan struct{})
	ts.storeOpts.BeforeSync = func() error {
		mu.Lock()
		gate := armed
		armed = false
		mu.Unlock()
		if !gate {
			return nil
		}
		close(held)
		<-open
		return errors.New("injected commit failure")
	}
	arm = func() { mu.Lock(); armed = true; mu.Unlock() }
	awaitHeld = func() {
		select {
		case <-held:
		case <-time.After(waitLong):
			ts.t.Fatal("no store commit was held")
		}
	}
	var once sync.Once
	release = func() { once.Do(func() { close(open) }) }
	ts.t.Cleanup(release)
	return arm, awaitHeld, release
}

// A client that takes its session over while the PUBREC it sent on the
// old connection is being committed, and that commit fails, gets the
// PUBLISH again on the new connection, not a PUBREL: the disk still says
// the PUBLISH was sent, and a PUBREL would let the client release an
// identifier a restart could then send the PUBLISH under again.
func TestOutboundPubrecCommitFailureAtTakeover(t *testing.T) {
	var arm, awaitHeld, release func()
	ts := startServer(t, func(ts *testServer) { arm, awaitHeld, release = gateNextCommit(ts) })
	sub, _ := v5Open(t, ts, "q2take", v5Persistent)
	sub.MustSubscribe(mqtttest.Sub("q2take/x", 2))
	pub, _ := v5Open(t, ts, "q2take-pub")
	pub.MustPublish("q2take/x", []byte("once"), 2, false)
	first := sub.ExpectPublish()
	again := takeOverDuringHeldCommit(t, ts, "q2take", sub, mqtttest.AckPacket(packets.Pubrec, first.PacketID, 0), arm, awaitHeld, release)
	got, err := again.AwaitType(packets.Publish, waitLong)
	if err != nil {
		t.Fatalf("the PUBLISH was not sent again after the failed PUBREC commit: %v", err)
	}
	if got.PacketID != first.PacketID || !got.FixedHeader.Dup {
		t.Fatalf("resent %s, want the PUBLISH with packet identifier %d and DUP", mqtttest.Describe(got), first.PacketID)
	}
	again.MustSend(mqtttest.AckPacket(packets.Pubrec, first.PacketID, 0))
	if _, err := again.AwaitAck(packets.Pubrel, first.PacketID, waitLong); err != nil {
		t.Fatal(err)
	}
}

// takeOverDuringHeldCommit sends on c what makes the next (armed) commit,
// then connects a new connection for the same persistent session while
// that commit is held, and releases it (it fails). It returns the new
// connection, CONNACK read.
func takeOverDuringHeldCommit(t *testing.T, ts *testServer, id string, c *mqtttest.Conn, send *packets.Packet, arm, awaitHeld, release func()) *mqtttest.Conn {
	t.Helper()
	ts.e.mu.Lock()
	oldConn := ts.e.mu.sessions[id].conn
	ts.e.mu.Unlock()
	arm()
	c.MustSend(send)
	awaitHeld()
	again := v5Dial(t, ts)
	o := mqtttest.ConnectOptions{ClientID: id}
	v5Persistent(&o)
	v5Resume(&o)
	again.MustSend(mqtttest.ConnectPacket(o, 5))
	for deadline := time.Now().Add(waitLong); ; time.Sleep(time.Millisecond) {
		ts.e.mu.Lock()
		took := ts.e.mu.sessions[id].conn != oldConn
		ts.e.mu.Unlock()
		if took {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new connection never took the session over")
		}
	}
	release() // the held commit fails; the takeover's commit follows it
	if ack := again.Expect(packets.Connack); !ack.SessionPresent {
		t.Fatal("session not resumed")
	}
	return again
}

// The inbound side of TestOutboundPubrecCommitFailureAtTakeover: a
// PUBREL whose commit fails while a new connection takes the session
// over leaves the identifier received, so the PUBREL the client sends
// again on the new connection completes it (PUBCOMP 0x00, not 0x92).
func TestInboundPubrelCommitFailureAtTakeover(t *testing.T) {
	var arm, awaitHeld, release func()
	ts := startServer(t, func(ts *testServer) { arm, awaitHeld, release = gateNextCommit(ts) })
	pub, _ := v5Open(t, ts, "q2take-in", v5Persistent)
	pk := pub.PublishPacket("q2take/in", []byte("once"), 2, false)
	pub.MustSend(pk)
	if _, err := pub.AwaitAck(packets.Pubrec, pk.PacketID, waitLong); err != nil {
		t.Fatal(err)
	}
	again := takeOverDuringHeldCommit(t, ts, "q2take-in", pub, mqtttest.AckPacket(packets.Pubrel, pk.PacketID, 0), arm, awaitHeld, release)
	again.MustSend(mqtttest.AckPacket(packets.Pubrel, pk.PacketID, 0))
	comp, err := again.AwaitAck(packets.Pubcomp, pk.PacketID, waitLong)
	if err != nil {
		t.Fatal(err)
	}
	if comp.ReasonCode != 0 {
		t.Fatalf("PUBCOMP reason 0x%02x, want 0x00: the identifier was forgotten although its release failed", comp.ReasonCode)
	}
}
