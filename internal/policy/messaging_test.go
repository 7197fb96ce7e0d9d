package policy_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// messagingConfig is usersConfig (user names taken as given: the filters,
// not authentication, are under test here) with an
// open connection policy, a "spy" client allowed to subscribe to
// everything, and the given TopicPolicy TP (plus extra policies) on the
// endpoint.
func messagingConfig(t testing.TB, tp map[string]any, extra ...string) *config.Config {
	c := usersConfig(t, map[string]any{"UsePasswordAuthentication": false})
	set(t, c, "ConnectionPolicy", "CP", map[string]any{"ClientID": "*"})
	set(t, c, "TopicPolicy", "Spy", map[string]any{"ClientID": "spy", "Topic": "*", "ActionList": "Subscribe"})
	set(t, c, "TopicPolicy", "SpySys", map[string]any{"ClientID": "spy", "Topic": "$*", "ActionList": "Subscribe"})
	topics := "Spy,SpySys"
	if tp != nil {
		set(t, c, "TopicPolicy", "TP", tp)
		topics += ",TP"
	}
	for _, e := range extra {
		topics += "," + e
	}
	endpoint(t, c, "CP", topics, "")
	return c
}

// spy connects the client that sees every message.
func (s *server) spy(t testing.TB) *mqtttest.Conn {
	c := s.mustConnect(t, 5, creds("spy", "spy", nil))
	c.MustSubscribe(mqtttest.Sub("#", 1), mqtttest.Sub("$SYS/#", 1))
	return c
}

// checkPublish publishes to topic as the client opts describes, with each
// protocol version, and checks the outcome a client sees:
//   - allowed: the QoS 1 publish is acknowledged (reason 0) and delivered;
//   - refused, v5: PUBACK reason 0x87 (QoS 1) and nothing delivered;
//   - refused, v3.1.1: a QoS 0 publish is dropped (the connection stays),
//     a QoS 1 publish closes the connection.
func checkPublish(t *testing.T, s *server, opts mqtttest.ConnectOptions, topic string, allowed bool) {
	t.Helper()
	spy := s.spy(t)
	for _, v := range versions {
		o := opts
		o.ClientID = fmt.Sprint(opts.ClientID)
		payload := []byte(fmt.Sprintf("v%d to %s", v, topic))
		c := s.mustConnect(t, v, o)
		if allowed {
			c.MustPublish(topic, payload, 1, false)
			spy.ExpectMessage(topic, payload)
			c.Disconnect(0)
			continue
		}
		if v == 5 {
			ack, err := c.Publish(topic, payload, 1, false)
			if err != nil || ack.ReasonCode != 0x87 {
				t.Fatalf("v5 publish to %s: %s %v; want PUBACK 0x87", topic, mqtttest.Describe(ack), err)
			}
		} else {
			c.MustSend(c.PublishPacket(topic, payload, 0, false))
			if err := c.Ping(); err != nil {
				t.Fatalf("v3.1.1 QoS 0 publish to %s refused: connection lost (%v), want the message dropped", topic, err)
			}
			c.MustSend(c.PublishPacket(topic, payload, 1, false))
			if kind, _ := c.WaitClosed(wait); !kind.ClosedByBroker() {
				t.Fatalf("v3.1.1 QoS 1 publish to %s refused: connection %v, want closed by the server", topic, kind)
			}
		}
		spy.ExpectNothing(100 * time.Millisecond)
	}
}

// checkSubscribe subscribes with each protocol version and checks the
// SUBACK: the granted QoS 1, or 0x87 (v5) / 0x80 (v3.1.1).
func checkSubscribe(t *testing.T, s *server, opts mqtttest.ConnectOptions, filter string, allowed bool) {
	t.Helper()
	for _, v := range versions {
		c := s.mustConnect(t, v, opts)
		ack, err := c.Subscribe(mqtttest.Sub(filter, 1))
		if err != nil {
			t.Fatalf("v%d subscribe %s: %v", v, filter, err)
		}
		want := byte(1)
		if !allowed {
			want = map[byte]byte{4: 0x80, 5: 0x87}[v]
		}
		if len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0] != want {
			t.Errorf("v%d subscribe %s: SUBACK %v, want [0x%02X]", v, filter, ack.ReasonCodes, want)
		}
		c.Disconnect(0)
	}
}

