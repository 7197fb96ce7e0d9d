package policy

import "strings"

// destination is a set of topic (or share) names: the names starting with
// text when wild, else the one name text.
type destination struct {
	text string
	wild bool
}

// covers reports whether every name in the set p is in d. As MQTT
// wildcards do not match topics beginning with '$' ([MQTT-4.7.2-1]), a
// bare "*" does not reach them either: "$SYS/..." needs a pattern that
// spells out its '$' prefix.
func (d destination) covers(p destination) bool {
	if !strings.HasPrefix(p.text, d.text) {
		return false
	}
	if d.text == "" && strings.HasPrefix(p.text, "$") {
		return false
	}
	if p.wild {
		return d.wild
	}
	return d.wild || len(p.text) == len(d.text)
}

// template is a Topic or Subscription pattern: text that may hold
// ${ClientID}, ${UserID}, ${GroupID} and ${CommonName}, and whether it
// ends in the wildcard '*'.
//
// Matching substitutes the client's values as literal text (a '*' or '+'
// in a client identifier is never a wildcard; only the pattern's own
// trailing '*' is) without building the substituted string: policy checks
// run on every PUBLISH, under the engine's routing lock, and must not
// allocate. ${GroupID} is tried with each of the client's groups (the
// same group for every occurrence). A variable the client has no value
// for (${UserID} without a user name, ${CommonName} without a
// certificate, ${GroupID} without groups) makes the pattern match
// nothing.
type template struct {
	base string
	wild bool
}

func parseTemplate(pattern string) template {
	base, wild := strings.CutSuffix(pattern, "*")
	return template{base, wild}
}

// covers reports whether the substituted pattern covers the names p.
func (t template) covers(id *identity, groups []string, p destination) bool {
	if !strings.Contains(t.base, "${") {
		return destination{t.base, t.wild}.covers(p)
	}
	if strings.Contains(t.base, "${GroupID}") {
		for _, g := range groups {
			if t.coversWith(id, g, p) {
				return true
			}
		}
		return false
	}
	return t.coversWith(id, "", p)
}

// coversWith is covers with ${GroupID} standing for group: it walks the
// pattern, comparing literal runs and variable values against p.text, so
// that at the end p.text[:n] is the substituted pattern, and then applies
// destination.covers' rules to it.
func (t template) coversWith(id *identity, group string, p destination) bool {
	s, n, rest := p.text, 0, t.base
	for rest != "" {
		lit := rest
		i := strings.Index(rest, "${")
		if i >= 0 {
			lit = rest[:i]
		}
		if !strings.HasPrefix(s[n:], lit) {
			return false
		}
		n += len(lit)
		rest = rest[len(lit):]
		if i < 0 {
			break
		}
		v, name, ok := variable(rest, id, group)
		if !ok || !strings.HasPrefix(s[n:], v) {
			return false
		}
		n += len(v)
		rest = rest[len(name):]
	}
	if n == 0 && strings.HasPrefix(s, "$") {
		return false
	}
	if p.wild {
		return t.wild
	}
	return t.wild || n == len(s)
}

// variable returns the value of the variable at the start of rest and the
// variable's spelling; ok is false when the client has no value for it,
// when the value holds a '/' (it would reach into other topic levels: a
// client "d1/evil" must not get devices/d1/evil/... under
// devices/${ClientID}/*, which is device d1's), or when the variable is
// unknown (config validation refuses those).
func variable(rest string, id *identity, group string) (value, name string, ok bool) {
	switch {
	case strings.HasPrefix(rest, "${ClientID}"):
		value, name, ok = id.clientID, "${ClientID}", true
	case strings.HasPrefix(rest, "${UserID}"):
		value, name, ok = id.userID, "${UserID}", id.hasUser
	case strings.HasPrefix(rest, "${GroupID}"):
		value, name, ok = group, "${GroupID}", group != ""
	case strings.HasPrefix(rest, "${CommonName}"):
		value, name, ok = id.commonName, "${CommonName}", id.hasCN
	}
	return value, name, ok && !strings.Contains(value, "/")
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
func filterPieces(filter string) (pieces, int) {
	for off := 0; off <= len(filter); {
		level, _, _ := strings.Cut(filter[off:], "/")
		if level == "+" || level == "#" {
			if level == "#" && off > 0 {
				return pieces{{filter[:off], true}, {filter[:off-1], false}}, 2
			}
			return pieces{{filter[:off], true}}, 1
		}
		off += len(level) + 1
	}
	return pieces{{filter, false}}, 1
}

// pieces holds the (at most two) name sets of a filter; filterPieces
// returns how many are used. A fixed array keeps the checks free of
// allocations.
type pieces [2]destination
