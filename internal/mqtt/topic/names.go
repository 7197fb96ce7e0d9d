package topic

import "strings"

// Names is a set of topic names, each with a value, that finds the names a
// topic filter matches by walking the filter's levels, without looking at
// the other names: "a/+/c" visits the children of "a" and one child of
// each, "a/#" the subtree under "a". It is the reverse of Trie (which finds
// the filters a name matches); the engine keeps its retained messages in
// one, to find those of a new subscription.
//
// Names are stored as a tree of levels: the path from the root spells a
// name. Level strings are slices of the names given to Set, so a name
// shared with the value (a message's topic) is not copied.
//
// Concurrency: none; the owner guards it. The zero value is an empty set.
type Names[V any] struct {
	root namesNode[V]
	n    int
}

// namesNode is one level. A node with no children and no value exists
// only on the way to being pruned.
type namesNode[V any] struct {
	children map[string]*namesNode[V] // nil until the first child
	value    V
	set      bool // a name ends here
}

// Len returns the number of names.
func (t *Names[V]) Len() int { return t.n }

// Set gives name the value v, adding name if it is new. name must be a
// valid topic name (ValidName).
func (t *Names[V]) Set(name string, v V) {
	n := &t.root
	for rest, more := name, true; more; {
		var level string
		level, rest, more = cutLevel(rest)
		c := n.children[level]
		if c == nil {
			if n.children == nil {
				n.children = make(map[string]*namesNode[V], 1)
			}
			c = &namesNode[V]{}
			n.children[level] = c
		}
		n = c
	}
	if !n.set {
		t.n++
	}
	n.value, n.set = v, true
}

// Delete removes name and reports whether it was there. Nodes left with
// no name below them are freed.
func (t *Names[V]) Delete(name string) bool {
	// path[i] is the parent of the node reached by levels[i].
	var path []*namesNode[V]
	var levels []string
	n := &t.root
	for rest, more := name, true; more; {
		var level string
		level, rest, more = cutLevel(rest)
		c := n.children[level]
		if c == nil {
			return false
		}
		path, levels = append(path, n), append(levels, level)
		n = c
	}
	if !n.set {
		return false
	}
	var zero V
	n.value, n.set = zero, false
	t.n--
	for i := len(path) - 1; i >= 0 && !n.set && len(n.children) == 0; i-- {
		parent := path[i]
		delete(parent.children, levels[i])
		if len(parent.children) == 0 {
			parent.children = nil
		}
		n = parent
	}
	return true
}

// Match calls fn with the value of every name filter matches, in no
// particular order, with the rules of MatchFilter: '+' is one whole level,
// '#' the parent level and everything below it, and a filter starting with
// a wildcard does not match a name starting with '$' [MQTT-4.7.2-1].
// filter is an already validated filter without a share prefix
// (Subscription.Filter). fn must not change t.
//
// It returns how many nodes it visited: the cost of the call, which grows
// with what the filter can match and not with the size of the set.
func (t *Names[V]) Match(filter string, fn func(V)) (visited int) {
	return t.root.match(filter, true, fn)
}

// match matches filter against the levels below n; top says n is the root,
// whose children starting with '$' no wildcard matches.
func (n *namesNode[V]) match(filter string, top bool, fn func(V)) int {
	level, rest, more := cutLevel(filter)
	switch level {
	case "#":
		// The parent level ("sport/#" matches "sport"; the root is no
		// name) and everything below it.
		if n.set {
			fn(n.value)
		}
		visited := 0
		for k, c := range n.children {
			if !top || !strings.HasPrefix(k, "$") {
				visited += c.all(fn)
			}
		}
		return visited
	case "+":
		visited := 0
		for k, c := range n.children {
			if !top || !strings.HasPrefix(k, "$") {
				visited += c.next(rest, more, fn)
			}
		}
		return visited
	default:
		if c := n.children[level]; c != nil {
			return c.next(rest, more, fn)
		}
		return 0
	}
}

// next continues a match at n, which matched a level of the filter; more
// says the filter has levels left (rest).
func (n *namesNode[V]) next(rest string, more bool, fn func(V)) int {
	if !more {
		if n.set {
			fn(n.value)
		}
		return 1
	}
	return 1 + n.match(rest, false, fn)
}

// all calls fn for n and every name below it.
func (n *namesNode[V]) all(fn func(V)) int {
	if n.set {
		fn(n.value)
	}
	visited := 1
	for _, c := range n.children {
		visited += c.all(fn)
	}
	return visited
}
