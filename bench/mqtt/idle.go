package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// idleResult is the broker's resident memory before and after opening n
// idle MQTT connections.
type idleResult struct {
	conns          int
	beforeKB       int64
	afterKB        int64
	connectElapsed time.Duration
}

// bytesPerConn is the RSS growth per idle connection.
func (r idleResult) bytesPerConn() float64 {
	return float64(r.afterKB-r.beforeKB) * 1024 / float64(r.conns)
}

// idleSettle is how long the broker is left alone before each RSS reading.
const idleSettle = 2 * time.Second

// measureIdle opens n connections to b (CONNECT, clean session, keep alive
// off, then nothing), reading VmRSS before and after. All connections are
// closed before it returns. Bounded: each dial has handshakeTimeout, and
// the whole connect phase stops at connectBudget. whileOpen, if not nil,
// runs after the second reading, before the connections close.
func measureIdle(b *broker, n int, tag string, whileOpen func() error) (idleResult, error) {
	const workers = 32
	const connectBudget = 120 * time.Second
	res := idleResult{conns: n}

	// One connection first, so one-time costs (first accept, first
	// session) are in the baseline.
	first, err := dial(b.addr, "bi-"+tag+"-first", true, 0, 256)
	if err != nil {
		return res, err
	}
	defer first.close()
	time.Sleep(idleSettle)
	if res.beforeKB, err = b.rssKB(); err != nil {
		return res, err
	}

	conns := make([]*client, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.close()
			}
		}
	}()
	start := time.Now()
	stopAt := start.Add(connectBudget)
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || time.Now().After(stopAt) {
					return
				}
				c, err := dial(b.addr, fmt.Sprintf("bi-%s-%d", tag, i), true, 0, 256)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("connection %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	res.connectElapsed = time.Since(start)
	if firstErr != nil {
		return res, firstErr
	}
	for i, c := range conns {
		if c == nil {
			return res, fmt.Errorf("connection %d not opened within %v", i, connectBudget)
		}
	}
	time.Sleep(idleSettle)
	if res.afterKB, err = b.rssKB(); err != nil {
		return res, err
	}
	if whileOpen != nil {
		err = whileOpen()
	}
	return res, err
}
