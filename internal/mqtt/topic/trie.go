package topic

import (
	"strings"
	"sync"
)

// Trie maps topic filters to subscribers and matches topic names against
// them. K identifies a subscriber (e.g. a client ID or session pointer); V is
// what the engine wants back on a match (granted QoS, options, ...).
//
// A subscription is identified by (filter as spelled, key): subscribing the
// same key to the same filter again replaces its value. "a/b" and
// "$share/g/a/b" are different filters, so one key may hold both.
//
// Concurrency: a Trie is safe for concurrent use. Mutations take the write
// lock; Match and the read-only accessors take the read lock and hold it
// only while walking the trie. Nothing a method returns aliases memory the
// Trie will later modify: Subscriber values are copies and Group.Members
// slices are copy-on-write (never modified after Match has seen them), so
// results stay valid after the lock is released.
//
// The zero value is not usable; call NewTrie.
type Trie[K comparable, V any] struct {
	mu struct {
		sync.RWMutex
		root  *node[K, V]
		byKey map[K]map[string]struct{} // key → filters as spelled
		count int                       // subscriptions, shared memberships included
	}
}

// node is one level of the trie. The path from the root spells a filter.
type node[K comparable, V any] struct {
	parent   *node[K, V]
	level    string // this node's level in its parent ("+" and "#" included)
	filter   string // filter spelled by the path; set on creation
	children map[string]*node[K, V]
	plus     *node[K, V] // child for "+"
	hash     *node[K, V] // child for "#"
	subs     map[K]V
	groups   map[groupID]*Group[K, V]
}

type groupID struct {
	form ShareForm
	name string
}

// Subscriber is one ordinary (not shared) subscription that matched.
type Subscriber[K comparable, V any] struct {
	Key    K
	Filter string // the subscription's filter
	Value  V
}

// Member is one subscriber in a shared-subscription group.
type Member[K comparable, V any] struct {
	Key   K
	Value V
}

// Group is a shared subscription: the members subscribed with the same form,
// share name and filter. The engine delivers a matching message to one of
// them ([MQTT-4.8.2-3] governs the QoS it then uses).
//
// Members is in subscription order (a replaced value keeps its place) and is
// never modified in place: the Trie installs a new slice on every change, so
// a Group returned by Match is an immutable snapshot.
type Group[K comparable, V any] struct {
	Form    ShareForm
	Name    string
	Filter  string
	Members []Member[K, V]
}

// Matches receives the result of Match. Reuse one per goroutine to avoid
// allocating on every publish; Match truncates both slices before filling.
//
// A key with several overlapping subscriptions ("a/+" and "a/#") appears
// once per matching subscription; collapsing them is the engine's call.
type Matches[K comparable, V any] struct {
	Subscribers []Subscriber[K, V]
	Groups      []Group[K, V]
}

// NewTrie returns an empty Trie.
func NewTrie[K comparable, V any]() *Trie[K, V] {
	t := &Trie[K, V]{}
	t.mu.root = &node[K, V]{}
	t.mu.byKey = make(map[K]map[string]struct{})
	return t
}

// Subscribe adds or replaces the subscription of key to filter, which may be
// a shared subscription in either form (see ParseSubscription). It reports
// whether an existing subscription was replaced. An invalid filter returns
// an error wrapping ErrInvalidFilter and changes nothing.
func (t *Trie[K, V]) Subscribe(filter string, key K, value V) (replaced bool, err error) {
	sub, err := ParseSubscription(filter)
	if err != nil {
		return false, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.mu.root
	for level := range strings.SplitSeq(sub.Filter, "/") {
		n = n.childOrCreate(level)
	}
	if sub.Shared() {
		replaced = n.addMember(groupID{sub.Form, sub.ShareName}, key, value)
	} else {
		if n.subs == nil {
			n.subs = make(map[K]V)
		}
		_, replaced = n.subs[key]
		n.subs[key] = value
	}
	if !replaced {
		t.mu.count++
		filters := t.mu.byKey[key]
		if filters == nil {
			filters = make(map[string]struct{})
			t.mu.byKey[key] = filters
		}
		filters[filter] = struct{}{}
	}
	return replaced, nil
}

// Unsubscribe removes the subscription of key to filter (spelled as it was
// subscribed) and reports whether there was one. Empty trie nodes are freed.
func (t *Trie[K, V]) Unsubscribe(filter string, key K) bool {
	sub, err := ParseSubscription(filter)
	if err != nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.unsubscribeLocked(filter, sub, key)
}

// UnsubscribeAll removes every subscription of key (session cleanup) and
// returns how many there were.
func (t *Trie[K, V]) UnsubscribeAll(key K) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	removed := 0
	for filter := range t.mu.byKey[key] {
		sub, err := ParseSubscription(filter)
		if err != nil {
			continue // unreachable: only parsed filters are indexed
		}
		if t.unsubscribeLocked(filter, sub, key) {
			removed++
		}
	}
	return removed
}

