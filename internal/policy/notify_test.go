package policy_test

import (
	"net"
	"testing"

	"github.com/mqsight/mqsight/internal/mqtt"
	"github.com/mqsight/mqsight/internal/policy"
)

// TestDisconnectedClientNotificationFlag: Notify follows the
// DisconnectedClientNotification of the TopicPolicy that authorizes the
// subscription.
func TestDisconnectedClientNotificationFlag(t *testing.T) {
	c := messagingConfig(t, map[string]any{"Topic": "alerts/*", "ClientID": "*", "ActionList": "Subscribe",
		"DisconnectedClientNotification": true}, "Plain")
	set(t, c, "TopicPolicy", "Plain", map[string]any{"Topic": "data/*", "ClientID": "*", "ActionList": "Subscribe"})
	set(t, c, "Endpoint", "DemoEndpoint", map[string]any{"TopicPolicies": "TP,Plain"})
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	p := policy.New(policy.Options{})
	cl, rc := p.Connect(c, mqtt.ConnInfo{Endpoint: "DemoEndpoint", ClientID: "dev", ProtocolVersion: 4,
		RemoteAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}})
	if cl == nil {
		t.Fatalf("connect refused: 0x%02X", rc)
	}
	// "alerts/#" also matches "alerts", which "alerts/*" does not cover: not
	// authorized, so no notification either.
	for filter, want := range map[string]bool{"alerts/+/#": true, "alerts/x": true, "alerts/#": false, "data/+": false, "nope": false} {
		if got := cl.Notify(c, filter); got != want {
			t.Errorf("Notify(%q) = %v, want %v", filter, got, want)
		}
	}
}
