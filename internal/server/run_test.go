package server

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestWithinGivesUp: within returns f's result when f ends first, and
// errGaveUp at once when stop comes first, without waiting for f (a start
// interrupted by the operator, a shutdown past its timeout).
func TestWithinGivesUp(t *testing.T) {
	v, err := within(make(chan struct{}), nil, func() (int, error) { return 7, nil })
	if v != 7 || err != nil {
		t.Fatalf("f first: %d, %v", v, err)
	}
	boom := errors.New("boom")
	if _, err := within(make(chan struct{}), nil, func() (int, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Fatalf("f failing first: %v", err)
	}

	stuck := make(chan struct{})
	defer close(stuck)
	stop := make(chan struct{})
	close(stop)
	start := time.Now()
	late := make(chan struct{})
	abandoned := make(chan int, 1)
	if _, err := within(stop, func(v int) { abandoned <- v }, func() (int, error) { <-late; return 1, nil }); !errors.Is(err, errGaveUp) {
		t.Fatalf("stop first: %v, want errGaveUp", err)
	}
	if _, err := within(time.After(10*time.Millisecond), nil, func() (struct{}, error) { <-stuck; return struct{}{}, nil }); !errors.Is(err, errGaveUp) {
		t.Fatalf("timeout first: %v, want errGaveUp", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("within waited %v for a stuck f", d)
	}
	close(late) // the abandoned f ends now: abandon gets its result
	select {
	case v := <-abandoned:
		if v != 1 {
			t.Fatalf("abandon got %d, want 1", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("abandon was not called with the late result")
	}
}

// TestRunStoppedWhileStartingClosesTheServer: a Run whose context ends
// before the start finished returns at once, and the server that start
// builds anyway is closed: the data directory can be opened again.
func TestRunStoppedWhileStartingClosesTheServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	opts, _ := testOptions(t, t.TempDir())
	if err := Run(ctx, opts); err == nil || !strings.Contains(err.Error(), "stopped while starting") {
		t.Fatalf("Run with an ended context: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		s, err := New(opts)
		if err == nil {
			s.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the abandoned start still holds the data directory: %v", err)
		}
	}
}
