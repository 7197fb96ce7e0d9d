package server

import (
	"errors"
	"testing"
	"time"
)

// TestWithinGivesUp: within returns f's result when f ends first, and
// errGaveUp at once when stop comes first, without waiting for f (a start
// interrupted by the operator, a shutdown past its timeout).
func TestWithinGivesUp(t *testing.T) {
	v, err := within(make(chan struct{}), func() (int, error) { return 7, nil })
	if v != 7 || err != nil {
		t.Fatalf("f first: %d, %v", v, err)
	}
	boom := errors.New("boom")
	if _, err := within(make(chan struct{}), func() (int, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Fatalf("f failing first: %v", err)
	}

	stuck := make(chan struct{})
	defer close(stuck)
	stop := make(chan struct{})
	close(stop)
	start := time.Now()
	if _, err := within(stop, func() (int, error) { <-stuck; return 1, nil }); !errors.Is(err, errGaveUp) {
		t.Fatalf("stop first: %v, want errGaveUp", err)
	}
	if _, err := within(time.After(10*time.Millisecond), func() (struct{}, error) { <-stuck; return struct{}{}, nil }); !errors.Is(err, errGaveUp) {
		t.Fatalf("timeout first: %v, want errGaveUp", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("within waited %v for a stuck f", d)
	}
}
