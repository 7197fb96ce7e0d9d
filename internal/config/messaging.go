package config

import (
	"strconv"
	"strings"
)

// MessageHub groups endpoints; it has no behaviour of its own.
type MessageHub struct {
	Name        string
	Description string
}

// Endpoint is a listener: a port on an interface, bound to a MessageHub and
// to the policies that authorize clients connecting through it.
// Interface is server configuration (see Split); everything else is
// messaging configuration.
type Endpoint struct {
	Name                 string
	Description          string
	Port                 int
	Interface            string // "All" or an IP address literal
	Protocol             List   // "All", "MQTT", "JMS" (JMS accepted, not served)
	Enabled              bool
	MessageHub           string
	SecurityProfile      string // empty: plain TCP
	ConnectionPolicies   List
	TopicPolicies        List
	SubscriptionPolicies List
	QueuePolicies        List
	MaxMessageSize       string // "<n>KB", 1KB-262144KB
}

// MaxMessageSizeBytes returns MaxMessageSize in bytes (0 if malformed, which
// a validated document never is).
func (e *Endpoint) MaxMessageSizeBytes() int64 {
	kb, ok := parseSizeKB(e.MaxMessageSize)
	if !ok {
		return 0
	}
	return kb * 1024
}

// ServesMQTT reports whether the endpoint's Protocol list admits MQTT.
func (e *Endpoint) ServesMQTT() bool {
	return e.Protocol.Contains("All") || e.Protocol.Contains("MQTT")
}

// Validate checks the endpoint on its own (not its references).
func (e *Endpoint) Validate() error { return validateObject(e).join() }

// Validate checks the hub on its own.
func (h *MessageHub) Validate() error { return validateObject(h).join() }

// Queue is a point-to-point queue, reachable from MQTT as $queue/<Name>.
type Queue struct {
	Name                string
	Description         string
	AllowSend           bool
	ConcurrentConsumers bool
	MaxMessages         int
}

// Validate checks the queue on its own.
func (q *Queue) Validate() error { return validateObject(q).join() }

// parseSizeKB parses MessageSight's "<n>KB" or "<n>MB" (case-insensitive)
// and returns the size in KB.
func parseSizeKB(s string) (int64, bool) {
	u := strings.ToUpper(s)
	mult := int64(1)
	switch {
	case strings.HasSuffix(u, "KB"):
	case strings.HasSuffix(u, "MB"):
		mult = 1024
	default:
		return 0, false
	}
	digits := u[:len(u)-2]
	if digits == "" || len(digits) > 12 || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, false
	}
	return n * mult, true
}

// parseUnlimited parses a MessageSight "unlimited" or decimal-seconds value.
// limited is false for "unlimited"; ok is false for anything else malformed.
func parseUnlimited(s string) (n int64, limited, ok bool) {
	if strings.EqualFold(s, "unlimited") {
		return 0, false, true
	}
	if s == "" || len(s) > 19 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, true, err == nil
}
