package store

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// GroupSizeBuckets is the number of buckets of Stats.GroupSizes.
const GroupSizeBuckets = 8

// Stats is a snapshot of the store's counters, for monitoring.
type Stats struct {
	Commits uint64 // logical batches committed (each got an LSN)
	Failed  uint64 // Commit calls that returned an error after being queued
	Groups  uint64 // Pebble commits, i.e. fsyncs of the commit path
	// GroupSizes[i] counts groups of 2^i to 2^(i+1)-1 batches; the last
	// bucket also counts every larger group.
	GroupSizes  [GroupSizeBuckets]uint64
	MaxGroup    uint64        // largest group so far
	LatencySum  time.Duration // sum over successful commits of Commit's duration
	LatencyMax  time.Duration // largest Commit duration
	Cleans      uint64
	Checkpoints uint64
	LastLSN     uint64
	// FreeBytes is the free space of the store's filesystem (read every
	// 100 ms; 0 when the store cannot tell), ReserveBytes the
	// reserve kept (Options.MinFreeBytes), SpaceLow whether free space is
	// below it (no new messages; see Store.SpaceLow).
	FreeBytes, ReserveBytes uint64
	SpaceLow                bool
}

// statsCounters are the live counters behind Stats; all fields are atomic.
type statsCounters struct {
	commits, failed, groups, maxGroup atomic.Uint64
	groupSizes                        [GroupSizeBuckets]atomic.Uint64
	latencySum, latencyMax            atomic.Int64
	cleans, checkpoints               atomic.Uint64
}

func (c *statsCounters) observeGroup(n int) {
	c.commits.Add(uint64(n))
	c.groups.Add(1)
	c.groupSizes[min(bits.Len(uint(n))-1, GroupSizeBuckets-1)].Add(1)
	if uint64(n) > c.maxGroup.Load() { // only the commit goroutine writes maxGroup
		c.maxGroup.Store(uint64(n))
	}
}

func (c *statsCounters) observeLatency(d time.Duration) {
	c.latencySum.Add(int64(d))
	for {
		cur := c.latencyMax.Load()
		if int64(d) <= cur || c.latencyMax.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

// Stats returns the current counters.
func (s *Store) Stats() Stats {
	c := &s.stats
	st := Stats{
		Commits:     c.commits.Load(),
		Failed:      c.failed.Load(),
		Groups:      c.groups.Load(),
		MaxGroup:    c.maxGroup.Load(),
		LatencySum:  time.Duration(c.latencySum.Load()),
		LatencyMax:  time.Duration(c.latencyMax.Load()),
		Cleans:      c.cleans.Load(),
		Checkpoints: c.checkpoints.Load(),
		LastLSN:     s.LastLSN(),

		SpaceLow:     s.SpaceLow(),
		FreeBytes:    s.space.avail.Load(),
		ReserveBytes: s.space.reserve,
	}
	for i := range st.GroupSizes {
		st.GroupSizes[i] = c.groupSizes[i].Load()
	}
	return st
}