var (
	alice = creds("d1", "alice", []byte("alice-secret"))
	bob   = creds("d2", "bob", []byte("bob-secret"))
	anon  = creds("d1", "", nil)
)

// TestTopicPolicyPublish: the filters and destination patterns of a
// TopicPolicy, checked on publish.
func TestTopicPolicyPublish(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tp      map[string]any
		client  mqtttest.ConnectOptions
		topic   string
		allowed bool
	}{
		{"exact topic", map[string]any{"Topic": "a/b", "ClientID": "*"}, anon, "a/b", true},
		{"exact topic, other topic", map[string]any{"Topic": "a/b", "ClientID": "*"}, anon, "a/bc", false},
		{"prefix", map[string]any{"Topic": "a/*", "ClientID": "*"}, anon, "a/b/c", true},
		{"prefix, outside", map[string]any{"Topic": "a/*", "ClientID": "*"}, anon, "b/a", false},
		{"all topics but $", map[string]any{"Topic": "*", "ClientID": "*"}, anon, "$SYS/x", false},
		{"$ spelled out", map[string]any{"Topic": "$SYS/*", "ClientID": "*"}, anon, "$SYS/x", true},
		{"Subscribe only", map[string]any{"Topic": "*", "ClientID": "*", "ActionList": "Subscribe"}, anon, "a", false},
		{"ClientID filter", map[string]any{"Topic": "*", "ClientID": "d*"}, anon, "a", true},
		{"ClientID filter, other client", map[string]any{"Topic": "*", "ClientID": "x*"}, anon, "a", false},
		{"UserID filter", map[string]any{"Topic": "*", "UserID": "alice"}, alice, "a", true},
		{"UserID filter, other user", map[string]any{"Topic": "*", "UserID": "alice"}, bob, "a", false},
		{"GroupID nested", map[string]any{"Topic": "*", "GroupID": "staff"}, alice, "a", true},
		{"GroupID, not a member", map[string]any{"Topic": "*", "GroupID": "staff"}, bob, "a", false},
		{"ClientAddress", map[string]any{"Topic": "*", "ClientAddress": "127.0.0.1"}, anon, "a", true},
		{"ClientAddress, other", map[string]any{"Topic": "*", "ClientAddress": "192.0.2.1-192.0.2.9"}, anon, "a", false},
		{"Protocol", map[string]any{"Topic": "*", "Protocol": "MQTT"}, anon, "a", true},
		{"Protocol, other", map[string]any{"Topic": "*", "Protocol": "JMS"}, anon, "a", false},
		{"${ClientID}", map[string]any{"Topic": "devices/${ClientID}/*", "ClientID": "*"}, anon, "devices/d1/t", true},
		{"${ClientID}, other device", map[string]any{"Topic": "devices/${ClientID}/*", "ClientID": "*"}, anon, "devices/d2/t", false},
		{"${UserID}", map[string]any{"Topic": "users/${UserID}/*", "ClientID": "*"}, alice, "users/alice/x", true},
		{"${UserID}, other user", map[string]any{"Topic": "users/${UserID}/*", "ClientID": "*"}, alice, "users/bob/x", false},
		{"${UserID}, anonymous", map[string]any{"Topic": "users/${UserID}*", "ClientID": "*"}, anon, "users/", false},
		{"${GroupID}, direct group", map[string]any{"Topic": "groups/${GroupID}/*", "ClientID": "*"}, alice, "groups/devs/x", true},
		{"${GroupID}, nested group", map[string]any{"Topic": "groups/${GroupID}/*", "ClientID": "*"}, alice, "groups/staff/x", true},
		{"${GroupID}, other group", map[string]any{"Topic": "groups/${GroupID}/*", "ClientID": "*"}, alice, "groups/ops/x", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, ok := tc.tp["ActionList"]; !ok {
				tc.tp["ActionList"] = "Publish,Subscribe"
			}
			s := start(t, messagingConfig(t, tc.tp))
			checkPublish(t, s, tc.client, tc.topic, tc.allowed)
		})
	}
}

