package topic

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
)

type matchCase struct {
	line          int
	id            string
	filter, topic string
	want          bool
}

func loadMatchCases(t *testing.T) []matchCase {
	t.Helper()
	f, err := os.Open("testdata/match.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []matchCase
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Split(text, "|")
		if len(fields) != 4 {
			t.Fatalf("testdata/match.txt:%d: want 4 fields, got %d", line, len(fields))
		}
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
		}
		if fields[3] != "match" && fields[3] != "nomatch" {
			t.Fatalf("testdata/match.txt:%d: last field must be match or nomatch", line)
		}
		cases = append(cases, matchCase{line, fields[0], fields[1], fields[2], fields[3] == "match"})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 50 {
		t.Fatalf("only %d cases loaded", len(cases))
	}
	return cases
}

// TestMatchTable runs every case alone in a trie, then all of them in one
// trie (one key per case) so cases cannot hide each other's mistakes.
func TestMatchTable(t *testing.T) {
	cases := loadMatchCases(t)
	all := NewTrie[int, string]()
	for i, c := range cases {
		if err := ValidName(c.topic); err != nil {
			t.Fatalf("testdata/match.txt:%d: topic: %v", c.line, err)
		}
		tr := NewTrie[int, string]()
		if _, err := tr.Subscribe(c.filter, 1, "v"); err != nil {
			t.Fatalf("testdata/match.txt:%d [%s]: Subscribe(%q): %v", c.line, c.id, c.filter, err)
		}
		if _, err := all.Subscribe(c.filter, i, c.filter); err != nil {
			t.Fatal(err)
		}
		var m Matches[int, string]
		tr.Match(c.topic, &m)
		got := len(m.Subscribers)+len(m.Groups) > 0
		if got != c.want {
			t.Errorf("testdata/match.txt:%d [%s]: filter %q topic %q: matched=%v, want %v", c.line, c.id, c.filter, c.topic, got, c.want)
		}
		if sub, _ := ParseSubscription(c.filter); sub.Shared() != (len(m.Groups) > 0) && got {
			t.Errorf("testdata/match.txt:%d: shared=%v but groups=%d", c.line, sub.Shared(), len(m.Groups))
		}
	}
	var m Matches[int, string]
	for _, c := range cases {
		all.Match(c.topic, &m)
		var got []int
		for _, s := range m.Subscribers {
			got = append(got, s.Key)
		}
		for _, g := range m.Groups {
			for _, mem := range g.Members {
				got = append(got, mem.Key)
			}
		}
		var want []int
		for j, d := range cases {
			if refMatch(mustParse(t, d.filter).Filter, c.topic) {
				want = append(want, j)
			}
		}
		sort.Ints(got)
		if !slices.Equal(got, want) {
			t.Errorf("topic %q in the combined trie: keys %v, want %v", c.topic, got, want)
		}
	}
}

