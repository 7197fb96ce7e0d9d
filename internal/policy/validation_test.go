package policy_test

import (
	"strings"
	"testing"

	"github.com/mqsight/mqsight/internal/config"
)

// TestBadPolicyRefusedByValidation: a malformed policy value never reaches
// the policy engine; configuration validation refuses it, naming the
// object and the property, whether it arrives through the REST path
// (SetProperties) or in a whole document (Validate).
func TestBadPolicyRefusedByValidation(t *testing.T) {
	for _, tc := range []struct {
		typ, name string
		props     map[string]any
		property  string
	}{
		{"ConnectionPolicy", "BadAddr", map[string]any{"ClientAddress": "10.0.0.300"}, "ClientAddress"},
		{"ConnectionPolicy", "BadRange", map[string]any{"ClientAddress": "10.0.0.9-10.0.0.1"}, "ClientAddress"},
		{"ConnectionPolicy", "MixedRange", map[string]any{"ClientAddress": "10.0.0.1-[::1]"}, "ClientAddress"},
		{"ConnectionPolicy", "MidStar", map[string]any{"ClientID": "a*b"}, "ClientID"},
		{"ConnectionPolicy", "BadExpiry", map[string]any{"ClientID": "*", "MaxSessionExpiryInterval": "soon"}, "MaxSessionExpiryInterval"},
		{"TopicPolicy", "BadVar", map[string]any{"ClientID": "*", "Topic": "a/${Nope}", "ActionList": "Publish"}, "Topic"},
		{"TopicPolicy", "MidStarTopic", map[string]any{"ClientID": "*", "Topic": "a/*/b", "ActionList": "Publish"}, "Topic"},
		{"TopicPolicy", "BadAction", map[string]any{"ClientID": "*", "Topic": "a", "ActionList": "Send"}, "ActionList"},
		{"TopicPolicy", "BadTTL", map[string]any{"ClientID": "*", "Topic": "a", "ActionList": "Publish", "MaxMessageTimeToLive": -1}, "MaxMessageTimeToLive"},
		{"SubscriptionPolicy", "BadBehavior", map[string]any{"ClientID": "*", "Subscription": "s", "ActionList": "Receive", "MaxMessagesBehavior": "Block"}, "MaxMessagesBehavior"},
		{"ConnectionPolicy", "NoFilter", map[string]any{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := baseConfig(t)
			err := config.SetProperties(c, tc.typ, tc.name, tc.props)
			if err == nil {
				t.Fatalf("%s %s %v accepted", tc.typ, tc.name, tc.props)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.name) || !strings.Contains(msg, tc.property) {
				t.Fatalf("error %q does not name %s and %s", msg, tc.name, tc.property)
			}
			if _, ok := c.ConnectionPolicies[tc.name]; ok {
				t.Fatal("the refused policy was stored")
			}
		})
	}
	t.Run("whole document", func(t *testing.T) {
		c := baseConfig(t)
		c.ConnectionPolicies["DemoConnectionPolicy"].ClientAddress = "192.168.1.1, not-an-address"
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "DemoConnectionPolicy") || !strings.Contains(err.Error(), "ClientAddress") {
			t.Fatalf("Validate: %v; want an error naming DemoConnectionPolicy's ClientAddress", err)
		}
	})
}
