package policy

import (
	"net/netip"
	"slices"
	"testing"
)

func TestMatchName(t *testing.T) {
	for _, tc := range []struct {
		pattern, v string
		want       bool
	}{
		{"*", "", true}, {"*", "anything", true},
		{"d*", "d1", true}, {"d*", "d", true}, {"d*", "x1", false},
		{"d1", "d1", true}, {"d1", "d10", false}, {"D1", "d1", false},
	} {
		if got := matchName(tc.pattern, tc.v); got != tc.want {
			t.Errorf("matchName(%q, %q) = %v, want %v", tc.pattern, tc.v, got, tc.want)
		}
	}
}

func TestMatchAddress(t *testing.T) {
	for _, tc := range []struct {
		list, ip string
		want     bool
	}{
		{"*", "10.1.2.3", true},
		{"*", "", true},
		{"10.1.2.3", "10.1.2.3", true},
		{"10.1.2.3", "10.1.2.4", false},
		{"10.0.0.1-10.0.0.9", "10.0.0.9", true},
		{"10.0.0.1-10.0.0.9", "10.0.0.1", true},
		{"10.0.0.1-10.0.0.9", "10.0.0.10", false},
		{"10.0.0.1-10.0.0.9", "9.255.255.255", false},
		{"192.168.0.1, 10.0.0.0-10.255.255.255", "10.200.0.1", true},
		{"[::1]", "::1", true},
		{"::1", "::1", true},
		{"[fe80::1]-[fe80::ff]", "fe80::10", true},
		{"[fe80::1]-[fe80::ff]", "fe80::100", false},
		{"127.0.0.1", "::ffff:127.0.0.1", true}, // mapped addresses compare as IPv4
		{"0.0.0.0-255.255.255.255", "::1", false},
		{"10.1.2.3", "", false},
	} {
		var ip netip.Addr
		if tc.ip != "" {
			ip = netip.MustParseAddr(tc.ip).Unmap()
		}
		if got := matchAddress(tc.list, ip); got != tc.want {
			t.Errorf("matchAddress(%q, %s) = %v, want %v", tc.list, tc.ip, got, tc.want)
		}
	}
}

