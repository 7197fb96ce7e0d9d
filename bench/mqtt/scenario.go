package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// scenario is one load shape: publishers send to their own topics, every
// subscriber subscribes to all of them. Every loop in it is bounded by
// count (maxPerPublisher) and by time (duration, then a bounded drain).
type scenario struct {
	name        string
	publishers  int
	subscribers int
	qos         byte
	// durable subscribers use a persistent session (CleanSession 0) and
	// remove it at the end.
	durable bool
	// window is how many of one publisher's messages may be sent and not
	// yet received by every subscriber; it keeps both brokers' queues
	// short, so msgs/s is the rate a broker sustains without dropping.
	window int
	// inflight bounds a QoS 1 publisher's unacknowledged PUBLISHes.
	inflight int
	// rate > 0 paces each publisher at rate msgs/s (the latency scenario);
	// 0 sends as fast as the window allows.
	rate            float64
	duration        time.Duration
	maxPerPublisher int
	payload         int
	// sampleEvery: one latency sample per this many messages received per
	// subscriber.
	sampleEvery int
}

// result is what one run of a scenario against one broker measured.
type result struct {
	sent       int64 // PUBLISHes sent
	expected   int64 // sent × subscribers
	received   int64 // distinct messages received
	duplicates int64
	outOfOrder int64 // received after a later message of the same publisher
	stalls     int64 // window waits that timed out (messages presumed lost)
	elapsed    time.Duration
	rate       float64 // received / elapsed
	p50, p99   time.Duration
}

func (r result) lost() int64 { return r.expected - r.received }

// header of each payload: publisher index, sequence, send time.
const headerSize = 16

// Timeouts of the measurement loops.
const (
	stallTimeout = time.Second     // a window wait longer than this presumes loss
	drainIdle    = time.Second     // drain ends after this long without progress
	drainMax     = 5 * time.Second // drain never lasts longer
)

// errProtocol reports a packet the load generator did not expect.
var errProtocol = errors.New("unexpected packet")

// tracker is one subscriber's view of what it received, per publisher.
// Its fields other than recv and last are owned by the subscriber's reader
// goroutine.
type tracker struct {
	recv    []atomic.Int64 // distinct messages received per publisher
	maxSeen []int64        // highest sequence seen per publisher (-1: none)
	seen    [][]uint64     // bitset of sequences seen per publisher
	dups    int64
	ooo     int64
	samples []time.Duration
	count   int64
	err     error
}