func mustParse(t testing.TB, filter string) Subscription {
	t.Helper()
	s, err := ParseSubscription(filter)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// refMatch is the obviously-correct matcher the trie is compared with.
func refMatch(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (filter[0] == '+' || filter[0] == '#') {
		return false // [MQTT-4.7.2-1]
	}
	f := strings.Split(filter, "/")
	tp := strings.Split(topic, "/")
	for i, level := range f {
		if level == "#" {
			return true
		}
		if i >= len(tp) || (level != "+" && level != tp[i]) {
			return false
		}
	}
	return len(f) == len(tp)
}

func TestSubscribeReplaceUnsubscribe(t *testing.T) {
	tr := NewTrie[string, int]()
	mustSub := func(filter, key string, v int, wantReplaced bool) {
		t.Helper()
		replaced, err := tr.Subscribe(filter, key, v)
		if err != nil || replaced != wantReplaced {
			t.Fatalf("Subscribe(%q, %q) = %v, %v; want replaced=%v", filter, key, replaced, err, wantReplaced)
		}
	}
	mustSub("a/+", "c1", 1, false)
	mustSub("a/+", "c1", 2, true) // same key+filter: replace
	mustSub("a/+", "c2", 3, false)
	mustSub("a/#", "c1", 4, false)
	mustSub("$share/g/a/+", "c1", 5, false)
	mustSub("$share/g/a/+", "c1", 6, true)
	mustSub("$SharedSubscription/g/a/+", "c1", 7, false) // other form: other group
	if got := tr.Len(); got != 5 {
		t.Fatalf("Len = %d, want 5", got)
	}
	if _, err := tr.Subscribe("a/#/b", "c1", 0); err == nil {
		t.Fatal("Subscribe accepted an invalid filter")
	}

	var m Matches[string, int]
	tr.Match("a/b", &m)
	subs := map[string]int{}
	for _, s := range m.Subscribers {
		subs[s.Key+" "+s.Filter] = s.Value
	}
	wantSubs := map[string]int{"c1 a/+": 2, "c2 a/+": 3, "c1 a/#": 4}
	if fmt.Sprint(subs) != fmt.Sprint(wantSubs) {
		t.Fatalf("subscribers %v, want %v", subs, wantSubs)
	}
	if len(m.Groups) != 2 {
		t.Fatalf("groups %+v, want 2", m.Groups)
	}
	for _, g := range m.Groups {
		if g.Name != "g" || g.Filter != "a/+" || len(g.Members) != 1 || g.Members[0].Key != "c1" {
			t.Fatalf("group %+v", g)
		}
		if want := map[ShareForm]int{ShareMQTT: 6, ShareMessageSight: 7}[g.Form]; g.Members[0].Value != want {
			t.Fatalf("group %+v: value want %d", g, want)
		}
	}

	filters := tr.Filters("c1")
	sort.Strings(filters)
	if want := []string{"$SharedSubscription/g/a/+", "$share/g/a/+", "a/#", "a/+"}; !slices.Equal(filters, want) {
		t.Fatalf("Filters(c1) = %q, want %q", filters, want)
	}

	if tr.Unsubscribe("a/+", "nobody") || tr.Unsubscribe("x/y", "c1") || tr.Unsubscribe("$share/h/a/+", "c1") || tr.Unsubscribe("a/#/", "c1") {
		t.Fatal("Unsubscribe of a missing subscription reported true")
	}
	if !tr.Unsubscribe("a/+", "c2") || tr.Unsubscribe("a/+", "c2") {
		t.Fatal("Unsubscribe(a/+, c2) not exactly once")
	}
	if got := tr.UnsubscribeAll("c1"); got != 4 {
		t.Fatalf("UnsubscribeAll(c1) = %d, want 4", got)
	}
	if tr.Len() != 0 || len(tr.Filters("c1")) != 0 {
		t.Fatalf("Len = %d, Filters = %q after removing everything", tr.Len(), tr.Filters("c1"))
	}
	if !tr.mu.root.empty() {
		t.Fatalf("root still has children after removing everything: %+v", tr.mu.root)
	}
	tr.Match("a/b", &m)
	if len(m.Subscribers)+len(m.Groups) != 0 {
		t.Fatalf("match after removal: %+v", m)
	}
}

// TestPruneKeepsSiblings checks that freeing an empty branch does not cut
// off subscriptions that share a prefix with it.
func TestPruneKeepsSiblings(t *testing.T) {
	tr := NewTrie[int, int]()
	for i, f := range []string{"a", "a/b/c", "a/+/c", "a/#", "a/b"} {
		if _, err := tr.Subscribe(f, i, i); err != nil {
			t.Fatal(err)
		}
	}
	tr.Unsubscribe("a/b/c", 1)
	tr.Unsubscribe("a/#", 3)
	var m Matches[int, int]
	for topic, want := range map[string]int{"a": 1, "a/b": 1, "a/x/c": 1, "a/b/c": 1} {
		tr.Match(topic, &m)
		if len(m.Subscribers) != want {
			t.Errorf("Match(%q) = %+v, want %d subscribers", topic, m.Subscribers, want)
		}
	}
}

func TestSharedGroupMembership(t *testing.T) {
	tr := NewTrie[string, int]()
	for i, k := range []string{"c1", "c2", "c3"} {
		tr.Subscribe("$share/g/s/+", k, i)
	}
	tr.Subscribe("$share/h/s/+", "c1", 9)
	var m Matches[string, int]
	tr.Match("s/x", &m)
	if len(m.Groups) != 2 {
		t.Fatalf("groups = %+v", m.Groups)
	}
	var g Group[string, int]
	for _, x := range m.Groups {
		if x.Name == "g" {
			g = x
		}
	}
	keys := func(g Group[string, int]) (out []string) {
		for _, mem := range g.Members {
			out = append(out, mem.Key)
		}
		return out
	}
	if got := keys(g); !slices.Equal(got, []string{"c1", "c2", "c3"}) {
		t.Fatalf("members %v, want subscription order", got)
	}
	// The snapshot must not change when the trie does.
	tr.Subscribe("$share/g/s/+", "c2", 20) // replace keeps position
	tr.Unsubscribe("$share/g/s/+", "c1")
	tr.Subscribe("$share/g/s/+", "c4", 4)
	if got := keys(g); !slices.Equal(got, []string{"c1", "c2", "c3"}) || g.Members[1].Value != 1 {
		t.Fatalf("earlier Match result changed to %v %+v", got, g.Members)
	}
	tr.Match("s/x", &m)
	for _, x := range m.Groups {
		if x.Name == "g" {
			if got := keys(x); !slices.Equal(got, []string{"c2", "c3", "c4"}) || x.Members[0].Value != 20 {
				t.Fatalf("members now %v %+v", got, x.Members)
			}
		}
	}
}

// TestMatchRandomAgainstReference subscribes random filters, removes some,
// and compares every match with refMatch over the live subscriptions.
func TestMatchRandomAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	topicLevels := []string{"a", "b", "c", "", "$x", "$SYS"}
	filterLevels := append(slices.Clone(topicLevels), "+", "+", "#")
	randTopic := func() string {
		n := 1 + rng.IntN(4)
		lv := make([]string, n)
		for i := range lv {
			lv[i] = topicLevels[rng.IntN(len(topicLevels))]
		}
		if t := strings.Join(lv, "/"); t != "" {
			return t
		}
		return "/"
	}
	randFilter := func() string {
		n := 1 + rng.IntN(4)
		lv := make([]string, n)
		for i := range lv {
			lv[i] = filterLevels[rng.IntN(len(filterLevels))]
			if lv[i] == "#" && i != n-1 {
				lv[i] = "+"
			}
		}
		f := strings.Join(lv, "/")
		if f == "" {
			f = "/"
		}
		switch rng.IntN(6) {
		case 0:
			f = "$share/g" + fmt.Sprint(rng.IntN(2)) + "/" + f
		case 1:
			f = "$SharedSubscription/g0/" + f
		}
		return f
	}
	type subKey struct {
		filter string
		key    int
	}
	for round := range 20 {
		tr := NewTrie[int, int]()
		live := map[subKey]int{}
		for range 300 {
			sk := subKey{randFilter(), rng.IntN(30)}
			v := rng.Int()
			if _, err := tr.Subscribe(sk.filter, sk.key, v); err != nil {
				t.Fatalf("Subscribe(%q): %v", sk.filter, err)
			}
			live[sk] = v
			if rng.IntN(4) == 0 { // remove a random live one
				for victim := range live {
					if !tr.Unsubscribe(victim.filter, victim.key) {
						t.Fatalf("Unsubscribe(%q, %d) = false for a live subscription", victim.filter, victim.key)
					}
					delete(live, victim)
					break
				}
			}
		}
		if tr.Len() != len(live) {
			t.Fatalf("round %d: Len = %d, want %d", round, tr.Len(), len(live))
		}
		var m Matches[int, int]
		for range 300 {
			topic := randTopic()
			tr.Match(topic, &m)
			var got []string
			for _, s := range m.Subscribers {
				got = append(got, fmt.Sprintf("%s|%d|%d", s.Filter, s.Key, s.Value))
			}
			for _, g := range m.Groups {
				for _, mem := range g.Members {
					got = append(got, fmt.Sprintf("%s/%s/%s|%d|%d", g.Form, g.Name, g.Filter, mem.Key, mem.Value))
				}
			}
			var want []string
			for sk, v := range live {
				if refMatch(mustParse(t, sk.filter).Filter, topic) {
					want = append(want, fmt.Sprintf("%s|%d|%d", sk.filter, sk.key, v))
				}
			}
			sort.Strings(got)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Fatalf("round %d topic %q:\n got %q\nwant %q", round, topic, got, want)
			}
		}
	}
}

