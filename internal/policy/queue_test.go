package policy_test

import (
	"testing"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// TestQueuePolicy: sending to $queue/<name> needs a QueuePolicy listing
// Send, consuming needs Receive; the Queue pattern, the filters and
// ${ClientID} apply as for topics.
func TestQueuePolicy(t *testing.T) {
	c := messagingConfig(t, nil)
	for _, q := range []string{"Q1", "Other", "inbox-reader"} {
		set(t, c, "Queue", q, map[string]any{})
	}
	set(t, c, "QueuePolicy", "QSend", map[string]any{"ClientID": "sender", "Queue": "Q*", "ActionList": "Send"})
	set(t, c, "QueuePolicy", "QRecv", map[string]any{"ClientID": "reader", "Queue": "Q1", "ActionList": "Receive,Browse"})
	set(t, c, "QueuePolicy", "QOwn", map[string]any{"ClientID": "*", "Queue": "inbox-${ClientID}", "ActionList": "Receive"})
	set(t, c, "Endpoint", "DemoEndpoint", map[string]any{"QueuePolicies": "QSend,QRecv,QOwn"})
	s := start(t, c)

	for _, v := range []byte{4, 5} {
		sender := s.mustConnect(t, v, creds("sender", "", nil))
		reader := s.mustConnect(t, v, creds("reader", "", nil))
		for _, tc := range []struct {
			who   *mqtttest.Conn
			queue string
			ok    bool
		}{
			{sender, "Q1", true},
			{sender, "Other", false},
			{reader, "Q1", false},
		} {
			if v == 4 && !tc.ok {
				continue // a 3.1.1 QoS 1 refusal closes the connection: checked below
			}
			ack, err := tc.who.Publish("$queue/"+tc.queue, []byte("m"), 1, false)
			if err != nil {
				t.Fatalf("v%d send to %s: %v", v, tc.queue, err)
			}
			if got := ack.ReasonCode == 0; got != tc.ok {
				t.Errorf("v%d send to %s: reason 0x%02X, allowed=%v", v, tc.queue, ack.ReasonCode, tc.ok)
			}
		}
		for _, tc := range []struct {
			who   *mqtttest.Conn
			queue string
			ok    bool
		}{
			{reader, "$queue/Q1", true},
			{sender, "$queue/Q1", false},
			{reader, "$queue/inbox-reader", true},
		} {
			ack, err := tc.who.Subscribe(mqtttest.Sub(tc.queue, 1))
			if err != nil {
				t.Fatalf("v%d subscribe %s: %v", v, tc.queue, err)
			}
			if got := ack.ReasonCodes[0] <= 2; got != tc.ok {
				t.Errorf("v%d subscribe %s: reason 0x%02X, allowed=%v", v, tc.queue, ack.ReasonCodes[0], tc.ok)
			}
			if !tc.ok && ack.ReasonCodes[0] != notAuthorized(v) && !(v == 4 && ack.ReasonCodes[0] == 0x80) {
				t.Errorf("v%d subscribe %s refused with 0x%02X", v, tc.queue, ack.ReasonCodes[0])
			}
			tc.who.Unsubscribe(tc.queue)
		}
		sender.Close()
		reader.Close()
	}
	// 3.1.1: a refused QoS 1 send closes the connection (MessageSight's behaviour).
	old := s.mustConnect(t, 4, creds("reader", "", nil))
	old.MustSend(old.PublishPacket("$queue/Q1", []byte("m"), 1, false))
	if kind, _ := old.WaitClosed(5e9); !kind.ClosedByBroker() {
		t.Fatalf("v3.1.1 refused queue send: %v, want the connection closed", kind)
	}
}