// TestClientIDConfinement: with devices/${ClientID}/* each device reaches
// its own tree only, for publishing and subscribing.
func TestClientIDConfinement(t *testing.T) {
	s := start(t, messagingConfig(t, map[string]any{
		"Topic": "devices/${ClientID}/*", "ClientID": "*", "ActionList": "Publish,Subscribe"}))
	d1 := creds("d1", "", nil)
	checkPublish(t, s, d1, "devices/d1/x", true)
	checkPublish(t, s, d1, "devices/d2/x", false)
	checkSubscribe(t, s, d1, "devices/d1/+", true)
	checkSubscribe(t, s, d1, "devices/d1/x/#", true)
	checkSubscribe(t, s, d1, "devices/d2/x", false)
	checkSubscribe(t, s, d1, "devices/+/x", false)
	checkSubscribe(t, s, d1, "devices/#", false)
	checkSubscribe(t, s, d1, "devices/d1/#", false) // also matches "devices/d1", outside the pattern
}

// TestTopicPolicySubscribe: subscription filters against TopicPolicy
// patterns (every topic the filter can match must be covered).
func TestTopicPolicySubscribe(t *testing.T) {
	for _, tc := range []struct {
		name    string
		topic   string
		actions string
		filter  string
		allowed bool
	}{
		{"exact", "a/b", "Subscribe", "a/b", true},
		{"exact vs +", "a/b", "Subscribe", "a/+", false},
		{"prefix vs +", "a/*", "Subscribe", "a/+", true},
		{"prefix vs deeper #", "a/*", "Subscribe", "a/b/#", true},
		{"prefix vs # at its level", "a/*", "Subscribe", "a/#", false},
		{"prefix without slash vs #", "a*", "Subscribe", "a/#", true},
		{"prefix vs leading +", "a/*", "Subscribe", "+/b", false},
		{"all vs #", "*", "Subscribe", "#", true},
		{"Publish only", "*", "Publish", "a", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, messagingConfig(t, map[string]any{"Topic": tc.topic, "ClientID": "*", "ActionList": tc.actions}))
			checkSubscribe(t, s, anon, tc.filter, tc.allowed)
		})
	}
	t.Run("two policies together cover a/#", func(t *testing.T) {
		c := messagingConfig(t, map[string]any{"Topic": "a/*", "ClientID": "*", "ActionList": "Subscribe"}, "Parent")
		set(t, c, "TopicPolicy", "Parent", map[string]any{"Topic": "a", "ClientID": "*", "ActionList": "Subscribe"})
		checkSubscribe(t, start(t, c), anon, "a/#", true)
	})
	t.Run("a refused subscription receives nothing", func(t *testing.T) {
		s := start(t, messagingConfig(t, map[string]any{"Topic": "a/*", "ClientID": "*", "ActionList": "Publish,Subscribe"}))
		sub := s.mustConnect(t, 5, anon)
		ack, _ := sub.Subscribe(mqtttest.Sub("#", 1), mqtttest.Sub("a/#", 1), mqtttest.Sub("a/+", 1))
		if len(ack.ReasonCodes) != 3 || ack.ReasonCodes[0] != 0x87 || ack.ReasonCodes[1] != 0x87 || ack.ReasonCodes[2] != 1 {
			t.Fatalf("SUBACK %v, want [0x87 0x87 1]", ack.ReasonCodes)
		}
		pub := s.mustConnect(t, 5, creds("pub", "", nil))
		pub.MustPublish("a/x", []byte("granted"), 1, false)
		sub.ExpectMessage("a/x", []byte("granted"))
		sub.ExpectNothing(100 * time.Millisecond) // one copy, from a/+ only
	})
}

