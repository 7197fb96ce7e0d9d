package job

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"
)

func wait(t *testing.T, r *Registry, id string) Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := r.Wait(ctx, id)
	if err != nil {
		t.Fatalf("wait %s: %v", id, err)
	}
	return st
}

func TestOutcomes(t *testing.T) {
	// running is closed by the Funcs of the cancel cases once they run, so
	// that the test cancels a running job, not a queued one.
	var running chan struct{}
	tests := []struct {
		name   string
		fn     Func
		cancel bool
		state  State
		errMsg string
		result any
	}{
		{name: "success", fn: func(ctx context.Context, p *Progress) (map[string]any, error) {
			return map[string]any{"File": "b.mqsbak"}, nil
		}, state: Succeeded, result: "b.mqsbak"},
		{name: "failure", fn: func(ctx context.Context, p *Progress) (map[string]any, error) {
			return nil, errors.New("disk full")
		}, state: Failed, errMsg: "disk full"},
		{name: "panic", fn: func(ctx context.Context, p *Progress) (map[string]any, error) {
			panic("boom")
		}, state: Failed, errMsg: "job panicked: boom"},
		{name: "cancelled", cancel: true, fn: func(ctx context.Context, p *Progress) (map[string]any, error) {
			close(running)
			<-ctx.Done()
			return nil, ctx.Err()
		}, state: Cancelled, errMsg: "cancelled"},
		{name: "cancelled with own error", cancel: true, fn: func(ctx context.Context, p *Progress) (map[string]any, error) {
			close(running)
			<-ctx.Done()
			return nil, errors.New("upload aborted")
		}, state: Cancelled, errMsg: "cancelled: upload aborted"},
		// A cancel (a shutdown) that comes as the Func finishes its work
		// does not undo the success it reports.
		{name: "succeeded although cancelled", cancel: true, fn: func(ctx context.Context, p *Progress) (map[string]any, error) {
			close(running)
			<-ctx.Done()
			return map[string]any{"File": "applied"}, nil
		}, state: Succeeded, result: "applied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRegistry(Options{})
			defer r.Close()
			running = make(chan struct{})
			st, err := r.Start("backup", tc.fn)
			if err != nil {
				t.Fatal(err)
			}
			if st.State != Queued || st.Op != "backup" {
				t.Fatalf("first status %+v", st)
			}
			if tc.cancel {
				<-running // cancel once the Func runs, so its own error is reported
				if err := r.Cancel(st.RequestID); err != nil {
					t.Fatal(err)
				}
			}
			got := wait(t, r, st.RequestID)
			if got.State != tc.state || got.Error != tc.errMsg {
				t.Fatalf("got state %q error %q, want %q %q", got.State, got.Error, tc.state, tc.errMsg)
			}
			if tc.result != nil && got.Result["File"] != tc.result {
				t.Fatalf("result %v", got.Result)
			}
			if got.Finished.IsZero() || got.Created.IsZero() {
				t.Fatalf("times not set: %+v", got)
			}
			if err := r.Cancel(st.RequestID); !errors.Is(err, ErrFinished) {
				t.Fatalf("cancel finished job: %v", err)
			}
		})
	}
}

func TestRequestIDIsURLSafeAndUnique(t *testing.T) {
	r := NewRegistry(Options{})
	defer r.Close()
	seen := map[string]bool{}
	re := regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)
	for i := 0; i < 50; i++ {
		st, err := r.Start("restart", func(context.Context, *Progress) (map[string]any, error) { return nil, nil })
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(st.RequestID) || seen[st.RequestID] {
			t.Fatalf("bad or repeated RequestID %q", st.RequestID)
		}
		seen[st.RequestID] = true
	}
}

func TestProgressIsVisibleWhileRunning(t *testing.T) {
	r := NewRegistry(Options{})
	defer r.Close()
	reported, release := make(chan struct{}), make(chan struct{})
	st, _ := r.Start("backup", func(ctx context.Context, p *Progress) (map[string]any, error) {
		p.SetStep("upload")
		p.SetTotal(100)
		p.Add(40)
		close(reported)
		<-release
		return nil, nil
	})
	<-reported
	got, err := r.Get(st.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Running || got.Step != "upload" || got.BytesDone != 40 || got.BytesTotal != 100 || got.Started.IsZero() {
		t.Fatalf("running status %+v", got)
	}
	close(release)
	if got := wait(t, r, st.RequestID); got.State != Succeeded || got.BytesDone != 40 {
		t.Fatalf("final %+v", got)
	}
}

func TestExclusiveGroups(t *testing.T) {
	r := NewRegistry(Options{Exclusive: map[string]string{"backup": "store", "restore": "store"}})
	defer r.Close()
	release := make(chan struct{})
	block := func(ctx context.Context, p *Progress) (map[string]any, error) { <-release; return nil, nil }
	quick := func(ctx context.Context, p *Progress) (map[string]any, error) { return nil, nil }

	first, err := r.Start("restore", block)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"restore", "backup"} {
		if _, err := r.Start(op, quick); !errors.Is(err, ErrBusy) {
			t.Fatalf("%s while a restore runs: %v, want ErrBusy", op, err)
		}
	}
	// An op outside the group is not held up.
	other, err := r.Start("restart", quick)
	if err != nil {
		t.Fatal(err)
	}
	wait(t, r, other.RequestID)
	close(release)
	wait(t, r, first.RequestID)
	// The group is free again.
	again, err := r.Start("restore", quick)
	if err != nil {
		t.Fatalf("restore after the first finished: %v", err)
	}
	wait(t, r, again.RequestID)
}

