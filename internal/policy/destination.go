package policy

import "strings"

// destination is a Topic or Subscription pattern with the client's values
// substituted: a literal prefix when wild, else a literal name.
type destination struct {
	text string
	wild bool
}

// expand substitutes the client's values into pattern. A pattern may use
// ${GroupID} and the client be in several groups: expand returns one
// destination per group (none when the client has no group, or no user or
// certificate for ${UserID} / ${CommonName}: such a pattern then matches
// nothing). Substituted values are literal text; only the pattern's own
// trailing '*' is a wildcard.
func expand(pattern string, id *identity, groups []string) []destination {
	base, wild := strings.CutSuffix(pattern, "*")
	if !strings.Contains(base, "${") {
		return []destination{{base, wild}}
	}
	if strings.Contains(base, "${UserID}") && !id.hasUser ||
		strings.Contains(base, "${CommonName}") && !id.hasCN {
		return nil
	}
	r := strings.NewReplacer("${ClientID}", id.clientID, "${UserID}", id.userID, "${CommonName}", id.commonName)
	if !strings.Contains(base, "${GroupID}") {
		return []destination{{r.Replace(base), wild}}
	}
	out := make([]destination, 0, len(groups))
	for _, g := range groups {
		// Replace ${GroupID} first, splitting around it, so that a group
		// name holding "${ClientID}" is not substituted again.
		parts := strings.Split(base, "${GroupID}")
		for i := range parts {
			parts[i] = r.Replace(parts[i])
		}
		out = append(out, destination{strings.Join(parts, g), wild})
	}
	return out
}

// matchesName reports whether a topic (or share) name is matched. As MQTT
// wildcards do not match topics beginning with '$' ([MQTT-4.7.2-1]), a
// bare "*" does not match them either: "$SYS/..." needs a pattern that
// spells out its '$' prefix.
func (d destination) matchesName(name string) bool {
	if d.wild {
		return strings.HasPrefix(name, d.text) && !(d.text == "" && strings.HasPrefix(name, "$"))
	}
	return name == d.text
}

// covers reports whether every topic name in the set p is matched by d.
func (d destination) covers(p destination) bool {
	if p.wild {
		return d.wild && strings.HasPrefix(p.text, d.text) && !(d.text == "" && strings.HasPrefix(p.text, "$"))
	}
	return d.matchesName(p.text)
}

// filterPieces splits the topic names an MQTT filter can match into sets
// that policies can cover one by one (each by any authorizing policy):
//   - a filter without wildcards is the one name it is;
//   - a filter whose first wildcard level is k matches topics sharing only
//     the literal levels before it, L = "l1/.../lk-1/" ("" when k is 1):
//     everything after L can be anything (a level may even be empty), so
//     the set is "every name starting with L";
//   - when that first wildcard is '#' and L is not empty, the filter also
//     matches the parent name "l1/.../lk-1" itself ([MQTT-4.7.1-2]), a
//     second, exact set.
//
// This over-approximates filters such as "a/+/b" (their set is taken as
// "a/*"): a filter is allowed only if the policies cover every topic it
// could match, never more.
func filterPieces(filter string) []destination {
	for off := 0; off <= len(filter); {
		level, _, _ := strings.Cut(filter[off:], "/")
		if level == "+" || level == "#" {
			pieces := []destination{{filter[:off], true}}
			if level == "#" && off > 0 {
				pieces = append(pieces, destination{filter[:off-1], false})
			}
			return pieces
		}
		off += len(level) + 1
	}
	return []destination{{filter, false}}
}
