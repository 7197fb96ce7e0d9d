package mqtttest

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// docRow is one statement row of docs/mqtt-conformance.md.
type docRow struct {
	line                           int
	id, applies, test, status, why string
}

var (
	idForm      = regexp.MustCompile(`^\[MQTT-\d+\.\d+\.\d+-\d+\]$`)
	countRow    = regexp.MustCompile(`^\| MQTT (3\.1\.1|5\.0) \(.*\) \| (\d+) \| (\d+) \| (\d+) \|$`)
	testFuncDef = regexp.MustCompile(`(?m)^func (Test\w+)\(`)
)

// repoRoot walks up from the package directory to the module root.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		dir = filepath.Dir(dir)
	}
	t.Fatal("module root not found above the package directory")
	return ""
}

// parseConformanceDoc returns the rows per spec ("3.1.1", "5.0") and the
// counts the summary table at the top claims.
func parseConformanceDoc(doc []byte) (map[string][]docRow, map[string][3]int, []string) {
	var problems []string
	rows := map[string][]docRow{}
	counts := map[string][3]int{}
	spec := ""
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if m := countRow.FindStringSubmatch(line); m != nil {
			var c [3]int
			for i := range c {
				c[i], _ = strconv.Atoi(m[i+2])
			}
			counts[m[1]] = c
			continue
		}
		switch {
		case line == "## MQTT 3.1.1":
			spec = "3.1.1"
		case line == "## MQTT 5.0":
			spec = "5.0"
		case strings.HasPrefix(line, "## "):
			spec = ""
		}
		if spec == "" || !strings.HasPrefix(line, "| [MQTT-") {
			continue
		}
		cells := strings.Split(strings.TrimSuffix(strings.TrimPrefix(line, "| "), " |"), " | ")
		if len(cells) != 6 {
			problems = append(problems, fmt.Sprintf("line %d: %d cells, want 6 (id, statement, server?, test, status, why)", n, len(cells)))
			continue
		}
		rows[spec] = append(rows[spec], docRow{
			line: n, id: cells[0], applies: cells[2],
			test:   strings.Trim(cells[3], "`"),
			status: cells[4], why: strings.TrimSpace(cells[5]),
		})
	}
	return rows, counts, problems
}

// testFuncs lists the Test functions defined under internal/ and tests/.
func testFuncs(t *testing.T, root string) map[string]bool {
	t.Helper()
	found := map[string]bool{}
	for _, dir := range []string{"internal", "tests"} {
		base := filepath.Join(root, dir)
		if _, err := os.Stat(base); err != nil {
			continue
		}
		err := filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range testFuncDef.FindAllSubmatch(src, -1) {
				found[string(m[1])] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return found
}

// checkConformanceDoc lists what is wrong with the document: one row per
// statement id, the summary counts equal to the rows, a planned test for
// every server-applicable statement, a reason for every one left out, and
// an existing test function (in funcs) behind every row marked done.
func checkConformanceDoc(doc []byte, funcs map[string]bool) []string {
	rows, counts, problems := parseConformanceDoc(doc)
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, spec := range []string{"3.1.1", "5.0"} {
		rs := rows[spec]
		if len(rs) == 0 {
			bad("MQTT %s: no statement rows", spec)
			continue
		}
		seen := map[string]int{}
		yes := 0
		for _, r := range rs {
			where := fmt.Sprintf("MQTT %s line %d %s", spec, r.line, r.id)
			if !idForm.MatchString(r.id) {
				bad("%s: id is not of the form [MQTT-a.b.c-n]", where)
			}
			if prev, dup := seen[r.id]; dup {
				bad("%s: repeats the row on line %d", where, prev)
			}
			seen[r.id] = r.line
			switch r.applies {
			case "yes":
				yes++
			case "client-only", "n/a":
				continue
			default:
				bad("%s: server? is %q, want yes, client-only or n/a", where, r.applies)
				continue
			}
			switch r.status {
			case "planned":
				if !strings.HasPrefix(r.test, "Test") {
					bad("%s: server-applicable but names no test", where)
				}
			case "done":
				name, _, _ := strings.Cut(r.test, "/")
				if !funcs[name] {
					bad("%s: marked done but func %s is not defined in any _test.go under internal/ or tests/", where, name)
				}
			case "left out":
				if r.why == "" {
					bad("%s: left out without a reason", where)
				}
			default:
				bad("%s: status %q, want planned, done or left out", where, r.status)
			}
		}
		c, ok := counts[spec]
		if !ok {
			bad("MQTT %s: no row in the summary table", spec)
			continue
		}
		if c[0] != len(rs) || c[1] != yes || c[2] != len(rs)-yes {
			bad("MQTT %s: summary says %d statements, %d server-applicable, %d other; the tables hold %d, %d, %d",
				spec, c[0], c[1], c[2], len(rs), yes, len(rs)-yes)
		}
	}
	return problems
}

// TestConformanceDoc keeps docs/mqtt-conformance.md honest (see
// checkConformanceDoc).
func TestConformanceDoc(t *testing.T) {
	root := repoRoot(t)
	doc, err := os.ReadFile(filepath.Join(root, "docs", "mqtt-conformance.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkConformanceDoc(doc, testFuncs(t, root)) {
		t.Error(p)
	}
}

func TestCheckConformanceDocCatches(t *testing.T) {
	const head = "| MQTT 3.1.1 (x) | 2 | 1 | 1 |\n| MQTT 5.0 (x) | 1 | 1 | 0 |\n"
	const v5 = "## MQTT 5.0\n| [MQTT-3.1.0-1] | s | yes | `TestV5_3_1_0_1` | planned |  |\n"
	good := head + "## MQTT 3.1.1\n" +
		"| [MQTT-3.1.0-1] | s | yes | `TestDone/MQTT-3.1.0-1` | done |  |\n" +
		"| [MQTT-3.1.0-2] | s | client-only | — | — |  |\n" + v5
	if p := checkConformanceDoc([]byte(good), map[string]bool{"TestDone": true}); len(p) != 0 {
		t.Fatalf("a good document reported: %v", p)
	}
	for _, tc := range []struct{ name, doc, want string }{
		{"done without test", good, "func TestDone is not defined"},
		{"count off", strings.Replace(good, "| 2 | 1 | 1 |", "| 3 | 1 | 1 |", 1), "summary says 3"},
		{"duplicate id", strings.Replace(good, "[MQTT-3.1.0-2]", "[MQTT-3.1.0-1]", 1), "repeats the row"},
		{"left out without why", strings.Replace(good, "| done |  |", "| left out |  |", 1), "without a reason"},
		{"no test named", strings.Replace(good, "`TestV5_3_1_0_1` | planned", "— | planned", 1), "names no test"},
		{"bad applies", strings.Replace(good, "client-only", "maybe", 1), "server? is"},
		{"bad id", strings.Replace(good, "[MQTT-3.1.0-2]", "[MQTT-3.1.0.2]", 1), "not of the form"},
		{"missing spec", strings.Replace(good, v5, "", 1), "MQTT 5.0: no statement rows"},
	} {
		funcs := map[string]bool{"TestDone": tc.name != "done without test"}
		p := strings.Join(checkConformanceDoc([]byte(tc.doc), funcs), "\n")
		if !strings.Contains(p, tc.want) {
			t.Errorf("%s: problems %q, want one containing %q", tc.name, p, tc.want)
		}
	}
}