func (t *Trie[K, V]) unsubscribeLocked(filter string, sub Subscription, key K) bool {
	n := t.mu.root
	for level := range strings.SplitSeq(sub.Filter, "/") {
		if n = n.child(level); n == nil {
			return false
		}
	}
	if sub.Shared() {
		if !n.removeMember(groupID{sub.Form, sub.ShareName}, key) {
			return false
		}
	} else {
		if _, ok := n.subs[key]; !ok {
			return false
		}
		delete(n.subs, key)
	}
	t.mu.count--
	if filters := t.mu.byKey[key]; filters != nil {
		delete(filters, filter)
		if len(filters) == 0 {
			delete(t.mu.byKey, key)
		}
	}
	n.prune()
	return true
}

// Len returns the number of subscriptions, counting each shared-group
// membership as one.
func (t *Trie[K, V]) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.mu.count
}

// Filters returns the filters key is subscribed to, spelled as subscribed,
// in no particular order.
func (t *Trie[K, V]) Filters(key K) []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]string, 0, len(t.mu.byKey[key]))
	for f := range t.mu.byKey[key] {
		out = append(out, f)
	}
	return out
}

// Match fills m with the subscriptions whose filter matches the topic name
// (which the caller has validated with ValidName). Ordinary subscribers go
// to m.Subscribers, shared groups to m.Groups; order is unspecified. Filters
// starting with a wildcard do not match names starting with '$'
// [MQTT-4.7.2-1]. Match allocates only when m's slices must grow.
func (t *Trie[K, V]) Match(topic string, m *Matches[K, V]) {
	m.Subscribers = m.Subscribers[:0]
	m.Groups = m.Groups[:0]
	t.mu.RLock()
	defer t.mu.RUnlock()
	root := t.mu.root
	level, rest, more := cutLevel(topic)
	if c := root.children[level]; c != nil {
		c.match(rest, more, m)
	}
	if strings.HasPrefix(topic, "$") {
		return // [MQTT-4.7.2-1]
	}
	if root.plus != nil {
		root.plus.match(rest, more, m)
	}
	if root.hash != nil {
		root.hash.collect(m)
	}
}

// match continues at n, whose level matched; rest holds the unmatched levels
// if more is true.
func (n *node[K, V]) match(rest string, more bool, m *Matches[K, V]) {
	if !more {
		n.collect(m)
		if n.hash != nil {
			n.hash.collect(m) // "sport/#" matches "sport"
		}
		return
	}
	level, rest, more := cutLevel(rest)
	if c := n.children[level]; c != nil {
		c.match(rest, more, m)
	}
	if n.plus != nil {
		n.plus.match(rest, more, m)
	}
	if n.hash != nil {
		n.hash.collect(m)
	}
}

// cutLevel splits the first level off s.
func cutLevel(s string) (level, rest string, more bool) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

func (n *node[K, V]) collect(m *Matches[K, V]) {
	for k, v := range n.subs {
		m.Subscribers = append(m.Subscribers, Subscriber[K, V]{Key: k, Filter: n.filter, Value: v})
	}
	for _, g := range n.groups {
		m.Groups = append(m.Groups, *g)
	}
}

func (n *node[K, V]) child(level string) *node[K, V] {
	switch level {
	case "+":
		return n.plus
	case "#":
		return n.hash
	}
	return n.children[level]
}

func (n *node[K, V]) childOrCreate(level string) *node[K, V] {
	if c := n.child(level); c != nil {
		return c
	}
	c := &node[K, V]{parent: n, level: level, filter: level}
	if n.parent != nil {
		c.filter = n.filter + "/" + level
	}
	switch level {
	case "+":
		n.plus = c
	case "#":
		n.hash = c
	default:
		if n.children == nil {
			n.children = make(map[string]*node[K, V])
		}
		n.children[level] = c
	}
	return c
}

// addMember adds or replaces key in group id, installing a new Members slice.
func (n *node[K, V]) addMember(id groupID, key K, value V) (replaced bool) {
	g := n.groups[id]
	if g == nil {
		if n.groups == nil {
			n.groups = make(map[groupID]*Group[K, V])
		}
		g = &Group[K, V]{Form: id.form, Name: id.name, Filter: n.filter}
		n.groups[id] = g
	}
	members := make([]Member[K, V], len(g.Members), len(g.Members)+1)
	copy(members, g.Members)
	for i := range members {
		if members[i].Key == key {
			members[i].Value = value
			g.Members = members
			return true
		}
	}
	g.Members = append(members, Member[K, V]{Key: key, Value: value})
	return false
}

// removeMember removes key from group id, installing a new Members slice.
func (n *node[K, V]) removeMember(id groupID, key K) bool {
	g := n.groups[id]
	if g == nil {
		return false
	}
	for i := range g.Members {
		if g.Members[i].Key != key {
			continue
		}
		if len(g.Members) == 1 {
			delete(n.groups, id)
			return true
		}
		members := make([]Member[K, V], 0, len(g.Members)-1)
		members = append(members, g.Members[:i]...)
		g.Members = append(members, g.Members[i+1:]...)
		return true
	}
	return false
}

func (n *node[K, V]) empty() bool {
	return len(n.subs) == 0 && len(n.groups) == 0 && len(n.children) == 0 && n.plus == nil && n.hash == nil
}

// prune detaches n and then its ancestors while they hold nothing.
func (n *node[K, V]) prune() {
	for n.parent != nil && n.empty() {
		p := n.parent
		switch n.level {
		case "+":
			p.plus = nil
		case "#":
			p.hash = nil
		default:
			delete(p.children, n.level)
		}
		n.parent = nil
		n = p
	}
}
