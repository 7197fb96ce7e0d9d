package admin

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestCodeTableIsDocumented checks that docs/admin-api.md lists exactly the
// error table's codes, each with its HTTP status and origin.
func TestCodeTableIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/admin-api.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`(?m)^\| (CWLNA\d{4}) \| (\d{3}) \| (\w+) \|`)
	documented := map[Code]string{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		documented[Code(m[1])] = m[2] + " " + m[3]
	}
	table := codeTable()
	for code, info := range table {
		want := strconv.Itoa(info.Status) + " " + info.Origin
		if got, ok := documented[code]; !ok {
			t.Errorf("%s (%s) is not documented in docs/admin-api.md", code, want)
		} else if got != want {
			t.Errorf("%s documented as %q, table says %q", code, got, want)
		}
		if !regexp.MustCompile(`^CWLNA\d{4}$`).MatchString(string(code)) {
			t.Errorf("malformed code %q", code)
		}
		if info.Template == "" || info.Meaning == "" {
			t.Errorf("%s has no message or meaning", code)
		}
	}
	for code := range documented {
		if _, ok := table[code]; !ok {
			t.Errorf("docs/admin-api.md lists %s, which the server never returns", code)
		}
	}
}

// TestRenderError checks the one rendering function: body shape, status
// and extra headers.
func TestRenderError(t *testing.T) {
	rec := httptest.NewRecorder()
	e := apiError(CodeQueueNotEmpty, `"Q1"`, 3)
	e.Header = http.Header{"Retry-After": {"5"}}
	renderError(rec, e)
	if rec.Code != http.StatusConflict || rec.Header().Get("Retry-After") != "5" {
		t.Fatalf("status %d headers %v", rec.Code, rec.Header())
	}
	want := `"Message": "Queue \"Q1\" holds 3 messages; delete it with DiscardMessages=true to discard them."`
	if !strings.Contains(rec.Body.String(), want) || !strings.Contains(rec.Body.String(), `"Code": "CWLNA9102"`) {
		t.Fatalf("body %s", rec.Body.String())
	}
	rec = httptest.NewRecorder()
	renderError(rec, fmt.Errorf("disk on fire"))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), string(CodeInternal)) {
		t.Fatalf("plain error: %d %s", rec.Code, rec.Body.String())
	}
}
