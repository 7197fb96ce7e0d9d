package topic

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// namesMatch returns the values Match reports, sorted.
func namesMatch(t *Names[string], filter string) []string {
	var got []string
	t.Match(filter, func(v string) { got = append(got, v) })
	slices.Sort(got)
	return got
}

// TestNamesMatchTable runs every case of testdata/match.txt with its name
// alone in a set, then every filter against all the names in one set.
func TestNamesMatchTable(t *testing.T) {
	cases := loadMatchCases(t)
	var all Names[string]
	for _, c := range cases {
		var one Names[string]
		one.Set(c.topic, c.topic)
		all.Set(c.topic, c.topic)
		filter := mustParse(t, c.filter).Filter
		if got := len(namesMatch(&one, filter)) == 1; got != c.want {
			t.Errorf("testdata/match.txt:%d [%s]: filter %q name %q: matched=%v, want %v", c.line, c.id, c.filter, c.topic, got, c.want)
		}
	}
	for _, c := range cases {
		filter := mustParse(t, c.filter).Filter
		var want []string
		seen := map[string]bool{}
		for _, d := range cases {
			if !seen[d.topic] && refMatch(filter, d.topic) {
				want = append(want, d.topic)
			}
			seen[d.topic] = true
		}
		slices.Sort(want)
		if got := namesMatch(&all, filter); !slices.Equal(got, want) {
			t.Errorf("filter %q in the combined set: %q, want %q", c.filter, got, want)
		}
	}
}

// Random sets and deletes, checked against a map and the reference matcher;
// deleting everything leaves an empty tree.
func TestNamesRandomAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	levels := []string{"a", "b", "c", "", "$x", "$SYS"}
	randName := func() string {
		lv := make([]string, 1+rng.IntN(4))
		for i := range lv {
			lv[i] = levels[rng.IntN(len(levels))]
		}
		if n := strings.Join(lv, "/"); n != "" {
			return n
		}
		return "/"
	}
	randFilter := func() string {
		lv := make([]string, 1+rng.IntN(4))
		for i := range lv {
			switch r := rng.IntN(len(levels) + 3); {
			case r < len(levels):
				lv[i] = levels[r]
			case r == len(levels) && i == len(lv)-1:
				lv[i] = "#"
			default:
				lv[i] = "+"
			}
		}
		if f := strings.Join(lv, "/"); f != "" {
			return f
		}
		return "/"
	}
	for round := range 20 {
		var set Names[string]
		live := map[string]bool{}
		for range 200 {
			name := randName()
			if rng.IntN(3) == 0 {
				if got := set.Delete(name); got != live[name] {
					t.Fatalf("Delete(%q) = %v, want %v", name, got, live[name])
				}
				delete(live, name)
				continue
			}
			set.Set(name, name)
			live[name] = true
		}
		if set.Len() != len(live) {
			t.Fatalf("round %d: Len = %d, want %d", round, set.Len(), len(live))
		}
		for range 200 {
			filter := randFilter()
			var want []string
			for name := range live {
				if refMatch(filter, name) {
					want = append(want, name)
				}
			}
			slices.Sort(want)
			if got := namesMatch(&set, filter); !slices.Equal(got, want) {
				t.Fatalf("round %d filter %q:\n got %q\nwant %q", round, filter, got, want)
			}
		}
		for name := range live {
			if !set.Delete(name) {
				t.Fatalf("Delete(%q) = false for a live name", name)
			}
		}
		if set.Len() != 0 || set.root.children != nil {
			t.Fatalf("round %d: %d names and %d root children after deleting all", round, set.Len(), len(set.root.children))
		}
	}
}

// A filter costs what it can match, not the size of the set.
func TestNamesVisitsOnlyWhatFilterCanMatch(t *testing.T) {
	var set Names[string]
	for i := range 10_000 {
		for _, top := range []string{"r", "s", "$SYS"} {
			name := fmt.Sprintf("%s/%d/%d", top, i%100, i)
			set.Set(name, name)
		}
	}
	for _, tc := range []struct {
		filter        string
		matches       int
		visitedAtMost int
	}{
		{"r/5/1005", 1, 3},
		{"r/5/1006", 0, 2},
		{"x/5/1005", 0, 0},
		{"r/5/+", 100, 1 + 1 + 100},
		{"r/5/#", 100, 1 + 1 + 100},
		{"r/+/1005", 1, 1 + 100 + 1},
		{"+/5/1005", 2, 2 * 3}, // not $SYS/5/1005 [MQTT-4.7.2-1]
		{"$SYS/5/+", 100, 1 + 1 + 100},
		{"#", 20_000, 2 * (1 + 100 + 10_000)},
	} {
		got := 0
		visited := set.Match(tc.filter, func(string) { got++ })
		if got != tc.matches || visited > tc.visitedAtMost {
			t.Errorf("%s: %d matches visiting %d nodes; want %d visiting at most %d", tc.filter, got, visited, tc.matches, tc.visitedAtMost)
		}
	}
}
