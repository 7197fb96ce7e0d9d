package topic

import "strings"

// ShareForm says how a SUBSCRIBE filter was spelled.
type ShareForm uint8

const (
	// NotShared is an ordinary subscription.
	NotShared ShareForm = iota
	// ShareMQTT is "$share/<ShareName>/<filter>" (MQTT 5.0 §4.8.2).
	ShareMQTT
	// ShareMessageSight is "$SharedSubscription/<SubName>/<filter>", the
	// form IBM MessageSight and Eclipse Amlen accept from MQTT clients.
	ShareMessageSight
)

// String returns the prefix of the form ("$share", "$SharedSubscription") or "".
func (f ShareForm) String() string {
	switch f {
	case ShareMQTT:
		return sharePrefixMQTT
	case ShareMessageSight:
		return sharePrefixMessageSight
	}
	return ""
}

const (
	sharePrefixMQTT         = "$share"
	sharePrefixMessageSight = "$SharedSubscription"
)

// Subscription is a parsed SUBSCRIBE topic filter.
//
// For an ordinary subscription Form is NotShared, ShareName is empty and
// Filter is the whole input. For a shared one Filter is the part after the
// share name: the filter that topics are matched against.
type Subscription struct {
	Form      ShareForm
	ShareName string
	Filter    string
}

// Shared reports whether s is a shared subscription.
func (s Subscription) Shared() bool { return s.Form != NotShared }

// String returns the filter as the client spelled it.
func (s Subscription) String() string {
	if s.Form == NotShared {
		return s.Filter
	}
	return s.Form.String() + "/" + s.ShareName + "/" + s.Filter
}

// ParseSubscription validates a SUBSCRIBE (or UNSUBSCRIBE) topic filter and
// splits off a share prefix. A filter whose first level is exactly "$share"
// or "$SharedSubscription" is always treated as shared, so "$share/g" (no
// filter) and "$share//a" (empty name) are errors rather than ordinary
// filters ([MQTT-4.8.2-1], [MQTT-4.8.2-2]). The error wraps
// ErrInvalidFilter and one detail sentinel.
func ParseSubscription(filter string) (Subscription, error) {
	if err := ValidFilter(filter); err != nil {
		return Subscription{}, err
	}
	first, rest, found := strings.Cut(filter, "/")
	var form ShareForm
	switch first {
	case sharePrefixMQTT:
		form = ShareMQTT
	case sharePrefixMessageSight:
		form = ShareMessageSight
	default:
		return Subscription{Filter: filter}, nil
	}
	if !found {
		return Subscription{}, invalid(ErrInvalidFilter, filter, ErrBadShareName)
	}
	name, inner, found := strings.Cut(rest, "/")
	if name == "" || strings.ContainsAny(name, "+#") {
		return Subscription{}, invalid(ErrInvalidFilter, filter, ErrBadShareName)
	}
	if !found || inner == "" {
		return Subscription{}, invalid(ErrInvalidFilter, filter, ErrNoSharedFilter)
	}
	// inner is a suffix of a filter that passed checkWildcards at level
	// boundaries, so it is itself a valid filter.
	return Subscription{Form: form, ShareName: name, Filter: inner}, nil
}