// run measures sc against the broker at addr. tag makes client ids and
// topics unique to this run.
func (sc scenario) run(addr, tag string, epoch time.Time) (result, error) {
	topicBase := fmt.Sprintf("bench/%s/%s/", sc.name, tag)
	notify := make([]chan struct{}, sc.publishers)
	for i := range notify {
		notify[i] = make(chan struct{}, 1)
	}
	notifyEvery := int64(max(1, sc.window/4))
	var lastRecv atomic.Int64 // nanoseconds since epoch of the last receive

	// Subscribers first, so nothing is published before they listen.
	subs := make([]*client, sc.subscribers)
	trackers := make([]*tracker, sc.subscribers)
	var readers sync.WaitGroup
	defer func() {
		for _, c := range subs {
			if c != nil {
				c.close()
			}
		}
		readers.Wait()
	}()
	for i := range subs {
		id := fmt.Sprintf("bs-%s-%s-%d", sc.name, tag, i)
		c, err := dial(addr, id, !sc.durable, 0, 64<<10)
		if err != nil {
			return result{}, fmt.Errorf("subscriber %d: %w", i, err)
		}
		subs[i] = c
		if err := c.subscribe(topicBase+"+", sc.qos); err != nil {
			return result{}, fmt.Errorf("subscriber %d: %w", i, err)
		}
		t := &tracker{
			recv:    make([]atomic.Int64, sc.publishers),
			maxSeen: make([]int64, sc.publishers),
			seen:    make([][]uint64, sc.publishers),
		}
		for p := range t.maxSeen {
			t.maxSeen[p] = -1
		}
		trackers[i] = t
		readers.Add(1)
		go func() {
			defer readers.Done()
			t.err = sc.receive(c, t, notify, notifyEvery, epoch, &lastRecv)
		}()
	}

	pubs := make([]*client, sc.publishers)
	defer func() {
		for _, c := range pubs {
			if c != nil {
				c.close()
			}
		}
	}()
	for i := range pubs {
		c, err := dial(addr, fmt.Sprintf("bp-%s-%s-%d", sc.name, tag, i), true, 0, 64<<10)
		if err != nil {
			return result{}, fmt.Errorf("publisher %d: %w", i, err)
		}
		pubs[i] = c
	}

	start := time.Now()
	deadline := start.Add(sc.duration)
	sent := make([]int64, sc.publishers)
	var stalls atomic.Int64
	errs := make([]error, sc.publishers)
	var wg sync.WaitGroup
	for p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent[p], errs[p] = sc.publish(pubs[p], p, topicBase, trackers, notify[p], start, deadline, epoch, &stalls)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return result{}, err
	}

	var res result
	for _, n := range sent {
		res.sent += n
	}
	res.expected = res.sent * int64(sc.subscribers)
	total := func() int64 {
		var n int64
		for _, t := range trackers {
			for p := range t.recv {
				n += t.recv[p].Load()
			}
		}
		return n
	}
	// Drain: bounded by drainMax and by drainIdle without progress.
	drainEnd := time.Now().Add(drainMax)
	prev, idleSince := total(), time.Now()
	for time.Now().Before(drainEnd) {
		n := total()
		if n >= res.expected {
			break
		}
		if n != prev {
			prev, idleSince = n, time.Now()
		} else if time.Since(idleSince) > drainIdle {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	res.received = total()
	res.stalls = stalls.Load()
	res.elapsed = epoch.Add(time.Duration(lastRecv.Load())).Sub(start)
	if res.elapsed <= 0 {
		res.elapsed = time.Since(start)
	}
	res.rate = float64(res.received) / res.elapsed.Seconds()

	// Stop the readers, then read their trackers.
	// Closed without DISCONNECT: the reader goroutines may be writing
	// PUBACKs; a persistent session is removed below.
	for i, c := range subs {
		c.close()
		subs[i] = nil
	}
	readers.Wait()
	var samples []time.Duration
	for _, t := range trackers {
		res.duplicates += t.dups
		res.outOfOrder += t.ooo
		samples = append(samples, t.samples...)
	}
	slices.Sort(samples)
	if len(samples) > 0 {
		res.p50 = samples[len(samples)/2]
		res.p99 = samples[min(len(samples)-1, len(samples)*99/100)]
	}
	if sc.durable {
		// Remove the persistent sessions: reconnect with CleanSession 1.
		for i := range sc.subscribers {
			c, err := dial(addr, fmt.Sprintf("bs-%s-%s-%d", sc.name, tag, i), true, 0, 4<<10)
			if err != nil {
				return res, fmt.Errorf("clean up durable subscriber %d: %w", i, err)
			}
			c.disconnect()
		}
	}
	for _, c := range pubs {
		c.disconnect()
	}
	clear(pubs)
	return res, nil
}

// publish is publisher p's loop. It returns how many messages it sent.
func (sc scenario) publish(c *client, p int, topicBase string, trackers []*tracker, notify chan struct{},
	start, deadline, epoch time.Time, stalls *atomic.Int64) (int64, error) {
	topic := fmt.Sprintf("%s%d", topicBase, p)
	payload := make([]byte, max(sc.payload, headerSize))
	window := int64(sc.window)
	var forgiven int64 // messages presumed lost after a stall
	minRecv := func() int64 {
		m := int64(-1)
		for _, t := range trackers {
			if n := t.recv[p].Load(); m < 0 || n < m {
				m = n
			}
		}
		return m
	}

	// QoS 1: a reader goroutine returns one credit per PUBACK.
	var credits chan struct{}
	ackErr := make(chan error, 1)
	if sc.qos > 0 {
		credits = make(chan struct{}, sc.inflight)
		for range sc.inflight {
			credits <- struct{}{}
		}
		go func() {
			for {
				first, _, err := c.readPacket()
				if err != nil {
					ackErr <- err
					return
				}
				if first>>4 != typePuback {
					ackErr <- fmt.Errorf("publisher %d got packet type %d: %w", p, first>>4, errProtocol)
					return
				}
				credits <- struct{}{}
			}
		}()
	}

	var seq int64
	pid := uint16(0)
	lowest := minRecv()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for seq < int64(sc.maxPerPublisher) {
		now := time.Now()
		if !now.Before(deadline) {
			break
		}
		if sc.rate > 0 {
			due := start.Add(time.Duration(float64(seq) / sc.rate * float64(time.Second)))
			if wait := due.Sub(now); wait > 0 {
				if err := c.flush(); err != nil {
					return seq, err
				}
				time.Sleep(wait)
			}
		}
		// End-to-end window.
		for seq-lowest-forgiven >= window {
			if lowest = minRecv(); seq-lowest-forgiven < window {
				break
			}
			if err := c.flush(); err != nil {
				return seq, err
			}
			timer.Reset(stallTimeout)
			select {
			case <-notify:
				lowest = minRecv()
			case <-timer.C:
				lowest = minRecv()
				if seq-lowest-forgiven >= window {
					stalls.Add(1)
					forgiven = seq - lowest
				}
			}
			if !time.Now().Before(deadline) {
				return seq, c.flush()
			}
		}
		if credits != nil {
			select {
			case <-credits:
			default:
				if err := c.flush(); err != nil {
					return seq, err
				}
				timer.Reset(stallTimeout * 5)
				select {
				case <-credits:
				case err := <-ackErr:
					return seq, err
				case <-timer.C:
					return seq, fmt.Errorf("publisher %d: no PUBACK for %v", p, stallTimeout*5)
				}
			}
			pid++
			if pid == 0 {
				pid = 1
			}
		}
		binary.BigEndian.PutUint32(payload[0:], uint32(p))
		binary.BigEndian.PutUint32(payload[4:], uint32(seq))
		binary.BigEndian.PutUint64(payload[8:], uint64(time.Since(epoch)))
		if err := c.publish(topic, sc.qos, pid, payload); err != nil {
			return seq, err
		}
		seq++
	}
	if err := c.flush(); err != nil {
		return seq, err
	}
	if credits != nil {
		// Wait for the outstanding PUBACKs (bounded).
		timer.Reset(drainMax)
		for range sc.inflight {
			select {
			case <-credits:
			case err := <-ackErr:
				return seq, err
			case <-timer.C:
				return seq, fmt.Errorf("publisher %d: PUBACKs missing after %v", p, drainMax)
			}
		}
	}
	return seq, nil
}

// receive is a subscriber's reader loop; it ends when the connection is
// closed.
func (sc scenario) receive(c *client, t *tracker, notify []chan struct{}, notifyEvery int64,
	epoch time.Time, lastRecv *atomic.Int64) error {
	for {
		first, body, err := c.readPacket()
		if err != nil {
			if sc.qos > 0 {
				c.flush()
			}
			return nil // closed at the end of the run
		}
		if first>>4 != typePublish {
			continue
		}
		_, pid, payload, err := parsePublish(first, body)
		if err != nil {
			return err
		}
		if len(payload) < headerSize {
			return fmt.Errorf("payload of %d bytes: %w", len(payload), errProtocol)
		}
		p := int(binary.BigEndian.Uint32(payload))
		seq := int64(binary.BigEndian.Uint32(payload[4:]))
		sentAt := time.Duration(binary.BigEndian.Uint64(payload[8:]))
		if p >= len(t.recv) {
			return fmt.Errorf("publisher index %d: %w", p, errProtocol)
		}
		if sc.qos > 0 {
			c.puback(pid)
			if c.r.Buffered() == 0 {
				if err := c.flush(); err != nil {
					return nil
				}
			}
		}
		now := time.Since(epoch)
		lastRecv.Store(int64(now))
		word, bit := seq/64, uint64(1)<<(seq%64)
		for int64(len(t.seen[p])) <= word {
			t.seen[p] = append(t.seen[p], 0)
		}
		if t.seen[p][word]&bit != 0 {
			t.dups++
			continue
		}
		t.seen[p][word] |= bit
		if seq < t.maxSeen[p] {
			t.ooo++
		} else {
			t.maxSeen[p] = seq
		}
		n := t.recv[p].Add(1)
		if n%notifyEvery == 0 {
			select {
			case notify[p] <- struct{}{}:
			default:
			}
		}
		t.count++
		if t.count%int64(sc.sampleEvery) == 0 && len(t.samples) < 1<<20 {
			t.samples = append(t.samples, now-sentAt)
		}
	}
}
