package topic

// MatchFilter reports whether the topic filter matches the topic name, with
// the same rules as Trie.Match: '+' is one whole level, '#' the parent level
// and everything below it, and a filter starting with a wildcard does not
// match a name starting with '$' [MQTT-4.7.2-1]. filter is an already
// validated filter without a share prefix (Subscription.Filter). It does not
// allocate; use it for one-off checks (Names finds the names of a set that
// a filter matches without comparing it with each).
func MatchFilter(filter, name string) bool {
	if name != "" && name[0] == '$' && filter != "" && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		fl, frest, fmore := cutLevel(filter)
		if fl == "#" {
			return true
		}
		nl, nrest, nmore := cutLevel(name)
		if fl != "+" && fl != nl {
			return false
		}
		if !fmore || !nmore {
			// One side has run out of levels: a match if both have, or if
			// all the filter has left is "#" ("sport/#" matches "sport").
			return fmore == nmore || (fmore && frest == "#")
		}
		filter, name = frest, nrest
	}
}