func TestBoundedHistory(t *testing.T) {
	r := NewRegistry(Options{History: 3})
	defer r.Close()
	release := make(chan struct{})
	running, _ := r.Start("backup", func(ctx context.Context, p *Progress) (map[string]any, error) { <-release; return nil, nil })
	var ids []string
	for i := 0; i < 5; i++ {
		st, _ := r.Start(fmt.Sprint("op", i), func(context.Context, *Progress) (map[string]any, error) { return nil, nil })
		wait(t, r, st.RequestID)
		ids = append(ids, st.RequestID)
	}
	for i, id := range ids {
		_, err := r.Get(id)
		if forgotten := i < 2; forgotten != errors.Is(err, ErrNotFound) {
			t.Fatalf("job %d: err %v, forgotten should be %v", i, err, forgotten)
		}
	}
	if _, err := r.Get(running.RequestID); err != nil {
		t.Fatalf("running job forgotten: %v", err)
	}
	if n := len(r.List()); n != 4 {
		t.Fatalf("List has %d jobs, want 4", n)
	}
	close(release)
}

func TestCloseCancelsAndRefuses(t *testing.T) {
	r := NewRegistry(Options{})
	started := make(chan struct{})
	st, _ := r.Start("backup", func(ctx context.Context, p *Progress) (map[string]any, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	<-started
	r.Close()
	got, err := r.Get(st.RequestID)
	if err != nil || got.State != Cancelled {
		t.Fatalf("after Close: %+v %v", got, err)
	}
	if _, err := r.Start("backup", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	if _, err := r.Get("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get unknown: %v", err)
	}
	if err := r.Cancel("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Cancel unknown: %v", err)
	}
}

// TestFinishedHook: the hook sees every job's final status once, before
// Wait returns it, and holds no lock of the registry: a hook that blocks
// (a stalled log writer) does not block Get or Start.
func TestFinishedHook(t *testing.T) {
	var (
		mu   sync.Mutex // hooks of different jobs may run at the same time
		seen []Status
	)
	stall := make(chan struct{})
	r := NewRegistry(Options{Finished: func(st Status) {
		if st.Op == "stalled" {
			<-stall
		}
		mu.Lock()
		seen = append(seen, st)
		mu.Unlock()
	}})
	defer r.Close()
	ok, _ := r.Start("backup", func(context.Context, *Progress) (map[string]any, error) { return map[string]any{"n": 1}, nil })
	wait(t, r, ok.RequestID)
	if len(seen) != 1 || seen[0].RequestID != ok.RequestID || seen[0].State != Succeeded || seen[0].Finished.IsZero() {
		t.Fatalf("after a success: %+v", seen)
	}
	bad, _ := r.Start("restore", func(context.Context, *Progress) (map[string]any, error) {
		return nil, errors.New("CWLNA9301 wrong password")
	})
	wait(t, r, bad.RequestID)
	if len(seen) != 2 || seen[1].Op != "restore" || seen[1].State != Failed || seen[1].Error != "CWLNA9301 wrong password" {
		t.Fatalf("after a failure: %+v", seen)
	}

	st, _ := r.Start("stalled", func(context.Context, *Progress) (map[string]any, error) { return nil, nil })
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 100; i++ { // until the job sits in its hook
			got, err := r.Get(st.RequestID)
			if err != nil || got.State.Done() {
				t.Errorf("while the hook runs: %+v, %v", got, err)
				return
			}
			time.Sleep(time.Millisecond)
		}
		if _, err := r.Start("other", func(context.Context, *Progress) (map[string]any, error) { return nil, nil }); err != nil {
			t.Errorf("Start while a hook runs: %v", err)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Get or Start blocked while a Finished hook ran")
	}
	close(stall)
	if got := wait(t, r, st.RequestID); got.State != Succeeded {
		t.Fatalf("stalled job: %+v", got)
	}
}
