package policy

import (
	"math"
	"strings"
	"sync/atomic"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/mqtt"
)

// client is an admitted client's view of the policies (mqtt.Client). Its
// identity and connection-level properties are fixed at CONNECT; messaging
// actions are checked against the configuration passed to each call.
type client struct {
	id              identity
	allowPersistent bool
	maxExpiry       uint32

	// groupCache holds the user's resolved groups for the last
	// configuration snapshot seen (snapshots are immutable, so the pointer
	// identifies the content).
	groupCache atomic.Pointer[groupsFor]
}

type groupsFor struct {
	cfg    *config.Config
	groups []string
}

var _ mqtt.Client = (*client)(nil)

// groups returns the client's groups, nested ones included, under cfg.
func (c *client) groups(cfg *config.Config) []string {
	if !c.id.hasUser {
		return nil
	}
	if g := c.groupCache.Load(); g != nil && g.cfg == cfg {
		return g.groups
	}
	g := &groupsFor{cfg: cfg, groups: resolveGroups(cfg, c.id.userID)}
	c.groupCache.Store(g)
	return g.groups
}

// MaxSessionExpiry implements mqtt.Client.
func (c *client) MaxSessionExpiry() uint32 { return c.maxExpiry }

// AllowPersistentMessages implements mqtt.Client.
func (c *client) AllowPersistentMessages() bool { return c.allowPersistent }

// MayPublish implements mqtt.Client: a TopicPolicy of the endpoint matches
// the client and topic and lists Publish. A "$queue/<name>" destination is
// a point-to-point queue, not a topic: TopicPolicies do not apply to it,
// and sending to it is the queue's to authorize (QueuePolicy Send, with
// the queues), so it is allowed here.
func (c *client) MayPublish(cfg *config.Config, topic string) bool {
	if strings.HasPrefix(topic, queuePrefix) {
		return true
	}
	return c.topicPolicy(cfg, "Publish", pieces{{topic, false}}, 1) != nil
}

// MayQueue implements mqtt.Client: a QueuePolicy of the endpoint matches
// the client and the queue name and lists action (Send, Receive, Browse).
func (c *client) MayQueue(cfg *config.Config, queue, action string) bool {
	ep := cfg.Endpoints[c.id.endpoint]
	if ep == nil {
		return false
	}
	groups := c.groups(cfg)
	for _, name := range ep.QueuePolicies {
		qp := cfg.QueuePolicies[name]
		if qp == nil || !qp.ActionList.Contains(action) || !matchFilters(&qp.Filters, &c.id, groups) {
			continue
		}
		if parseTemplate(qp.Queue).covers(&c.id, groups, destination{queue, false}) {
			return true
		}
	}
	return false
}

// Notify implements mqtt.Client: the first TopicPolicy authorizing the
// subscription to filter has DisconnectedClientNotification.
func (c *client) Notify(cfg *config.Config, filter string) bool {
	p, n := filterPieces(filter)
	tp := c.topicPolicy(cfg, "Subscribe", p, n)
	return tp != nil && tp.DisconnectedClientNotification
}

// queuePrefix starts the MQTT name of a point-to-point queue.
const queuePrefix = "$queue/"

// MaxMessageTTL implements mqtt.Client: the MaxMessageTimeToLive of the
// first TopicPolicy that authorizes publishing to topic (0: unlimited).
func (c *client) MaxMessageTTL(cfg *config.Config, topic string) uint32 {
	tp := c.topicPolicy(cfg, "Publish", pieces{{topic, false}}, 1)
	if tp == nil {
		return 0
	}
	if ttl := parseUnlimited(tp.MaxMessageTimeToLive); ttl != math.MaxUint32 {
		return ttl
	}
	return 0
}

// MaySubscribe implements mqtt.Client: TopicPolicies listing Subscribe
// cover every topic the filter can match and, for a shared subscription,
// a SubscriptionPolicy matching the share name lists Receive.
func (c *client) MaySubscribe(cfg *config.Config, filter, shareName string) bool {
	if p, n := filterPieces(filter); c.topicPolicy(cfg, "Subscribe", p, n) == nil {
		return false
	}
	return shareName == "" || c.subscriptionPolicy(cfg, shareName) != nil
}

// Limits implements mqtt.Client: MaxMessages and MaxMessagesBehavior of
// the first SubscriptionPolicy authorizing the share (shared
// subscriptions) or of the first TopicPolicy authorizing the filter.
func (c *client) Limits(cfg *config.Config, filter, shareName string) (int, bool) {
	if shareName != "" {
		if sp := c.subscriptionPolicy(cfg, shareName); sp != nil {
			return sp.MaxMessages, sp.MaxMessagesBehavior == "DiscardOldMessages"
		}
		return defaultMaxMessages, false
	}
	p, n := filterPieces(filter)
	if tp := c.topicPolicy(cfg, "Subscribe", p, n); tp != nil {
		return tp.MaxMessages, tp.MaxMessagesBehavior == "DiscardOldMessages"
	}
	return defaultMaxMessages, false
}

// defaultMaxMessages is the policies' MaxMessages default, used when no
// policy authorizes a subscription any more (the configuration changed
// between the check and the lookup).
const defaultMaxMessages = 5000

// topicPolicy returns the first TopicPolicy of the client's endpoint that
// matches the client, lists action and covers the first of the n pieces;
// every further piece must be covered by some authorizing policy. nil:
// denied. It does not allocate.
func (c *client) topicPolicy(cfg *config.Config, action string, ps pieces, n int) *config.TopicPolicy {
	ep := cfg.Endpoints[c.id.endpoint]
	if ep == nil {
		return nil
	}
	groups := c.groups(cfg)
	var first *config.TopicPolicy
	var covered [len(pieces{})]bool
	left := n
	for _, name := range ep.TopicPolicies {
		tp := cfg.TopicPolicies[name]
		if tp == nil || !tp.ActionList.Contains(action) || !matchFilters(&tp.Filters, &c.id, groups) {
			continue
		}
		t := parseTemplate(tp.Topic)
		for i := range n {
			if covered[i] || !t.covers(&c.id, groups, ps[i]) {
				continue
			}
			covered[i] = true
			left--
			if i == 0 {
				first = tp
			}
		}
		if left == 0 {
			return first
		}
	}
	return nil
}

// subscriptionPolicy returns the first SubscriptionPolicy of the client's
// endpoint that matches the client and the share name and lists Receive.
func (c *client) subscriptionPolicy(cfg *config.Config, shareName string) *config.SubscriptionPolicy {
	ep := cfg.Endpoints[c.id.endpoint]
	if ep == nil {
		return nil
	}
	groups := c.groups(cfg)
	for _, name := range ep.SubscriptionPolicies {
		sp := cfg.SubscriptionPolicies[name]
		if sp == nil || !sp.ActionList.Contains("Receive") || !matchFilters(&sp.Filters, &c.id, groups) {
			continue
		}
		if parseTemplate(sp.Subscription).covers(&c.id, groups, destination{shareName, false}) {
			return sp
		}
	}
	return nil
}