// TestConcurrentUse runs writers and matchers together; run with -race.
func TestConcurrentUse(t *testing.T) {
	tr := NewTrie[int, int]()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				f := fmt.Sprintf("$share/g/d/%d/+", i%10)
				if i%2 == 0 {
					f = fmt.Sprintf("d/%d/#", i%10)
				}
				tr.Subscribe(f, w, i)
				if i%3 == 0 {
					tr.Unsubscribe(f, w)
				}
			}
		}()
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var m Matches[int, int]
			for i := range 500 {
				tr.Match(fmt.Sprintf("d/%d/x", i%10), &m)
				for _, g := range m.Groups {
					_ = len(g.Members)
				}
				_ = tr.Len()
			}
		}()
	}
	wg.Wait()
	for w := range 4 {
		tr.UnsubscribeAll(w)
	}
	if tr.Len() != 0 {
		t.Fatalf("Len = %d after UnsubscribeAll for every key", tr.Len())
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	tr := benchTrie(1000)
	var m Matches[int, int]
	tr.Match("site/7/device/3/temp", &m) // grow the slices once
	allocs := testing.AllocsPerRun(100, func() { tr.Match("site/7/device/3/temp", &m) })
	if allocs != 0 {
		t.Fatalf("Match allocated %.1f times per call with a warm Matches", allocs)
	}
	if len(m.Subscribers) == 0 || len(m.Groups) == 0 {
		t.Fatalf("benchmark topic matched nothing: %+v", m)
	}
}