// TestTopicPolicyLimits: MaxMessages and MaxMessagesBehavior come from the
// first TopicPolicy that authorizes the subscription.
func TestTopicPolicyLimits(t *testing.T) {
	c := messagingConfig(t, map[string]any{"Topic": "q/*", "ClientID": "slow*", "ActionList": "Subscribe",
		"MaxMessages": 3, "MaxMessagesBehavior": "RejectNewMessages"}, "Drop", "All")
	set(t, c, "TopicPolicy", "Drop", map[string]any{"Topic": "q/*", "ClientID": "drop*", "ActionList": "Subscribe",
		"MaxMessages": 2, "MaxMessagesBehavior": "DiscardOldMessages"})
	set(t, c, "TopicPolicy", "All", map[string]any{"Topic": "*", "ClientID": "*", "ActionList": "Publish,Subscribe"})
	s := start(t, c)
	for _, id := range []string{"slow1", "drop1", "other"} {
		sub := s.dial(t, 5)
		o := mqtttest.ConnectOptions{ClientID: id}
		o.Properties.SessionExpiryInterval, o.Properties.SessionExpiryIntervalFlag = 3600, true
		sub.MustConnect(o)
		sub.MustSubscribe(mqtttest.Sub("q/#", 1))
		sub.Disconnect(0)
	}
	want := map[string]int{"slow1": 3, "drop1": 2, "other": 5000}
	for _, st := range s.e.Subscriptions() {
		if st.MaxMessages != want[st.ClientID] {
			t.Errorf("%s: MaxMessages %d, want %d", st.ClientID, st.MaxMessages, want[st.ClientID])
		}
	}
	pub := s.mustConnect(t, 5, creds("pub", "", nil))
	for i := range 3 {
		pub.MustPublish("q/x", fmt.Appendf(nil, "m%d", i), 1, false)
	}
	ack, err := pub.Publish("q/x", []byte("overflow"), 1, false)
	if err != nil || ack.ReasonCode != 0x97 {
		t.Fatalf("publish over slow1's RejectNewMessages limit: %s %v, want 0x97", mqtttest.Describe(ack), err)
	}
	for _, st := range s.e.Subscriptions() {
		if st.ClientID == "drop1" && (st.Buffered != 2 || st.Dropped == 0) {
			t.Errorf("drop1 (DiscardOldMessages, 2): %+v", st)
		}
	}
}

// TestMaxMessageTimeToLive: the publishing TopicPolicy caps message expiry.
func TestMaxMessageTimeToLive(t *testing.T) {
	c := messagingConfig(t, map[string]any{"Topic": "ttl/*", "ClientID": "*", "ActionList": "Publish,Subscribe",
		"MaxMessageTimeToLive": 100}, "All")
	set(t, c, "TopicPolicy", "All", map[string]any{"Topic": "*", "ClientID": "*", "ActionList": "Publish,Subscribe"})
	s := start(t, c)
	sub := s.mustConnect(t, 5, creds("sub", "", nil))
	sub.MustSubscribe(mqtttest.Sub("#", 1))
	for _, tc := range []struct {
		v          byte
		topic      string
		asked, max uint32 // max: the interval the subscriber may see (0: none)
	}{
		{5, "ttl/a", 0, 100},
		{5, "ttl/a", 1000, 100},
		{5, "ttl/a", 10, 10},
		{4, "ttl/a", 0, 100},
		{5, "free/a", 0, 0},
	} {
		pub := s.mustConnect(t, tc.v, creds(fmt.Sprint("pub", tc.v), "", nil))
		pk := pub.PublishPacket(tc.topic, []byte("m"), 1, false)
		if tc.asked > 0 {
			pk.Properties.MessageExpiryInterval = tc.asked
		}
		if ack, err := pub.PublishWith(pk); err != nil || ack.ReasonCode != 0 {
			t.Fatalf("publish: %v %v", mqtttest.Describe(ack), err)
		}
		got := sub.ExpectMessage(tc.topic, []byte("m")).Properties.MessageExpiryInterval
		if tc.max == 0 && got != 0 || tc.max > 0 && (got == 0 || got > tc.max || got < tc.max-5) {
			t.Errorf("v%d publish to %s asking %d s: subscriber sees expiry %d s, want about %d", tc.v, tc.topic, tc.asked, got, tc.max)
		}
		pub.Disconnect(0)
	}
}

