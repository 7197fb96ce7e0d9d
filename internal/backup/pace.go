package backup

import (
	"context"
	"time"
)

// DefaultTrafficYield is how many times as long as it worked a store backup
// pauses while the server has traffic: at 8 it works at most a ninth of
// the time while clients publish, and flat out on an idle server. Chosen
// by measurement (bench/backup): at 4, publishing kept 77-97% of its rate
// during a backup; at 8, 95-101% (noise aside), with the backup under full
// load about twice as long (20 s instead of 11 s for 1.2 GiB).
const DefaultTrafficYield = 8

// pacer makes a store backup yield to the server's traffic. Reading,
// encrypting, hashing and writing a store compete with the broker for the
// same cores and disk: every durable publish waits for a store commit,
// and the backup lengthens each one. So the backup works in short slices,
// and after each slice it looks whether the store committed anything in
// the meantime (its last LSN moved); if it did, clients are active and the
// backup sleeps yield times as long as the slice took. On an idle server
// it never sleeps. The backup's bytes still leave at full speed between
// pauses, and the destination writes behind during them.
type pacer struct {
	lsn   func() uint64 // the store's last committed LSN
	yield float64       // pause per unit of work while there is traffic
	slice time.Duration // work between two looks at the store
	now   func() time.Time
	sleep func(time.Duration) // returns early when the backup is cancelled

	last   uint64
	began  time.Time // start of the current slice
	paused time.Duration
}

// paceSlice is the work between two looks at the store: short enough that
// a pause comes before a publisher notices, long enough that looking costs
// nothing.
const paceSlice = 2 * time.Millisecond

// maxPause bounds one pause. A slice is measured in wall time, so on a slow
// remote destination it includes waiting for the network, which costs the
// broker nothing; the bound keeps such a backup from crawling (a 200 ms
// chunk is followed by at most 100 ms of pause, not 1.6 s).
const maxPause = 100 * time.Millisecond

// newPacer paces against lsn; yield 0 means DefaultTrafficYield, and a
// negative yield never pauses.
func newPacer(ctx context.Context, lsn func() uint64, yield float64) *pacer {
	if yield == 0 {
		yield = DefaultTrafficYield
	}
	p := &pacer{lsn: lsn, yield: yield, slice: paceSlice, now: time.Now, sleep: func(d time.Duration) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done(): // the copy loop reports the cancellation
		case <-t.C:
		}
	}}
	if lsn != nil {
		p.last = lsn()
	}
	p.began = p.now()
	return p
}

// step is called after each chunk of work. It pauses when a slice of work
// is over and the store committed since the previous look.
func (p *pacer) step() {
	if p == nil || p.lsn == nil || p.yield <= 0 {
		return
	}
	worked := p.now().Sub(p.began)
	if worked < p.slice {
		return
	}
	if cur := p.lsn(); cur != p.last {
		p.last = cur
		d := min(time.Duration(float64(worked)*p.yield), maxPause)
		p.sleep(d)
		p.paused += d
	}
	p.began = p.now()
}