// benchTrie builds n subscriptions over a site/device tree: exact filters,
// '+' and '#' filters and a few shared groups.
func benchTrie(n int) *Trie[int, int] {
	tr := NewTrie[int, int]()
	for i := range n {
		j := i / 5
		var f string
		switch i % 5 {
		case 0, 1:
			f = fmt.Sprintf("site/%d/device/%d/temp", j%100, i%37)
		case 2:
			f = fmt.Sprintf("site/%d/device/+/temp", j%100)
		case 3:
			f = fmt.Sprintf("site/%d/#", j%100)
		case 4:
			f = fmt.Sprintf("$share/g%d/site/%d/device/+/temp", j%3, j%100)
		}
		if _, err := tr.Subscribe(f, i, i); err != nil {
			panic(err)
		}
	}
	return tr
}

func BenchmarkMatch10k(b *testing.B) {
	tr := benchTrie(10000)
	var m Matches[int, int]
	topics := make([]string, 256)
	for i := range topics {
		topics[i] = fmt.Sprintf("site/%d/device/%d/temp", i%100, i%37)
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; b.Loop(); i++ {
		tr.Match(topics[i%len(topics)], &m)
		n += len(m.Subscribers) + len(m.Groups)
	}
	b.ReportMetric(float64(n)/float64(b.N), "matches/op")
}

func BenchmarkMatch10kParallel(b *testing.B) {
	tr := benchTrie(10000)
	topics := make([]string, 256)
	for i := range topics {
		topics[i] = fmt.Sprintf("site/%d/device/%d/temp", i%100, i%37)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var m Matches[int, int]
		i := 0
		for pb.Next() {
			tr.Match(topics[i%len(topics)], &m)
			i++
		}
	})
}

func BenchmarkSubscribeUnsubscribe(b *testing.B) {
	tr := benchTrie(10000)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f := fmt.Sprintf("site/%d/device/%d/new", i%100, i%37)
		tr.Subscribe(f, -1, i)
		tr.Unsubscribe(f, -1)
	}
}

// TestMatchFilter checks MatchFilter against the match table and the
// reference matcher.
func TestMatchFilter(t *testing.T) {
	for _, c := range loadMatchCases(t) {
		sub := mustParse(t, c.filter)
		if got := MatchFilter(sub.Filter, c.topic); got != c.want {
			t.Errorf("testdata/match.txt:%d [%s]: MatchFilter(%q, %q) = %v, want %v", c.line, c.id, sub.Filter, c.topic, got, c.want)
		}
	}
	levels := []string{"a", "b", "", "$x", "+", "#"}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		var f, n []string
		for i := range 1 + rng.IntN(4) {
			f = append(f, levels[rng.IntN(len(levels))])
			if f[i] == "#" {
				break
			}
		}
		for range 1 + rng.IntN(4) {
			n = append(n, levels[rng.IntN(4)])
		}
		filter, name := strings.Join(f, "/"), strings.Join(n, "/")
		if filter == "" || name == "" {
			continue
		}
		if got, want := MatchFilter(filter, name), refMatch(filter, name); got != want {
			t.Fatalf("MatchFilter(%q, %q) = %v, reference says %v", filter, name, got, want)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { MatchFilter("site/+/device/#", "site/1/device/2/temp") }); allocs != 0 {
		t.Fatalf("MatchFilter allocated %.0f times", allocs)
	}
}