// TestSharedSubscriptionPolicy: joining $share/<name>/<filter> or
// $SharedSubscription/<name>/<filter> needs a TopicPolicy for the filter
// and a SubscriptionPolicy listing Receive for the name; its MaxMessages
// bounds the group's buffer.
func TestSharedSubscriptionPolicy(t *testing.T) {
	c := messagingConfig(t, map[string]any{"Topic": "s/*", "ClientID": "*", "ActionList": "Publish,Subscribe"})
	set(t, c, "SubscriptionPolicy", "Workers", map[string]any{"Subscription": "work*", "ClientID": "w*",
		"ActionList": "Receive", "MaxMessages": 7})
	set(t, c, "SubscriptionPolicy", "OwnShare", map[string]any{"Subscription": "own-${ClientID}", "ClientID": "*",
		"ActionList": "Receive,Control"})
	set(t, c, "SubscriptionPolicy", "ControlOnly", map[string]any{"Subscription": "ctl", "ClientID": "*",
		"ActionList": "Control"})
	set(t, c, "Endpoint", "DemoEndpoint", map[string]any{"SubscriptionPolicies": "Workers,OwnShare,ControlOnly"})
	s := start(t, c)
	w1 := creds("w1", "", nil)
	for _, tc := range []struct {
		client  mqtttest.ConnectOptions
		filter  string
		allowed bool
	}{
		{w1, "$share/work1/s/x", true},
		{w1, "$SharedSubscription/workers/s/+", true},
		{w1, "$share/other/s/x", false},                   // no policy for the name
		{w1, "$share/work1/t/x", false},                   // no TopicPolicy for the filter
		{creds("x1", "", nil), "$share/work1/s/x", false}, // ClientID filter
		{w1, "$share/own-w1/s/x", true},
		{w1, "$share/own-w2/s/x", false},
		{w1, "$share/ctl/s/x", false}, // Control without Receive
	} {
		checkSubscribe(t, s, tc.client, tc.filter, tc.allowed)
	}
	// The group's buffer takes the SubscriptionPolicy's MaxMessages.
	sub := s.mustConnect(t, 5, w1)
	sub.MustSubscribe(mqtttest.Sub("$share/work9/s/+", 1))
	found := false
	for _, st := range s.e.Subscriptions() {
		if st.ShareName == "work9" {
			found = true
			if st.MaxMessages != 7 {
				t.Errorf("shared subscription MaxMessages %d, want 7 from the SubscriptionPolicy", st.MaxMessages)
			}
		}
	}
	if !found {
		t.Fatalf("no shared subscription work9 in %+v", s.e.Subscriptions())
	}
}

// TestPolicyChanges: a changed policy applies to new connections at once
// and to an existing connection's next action; connection-level decisions
// stay with the connection.
func TestPolicyChanges(t *testing.T) {
	c := messagingConfig(t, map[string]any{"Topic": "*", "ClientID": "*", "ActionList": "Publish,Subscribe"})
	s := start(t, c)
	pub := s.mustConnect(t, 5, creds("pub", "", nil))
	pub.MustPublish("a", []byte("before"), 1, false)

	next := c.Clone()
	set(t, next, "TopicPolicy", "TP", map[string]any{"ActionList": "Subscribe"})
	set(t, next, "ConnectionPolicy", "CP", map[string]any{"ClientID": "new*"})
	s.apply(next)

	ack, err := pub.Publish("a", []byte("after"), 1, false)
	if err != nil || ack.ReasonCode != 0x87 {
		t.Fatalf("publish after Publish was removed: %s %v, want 0x87", mqtttest.Describe(ack), err)
	}
	if err := pub.Ping(); err != nil {
		t.Fatalf("the existing connection was closed by a connection policy change: %v", err)
	}
	for _, v := range versions {
		if _, rc := s.connect(t, v, creds("pub2", "", nil)); rc != notAuthorized(v) {
			t.Errorf("v%d new connection after the change: 0x%02X, want 0x%02X", v, rc, notAuthorized(v))
		}
	}
	ack2, err := s.mustConnect(t, 5, creds("new1", "", nil)).Subscribe(mqtttest.Sub("x", 0))
	if err != nil || ack2.ReasonCodes[0] != 0 {
		t.Fatalf("subscribe under the new policy: %v %v", ack2, err)
	}
}

// TestQueueDestinationsAreNotTopics: "$queue/<name>" is a point-to-point
// queue; TopicPolicies neither grant nor refuse sending to it (the queue
// authorizes it), even when they refuse every topic.
func TestQueueDestinationsAreNotTopics(t *testing.T) {
	c := messagingConfig(t, map[string]any{"Topic": "nothing", "ClientID": "nobody", "ActionList": "Publish"})
	set(t, c, "Queue", "Q1", map[string]any{})
	s := start(t, c)
	for _, v := range versions {
		pub := s.mustConnect(t, v, creds(fmt.Sprint("qp", v), "", nil))
		pub.MustPublish("$queue/Q1", []byte("to the queue"), 1, false)
		ack, err := pub.Publish("topic/x", []byte("to a topic"), 1, false)
		if v == 5 && (err != nil || ack.ReasonCode != 0x87) {
			t.Fatalf("v5 publish to a topic no policy grants: %s %v", mqtttest.Describe(ack), err)
		}
	}
}
