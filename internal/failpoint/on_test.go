//go:build failpoints

package failpoint

import (
	"errors"
	"testing"
)

func TestParseAndEval(t *testing.T) {
	s, err := Parse("a=error; b=2*error ;c=sleep(1)")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Eval("a"); !errors.Is(err, ErrInjected) {
		t.Fatalf("a: got %v", err)
	}
	for i, want := range []bool{true, true, false} {
		if got := s.Eval("b") != nil; got != want {
			t.Fatalf("b eval %d: fired=%v want %v", i, got, want)
		}
	}
	if err := s.Eval("c"); err != nil {
		t.Fatal(err)
	}
	if err := s.Eval("unarmed"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"x", "x=nope", "x=0*error", "x=101%error", "x=sleep(a)"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
