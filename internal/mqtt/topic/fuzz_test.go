package topic

import (
	"os"
	"strings"
	"testing"
)

// FuzzMatch checks, for any filter and name the validators accept, that
// Trie.Match, Names.Match, MatchFilter and the reference matcher agree, and
// that the validators never accept what the other rules forbid. Seeds: every row of
// testdata/match.txt; they run in every `go test`.
func FuzzMatch(f *testing.F) {
	data, err := os.ReadFile("testdata/match.txt")
	if err != nil {
		f.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Split(line, "|")
		if len(fields) == 4 && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			f.Add(strings.TrimSpace(fields[1]), strings.TrimSpace(fields[2]))
		}
	}
	f.Fuzz(func(t *testing.T, filter, name string) {
		nameErr := ValidName(name)
		if nameErr == nil && (name == "" || strings.ContainsAny(name, "+#\x00") || len(name) > MaxLen) {
			t.Fatalf("ValidName accepted %q", name)
		}
		sub, err := ParseSubscription(filter)
		if err != nil {
			return
		}
		if sub.String() != filter {
			t.Fatalf("ParseSubscription(%q).String() = %q", filter, sub.String())
		}
		for i, level := range strings.Split(sub.Filter, "/") {
			if (strings.Contains(level, "+") && level != "+") || (strings.Contains(level, "#") && (level != "#" || i != strings.Count(sub.Filter, "/"))) {
				t.Fatalf("ParseSubscription accepted %q (level %q)", filter, level)
			}
		}
		if nameErr != nil {
			return
		}
		want := refMatch(sub.Filter, name)
		if got := MatchFilter(sub.Filter, name); got != want {
			t.Fatalf("MatchFilter(%q, %q) = %v, reference %v", sub.Filter, name, got, want)
		}
		tr := NewTrie[int, int]()
		if _, err := tr.Subscribe(filter, 1, 1); err != nil {
			t.Fatalf("Subscribe(%q) after ParseSubscription accepted it: %v", filter, err)
		}
		var m Matches[int, int]
		tr.Match(name, &m)
		if got := len(m.Subscribers)+len(m.Groups) == 1; got != want {
			t.Fatalf("Trie: filter %q name %q matched=%v, reference %v", filter, name, got, want)
		}
		if !tr.Unsubscribe(filter, 1) || tr.Len() != 0 || !tr.mu.root.empty() {
			t.Fatalf("Unsubscribe(%q) did not leave an empty trie", filter)
		}
		var names Names[bool]
		names.Set(name, true)
		matched := false
		names.Match(sub.Filter, func(bool) { matched = true })
		if matched != want {
			t.Fatalf("Names: filter %q name %q matched=%v, reference %v", sub.Filter, name, matched, want)
		}
		if !names.Delete(name) || names.Len() != 0 || names.root.children != nil {
			t.Fatalf("Delete(%q) did not leave an empty set", name)
		}
	})
}
