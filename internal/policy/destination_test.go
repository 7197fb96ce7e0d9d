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

func TestExpand(t *testing.T) {
	id := &identity{clientID: "d1", userID: "alice", hasUser: true, commonName: "cn1", hasCN: true}
	anon := &identity{clientID: "x*"}
	for _, tc := range []struct {
		pattern string
		id      *identity
		groups  []string
		want    []destination
	}{
		{"a/b", id, nil, []destination{{"a/b", false}}},
		{"a/*", id, nil, []destination{{"a/", true}}},
		{"devices/${ClientID}/*", id, nil, []destination{{"devices/d1/", true}}},
		{"u/${UserID}/c/${CommonName}", id, nil, []destination{{"u/alice/c/cn1", false}}},
		{"g/${GroupID}/${ClientID}*", id, []string{"g1", "g2"}, []destination{{"g/g1/d1", true}, {"g/g2/d1", true}}},
		{"g/${GroupID}", id, nil, []destination{}},
		{"u/${UserID}", anon, nil, nil},
		{"c/${CommonName}", anon, nil, nil},
		// A '*' in a substituted value is literal: "d/${ClientID}" for
		// client "x*" is the exact name "d/x*", not a prefix.
		{"d/${ClientID}", anon, nil, []destination{{"d/x*", false}}},
		// A group named like a variable is not substituted again.
		{"g/${GroupID}", id, []string{"${ClientID}"}, []destination{{"g/${ClientID}", false}}},
	} {
		got := expand(tc.pattern, tc.id, tc.groups)
		if !slices.Equal(got, tc.want) {
			t.Errorf("expand(%q) = %v, want %v", tc.pattern, got, tc.want)
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
		pieces := filterPieces(tc.filter)
		covered := make([]bool, len(pieces))
		for _, pat := range tc.patterns {
			for _, d := range expand(pat, &identity{}, nil) {
				for i, p := range pieces {
					covered[i] = covered[i] || d.covers(p)
				}
			}
		}
		got := !slices.Contains(covered, false)
		if got != tc.want {
			t.Errorf("%v covers %q = %v, want %v (pieces %v)", tc.patterns, tc.filter, got, tc.want, pieces)
		}
	}
}