// TestTemplate: substitution of the client's values into a pattern, as
// literal text.
func TestTemplate(t *testing.T) {
	id := &identity{clientID: "d1", userID: "alice", hasUser: true, commonName: "cn1", hasCN: true}
	anon := &identity{clientID: "x*"}
	for _, tc := range []struct {
		pattern string
		id      *identity
		groups  []string
		name    string
		want    bool
	}{
		{"a/b", id, nil, "a/b", true},
		{"a/b", id, nil, "a/bc", false},
		{"a/*", id, nil, "a/b/c", true},
		{"a/*", id, nil, "a", false},
		{"devices/${ClientID}/*", id, nil, "devices/d1/x", true},
		{"devices/${ClientID}/*", id, nil, "devices/d2/x", false},
		{"devices/${ClientID}/*", id, nil, "devices/d10/x", false},
		{"devices/${ClientID}", id, nil, "devices/d1", true},
		{"devices/${ClientID}", id, nil, "devices/d1/x", false},
		{"u/${UserID}/c/${CommonName}", id, nil, "u/alice/c/cn1", true},
		{"u/${UserID}/c/${CommonName}", id, nil, "u/alice/c/cn2", false},
		{"g/${GroupID}/${ClientID}*", id, []string{"g1", "g2"}, "g/g2/d1/x", true},
		{"g/${GroupID}/${ClientID}*", id, []string{"g1", "g2"}, "g/g3/d1/x", false},
		{"g/${GroupID}/${GroupID}", id, []string{"g1", "g2"}, "g/g1/g2", false}, // one group per match
		{"g/${GroupID}/${GroupID}", id, []string{"g1", "g2"}, "g/g2/g2", true},
		{"g/${GroupID}*", id, nil, "g/", false},
		{"u/${UserID}*", anon, nil, "u/", false},
		{"c/${CommonName}*", anon, nil, "c/", false},
		// A '*' in a substituted value is literal: "d/${ClientID}" for
		// client "x*" is the exact name "d/x*", not a prefix.
		{"d/${ClientID}", anon, nil, "d/x*", true},
		{"d/${ClientID}", anon, nil, "d/xyz", false},
		// A group named like a variable is not substituted again.
		{"g/${GroupID}", id, []string{"${ClientID}"}, "g/${ClientID}", true},
		{"g/${GroupID}", id, []string{"${ClientID}"}, "g/d1", false},
		{"${ClientID}*", &identity{clientID: ""}, nil, "$SYS/x", false}, // empty expansion: no '$' topics
		// A value with a '/' would reach into another client's levels: it
		// matches nothing.
		{"devices/${ClientID}/*", &identity{clientID: "d1/evil"}, nil, "devices/d1/evil/cmd", false},
		{"devices/${ClientID}", &identity{clientID: "d1/evil"}, nil, "devices/d1/evil", false},
		{"users/${UserID}/*", &identity{clientID: "c", userID: "bob/x", hasUser: true}, nil, "users/bob/x/in", false},
		{"g/${GroupID}/*", id, []string{"a/b", "g2"}, "g/a/b/x", false},
		{"g/${GroupID}/*", id, []string{"a/b", "g2"}, "g/g2/x", true},
		{"c/${CommonName}/*", &identity{clientID: "c", commonName: "x/y", hasCN: true}, nil, "c/x/y/z", false},
	} {
		got := parseTemplate(tc.pattern).covers(tc.id, tc.groups, destination{tc.name, false})
		if got != tc.want {
			t.Errorf("%q for %+v, groups %v, matches %q = %v, want %v", tc.pattern, tc.id, tc.groups, tc.name, got, tc.want)
		}
	}
}

// TestCovers checks the subscription-filter rule: a filter is allowed only
// when every topic it can match is matched by the policies' patterns.
func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		patterns []string
		filter   string
		want     bool
	}{
		{[]string{"*"}, "#", true},
		{[]string{"*"}, "+/a", true},
		{[]string{"a/*"}, "a/b", true},
		{[]string{"a/*"}, "a/+", true},
		{[]string{"a/*"}, "a/+/c", true},
		{[]string{"a/*"}, "a/b/#", true},
		{[]string{"a/*"}, "a/#", false}, // "a/#" also matches "a"
		{[]string{"a*"}, "a/#", true},
		{[]string{"a/*", "a"}, "a/#", true}, // two policies together cover it
		{[]string{"a/*"}, "+/b", false},
		{[]string{"a/*"}, "#", false},
		{[]string{"a/*"}, "a", false},
		{[]string{"a/b*"}, "a/+", false}, // "a/+" matches "a/c"
		{[]string{"a/b"}, "a/b", true},
		{[]string{"a/b"}, "a/+", false},
		{[]string{"a/b"}, "a/b/#", false},
		{[]string{"a/b/*"}, "a/b/#", false},
		{[]string{"devices/d1/*"}, "devices/+/x", false},
		{[]string{"devices/d1/*"}, "devices/d1/+", true},
		{[]string{"*"}, "$SYS/#", false}, // '$' topics need a pattern naming them
		{[]string{"*"}, "$SYS/x", false},
		{[]string{"$SYS/*"}, "$SYS/x/#", true},
		{[]string{"$*"}, "$SYS/x", true},
	} {
		ps, n := filterPieces(tc.filter)
		covered := make([]bool, n)
		for _, pat := range tc.patterns {
			for i := range n {
				covered[i] = covered[i] || parseTemplate(pat).covers(&identity{}, nil, ps[i])
			}
		}
		got := !slices.Contains(covered, false)
		if got != tc.want {
			t.Errorf("%v covers %q = %v, want %v (pieces %v)", tc.patterns, tc.filter, got, tc.want, ps[:n])
		}
	}
}
