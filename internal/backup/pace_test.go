package backup

import (
	"context"
	"testing"
	"time"
)

// fakeClock advances only when told to (work) or when the pacer sleeps.
type fakeClock struct {
	t     time.Time
	slept []time.Duration
}

func (c *fakeClock) now() time.Time { return c.t }
func (c *fakeClock) sleep(d time.Duration) {
	c.slept = append(c.slept, d)
	c.t = c.t.Add(d)
}

func newTestPacer(lsn *uint64, yield float64) (*pacer, *fakeClock) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	p := &pacer{lsn: func() uint64 { return *lsn }, yield: yield, slice: 2 * time.Millisecond, now: c.now, sleep: c.sleep}
	p.last = *lsn
	p.began = c.now()
	return p, c
}

func TestPacer(t *testing.T) {
	t.Run("idle server: never pauses", func(t *testing.T) {
		lsn := uint64(7)
		p, c := newTestPacer(&lsn, 4)
		for range 100 {
			c.t = c.t.Add(time.Millisecond)
			p.step()
		}
		if len(c.slept) != 0 {
			t.Fatalf("slept %v without traffic", c.slept)
		}
	})
	t.Run("traffic: pauses yield times the work", func(t *testing.T) {
		lsn := uint64(7)
		p, c := newTestPacer(&lsn, 4)
		var worked time.Duration
		for range 100 {
			lsn++ // a commit during every chunk
			c.t = c.t.Add(time.Millisecond)
			worked += time.Millisecond
			p.step()
		}
		var slept time.Duration
		for _, d := range c.slept {
			slept += d
			if d != 8*time.Millisecond {
				t.Fatalf("pause of %v after 2 ms of work, want 8 ms", d)
			}
		}
		if len(c.slept) != 50 || slept != 4*worked || p.paused != slept {
			t.Fatalf("%d pauses, %v in all (pacer says %v), for %v of work; want 50 pauses and 4x the work", len(c.slept), slept, p.paused, worked)
		}
	})
	t.Run("traffic stops: pauses stop", func(t *testing.T) {
		lsn := uint64(7)
		p, c := newTestPacer(&lsn, 4)
		lsn++
		c.t = c.t.Add(3 * time.Millisecond)
		p.step()
		n := len(c.slept)
		for range 10 {
			c.t = c.t.Add(3 * time.Millisecond)
			p.step()
		}
		if n != 1 || len(c.slept) != 1 {
			t.Fatalf("pauses: %d after the commit, %d in all; want 1 and 1", n, len(c.slept))
		}
	})
	t.Run("long slices: pauses are bounded", func(t *testing.T) {
		lsn := uint64(7)
		p, c := newTestPacer(&lsn, 8)
		lsn++
		c.t = c.t.Add(200 * time.Millisecond) // waiting on a slow destination
		p.step()
		if len(c.slept) != 1 || c.slept[0] != maxPause {
			t.Fatalf("slept %v after a 200 ms slice, want one pause of %v", c.slept, maxPause)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		lsn := uint64(7)
		p, c := newTestPacer(&lsn, -1)
		for range 10 {
			lsn++
			c.t = c.t.Add(3 * time.Millisecond)
			p.step()
		}
		var nilPacer *pacer
		nilPacer.step()
		if len(c.slept) != 0 {
			t.Fatalf("slept %v with yield -1", c.slept)
		}
	})
}

// A pause ends when the backup is cancelled.
func TestPacerSleepCancels(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := newPacer(ctx, func() uint64 { return 1 }, 8)
	cancel()
	t0 := time.Now()
	p.sleep(time.Hour)
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("a cancelled pause lasted %v", d)
	}
}
