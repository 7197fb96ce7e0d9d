package policy

import (
	"net/netip"
	"strings"

	"github.com/mqsight/mqsight/internal/config"
)

// identity is what the policies know about an admitted client. It is
// fixed at CONNECT.
type identity struct {
	endpoint   string
	clientID   string
	userID     string
	hasUser    bool
	commonName string
	hasCN      bool
	addr       netip.Addr // invalid when the address is unknown
	protocol   string
}

// matchFilters reports whether every set filter of f matches the client.
// groups are the client's groups, nested ones included. A document that
// passed config validation never has every filter empty; an empty set
// matches nothing, so an unvalidated policy can never open the door.
func matchFilters(f *config.Filters, id *identity, groups []string) bool {
	if f.Empty() {
		return false
	}
	if f.ClientID != "" && !matchName(f.ClientID, id.clientID) {
		return false
	}
	if f.UserID != "" && (!id.hasUser || !matchName(f.UserID, id.userID)) {
		return false
	}
	if f.GroupID != "" && !matchAny(f.GroupID, groups) {
		return false
	}
	if f.CommonNames != "" && (!id.hasCN || !matchName(f.CommonNames, id.commonName)) {
		return false
	}
	if f.ClientAddress != "" && !matchAddress(f.ClientAddress, id.addr) {
		return false
	}
	if len(f.Protocol) > 0 && !matchProtocol(f.Protocol, id.protocol) {
		return false
	}
	return true
}

// matchName matches a ClientID, UserID, GroupID or CommonNames pattern:
// exact, or a prefix when it ends in '*' ("*" alone matches every value).
func matchName(pattern, v string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(v, prefix)
	}
	return pattern == v
}

func matchAny(pattern string, vs []string) bool {
	for _, v := range vs {
		if matchName(pattern, v) {
			return true
		}
	}
	return false
}

func matchProtocol(list config.List, protocol string) bool {
	for _, p := range list {
		if strings.EqualFold(p, protocol) || strings.EqualFold(p, "All") {
			return true
		}
	}
	return false
}

// matchAddress reports whether ip is in a ClientAddress list: "*", single
// addresses (IPv6 bare or in brackets) and inclusive ranges "low-high".
// IPv4-mapped IPv6 addresses are compared as IPv4. An unknown address
// matches only "*".
func matchAddress(list string, ip netip.Addr) bool {
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item == "*" {
			return true
		}
		if !ip.IsValid() {
			continue
		}
		lowS, highS, isRange := strings.Cut(item, "-")
		low, ok := parseIP(lowS)
		if !ok {
			continue
		}
		if !isRange {
			if low == ip {
				return true
			}
			continue
		}
		high, ok := parseIP(highS)
		if ok && low.Is4() == ip.Is4() && low.Compare(ip) <= 0 && ip.Compare(high) <= 0 {
			return true
		}
	}
	return false
}

// parseIP parses an address as config validation accepts it.
func parseIP(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// resolveGroups returns the user's groups and, transitively, the groups
// they belong to, each once, in breadth-first order. Unknown group names
// are kept (validation refuses them; a group deleted under a running
// client simply stops nesting).
func resolveGroups(cfg *config.Config, user string) []string {
	u := cfg.Users[user]
	if u == nil || len(u.GroupMembership) == 0 {
		return nil
	}
	seen := make(map[string]bool, len(u.GroupMembership))
	var out []string
	queue := append([]string(nil), u.GroupMembership...)
	for len(queue) > 0 {
		g := queue[0]
		queue = queue[1:]
		if seen[g] {
			continue // config refuses cycles; this guards an unvalidated document
		}
		seen[g] = true
		out = append(out, g)
		if grp := cfg.Groups[g]; grp != nil {
			queue = append(queue, grp.GroupMembership...)
		}
	}
	return out
}
