package mqtt

import (
	"context"
	"crypto/x509"
	"net"
	"strings"

	"github.com/mqsight/mqsight/internal/config"
)

// Policy decides who may connect and what a connected client may do. The
// engine asks it at CONNECT and then at every action, so a configuration
// change applies to existing connections at their next action.
// Implementations must be safe for concurrent use.
type Policy interface {
	// Connect authenticates and admits a client. A nil Client refuses the
	// connection with the returned v5 reason code (0x86 bad user name or
	// password, 0x87 not authorized, ...); the engine maps it for 3.1.1.
	Connect(cfg *config.Config, info ConnInfo) (Client, byte)
}

// ConnInfo is what a Policy knows about a connecting client.
type ConnInfo struct {
	Endpoint         string // Endpoint name
	ClientID         string
	UserName         string
	HasUserName      bool
	Password         []byte
	HasPassword      bool
	RemoteAddr       net.Addr
	ProtocolVersion  byte
	PeerCertificates []*x509.Certificate // verified client certificate chain, if any
	SessionExpiry    uint32
	Persistent       bool
	// Context ends when a policy that must wait (for a password-check
	// slot) has to give up: at the connection's connect timeout, or when
	// the engine closes. Nil means no bound.
	Context context.Context
}

// Client is an admitted client's view of the policy.
type Client interface {
	// MayPublish reports whether the client may publish to topic.
	MayPublish(cfg *config.Config, topic string) bool
	// MaySubscribe reports whether the client may subscribe to filter
	// (shareName is non-empty for a shared subscription; filter is then
	// the filter inside the $share/<name>/ or $SharedSubscription/<name>/
	// prefix).
	MaySubscribe(cfg *config.Config, filter, shareName string) bool
	// Limits returns MaxMessages and the behaviour for a subscription's
	// buffer.
	Limits(cfg *config.Config, filter, shareName string) (maxMessages int, discardOld bool)
	// MaxSessionExpiry caps the session expiry interval (maxExpiry: no
	// cap). It is fixed when the client connects.
	MaxSessionExpiry() uint32
	// AllowPersistentMessages reports whether the client may publish QoS 1
	// and 2 messages (wills included); when false such a PUBLISH is refused
	// as not authorized (0x87) and such a will refuses the CONNECT. It is
	// fixed when the client connects.
	AllowPersistentMessages() bool
	// MaxMessageTTL is the longest time, in seconds, that a message the
	// client publishes to topic may live (0: no limit); the engine caps the
	// message's expiry to it.
	MaxMessageTTL(cfg *config.Config, topic string) uint32
	// MayQueue reports whether the client may act on the point-to-point
	// queue: action is "Send" (publish to $queue/<queue>) or "Receive"
	// (subscribe to it as a consumer).
	MayQueue(cfg *config.Config, queue, action string) bool
	// Notify reports whether arrivals for the client's subscription to
	// filter while it is offline are announced on NotificationTopic
	// (TopicPolicy DisconnectedClientNotification).
	Notify(cfg *config.Config, filter string) bool
}

// ConfigPolicy is the engine's built-in policy until the policies package
// takes over: anonymous clients are admitted; a client that presents a user
// name must match a configured messaging User and its password; everyone
// may publish and subscribe; buffer limits come from the first TopicPolicy
// of the endpoint whose Topic matches the filter.
type ConfigPolicy struct{}

// Connect implements Policy.
func (ConfigPolicy) Connect(cfg *config.Config, info ConnInfo) (Client, byte) {
	if info.HasUserName {
		u := cfg.Users[info.UserName]
		if u == nil || !info.HasPassword || !config.VerifyPassword(u.Password, string(info.Password)) {
			return nil, 0x86
		}
	}
	return configClient{endpoint: info.Endpoint}, 0
}

type configClient struct{ endpoint string }

func (configClient) MayPublish(*config.Config, string) bool           { return true }
func (configClient) MaySubscribe(*config.Config, string, string) bool { return true }
func (configClient) MaxSessionExpiry() uint32                         { return maxExpiry }
func (configClient) AllowPersistentMessages() bool                    { return true }
func (configClient) MaxMessageTTL(*config.Config, string) uint32      { return 0 }
func (configClient) MayQueue(*config.Config, string, string) bool     { return true }
func (configClient) Notify(*config.Config, string) bool               { return false }

func (c configClient) Limits(cfg *config.Config, filter, _ string) (int, bool) {
	ep := cfg.Endpoints[c.endpoint]
	if ep == nil {
		return defaultLimits.maxMessages, false
	}
	for _, name := range ep.TopicPolicies {
		tp := cfg.TopicPolicies[name]
		if tp == nil || !patternCovers(tp.Topic, filter) {
			continue
		}
		return tp.MaxMessages, tp.MaxMessagesBehavior == "DiscardOldMessages"
	}
	return defaultLimits.maxMessages, false
}

// patternCovers reports whether a policy topic pattern (MessageSight form:
// exact, trailing '*', or MQTT '#') covers a subscription filter.
func patternCovers(pattern, filter string) bool {
	switch {
	case pattern == "*" || pattern == "#":
		return true
	case strings.HasSuffix(pattern, "*"):
		return strings.HasPrefix(filter, pattern[:len(pattern)-1])
	case strings.HasSuffix(pattern, "/#"):
		p := pattern[:len(pattern)-2]
		return filter == p || strings.HasPrefix(filter, p+"/")
	}
	return pattern == filter
}
