package config

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// blockingVerify is a verify hook that counts the checks running at once
// and blocks each until release is closed.
type blockingVerify struct {
	running, peak, started atomic.Int32
	entered                chan struct{}
	release                chan struct{}
}

func newBlockingVerify() *blockingVerify {
	return &blockingVerify{entered: make(chan struct{}, 1000), release: make(chan struct{})}
}

func (b *blockingVerify) verify(hash, plain string) bool {
	n := b.running.Add(1)
	for {
		p := b.peak.Load()
		if n <= p || b.peak.CompareAndSwap(p, n) {
			break
		}
	}
	b.started.Add(1)
	b.entered <- struct{}{}
	<-b.release
	b.running.Add(-1)
	return plain == hash
}

// waitFor waits for n events on ch, failing the test after a generous
// bound (the bound only catches a hang; it is never reached when the code
// is right).
func waitFor(t *testing.T, ch <-chan struct{}, n int, what string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for i := range n {
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("%s: %d of %d after 10s", what, i, n)
		}
	}
}

func TestPasswordCheckerBoundsConcurrency(t *testing.T) {
	const limit, callers = 2, 12
	c := NewPasswordChecker(limit)
	b := newBlockingVerify()
	c.verify = b.verify

	var wg sync.WaitGroup
	var admitted atomic.Int32
	for range callers {
		wg.Go(func() {
			if ok, err := c.Check(context.Background(), "pw", "pw"); err == nil && ok {
				admitted.Add(1)
			}
		})
	}
	// The first limit callers get a slot; the others must wait. Let the
	// waiters run for a while and check none slipped past the bound.
	waitFor(t, b.entered, limit, "checks started")
	for range 100 {
		time.Sleep(time.Millisecond)
		if n := b.started.Load(); n > limit {
			t.Fatalf("%d checks started with %d slots", n, limit)
		}
	}
	close(b.release)
	wg.Wait()
	if p := b.peak.Load(); p > limit {
		t.Fatalf("%d checks ran at once, limit %d", p, limit)
	}
	if n := admitted.Load(); n != callers {
		t.Fatalf("%d of %d callers verified; waiters must get in eventually", n, callers)
	}
}

func TestPasswordCheckerBusy(t *testing.T) {
	c := NewPasswordChecker(1)
	b := newBlockingVerify()
	c.verify = b.verify
	done := make(chan struct{})
	go func() {
		c.Check(context.Background(), "pw", "pw")
		close(done)
	}()
	waitFor(t, b.entered, 1, "first check")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ok, err := c.Check(ctx, "pw", "pw")
	if ok || !errors.Is(err, ErrPasswordCheckBusy) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Check with every slot taken and an ended context = %v, %v; want ErrPasswordCheckBusy", ok, err)
	}
	if n := b.started.Load(); n != 1 {
		t.Fatalf("%d checks ran; the refused one must not hash", n)
	}
	close(b.release)
	<-done
	// A free slot is taken even by a caller whose context has ended: the
	// context bounds waiting, not checking.
	if ok, err := c.Check(ctx, "pw", "pw"); !ok || err != nil {
		t.Fatalf("Check with a free slot = %v, %v", ok, err)
	}
}

func TestPasswordCheckerDefaultLimit(t *testing.T) {
	if n := NewPasswordChecker(0).Limit(); n < 2 {
		t.Fatalf("default limit %d, want at least 2", n)
	}
	h, err := HashPassword("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	c := NewPasswordChecker(0)
	if ok, err := c.Check(context.Background(), h, "s3cret"); !ok || err != nil {
		t.Fatalf("right password: %v, %v", ok, err)
	}
	if ok, err := c.Check(context.Background(), h, "wrong"); ok || err != nil {
		t.Fatalf("wrong password: %v, %v", ok, err)
	}
}
