package config

import (
	"encoding/json"
	"slices"
	"strings"
)

// List is a list property: names of other objects (ConnectionPolicies,
// GroupMembership) or enumeration values (ActionList, Protocol). The REST API
// accepts a MessageSight comma-separated string ("Publish,Subscribe") or a
// JSON array; the document stores a JSON array and ObjectProperties renders
// the comma-separated form. A nil List is written as [] so that an empty list
// has one canonical form.
type List []string

// MarshalJSON writes nil as [] (canonical form).
func (l List) MarshalJSON() ([]byte, error) {
	if l == nil {
		return []byte("[]"), nil
	}
	return json.Marshal([]string(l))
}

// String returns the MessageSight form: items joined by commas.
func (l List) String() string { return strings.Join(l, ",") }

// Contains reports whether item is in the list (exact match).
func (l List) Contains(item string) bool { return slices.Contains(l, item) }
