package mqtt

import (
	"net"
	"sync"
	"time"
)

// outbound is a connection's queue of encoded packets waiting to be written.
// Producers append under mu (never doing I/O); one writer goroutine swaps
// the pending bytes out and writes them with a single Write, so a burst of
// deliveries costs one system call.
//
// The writer runs only while the connection is busy: the first append to a
// queue without a writer (or a close) starts it. A writer that has made
// fewer than busyWrites writes exits, releasing its buffers, as soon as
// the queue is empty, so an idle connection (CONNACK, SUBACK, the odd
// message) costs no writer goroutine stack and no write buffer; a busier one
// waits for more work on kick and exits only after idleAfter without any
// (starting a goroutine per burst measured much slower in fan-out). At most
// one writer runs at a time (mu.writing).
//
// Pending bytes are bounded by limit. QoS 0 deliveries that would exceed the
// bound are refused (and counted as dropped by the caller), except into an
// empty queue: a packet larger than the whole bound (the endpoint's
// MaxMessageSize may exceed it) would otherwise never be delivered to
// anyone. Packets the protocol requires (acks, QoS>0 publishes, which the
// Receive Maximum bounds) are always accepted.
type outbound struct {
	nc    net.Conn
	limit int
	// drained is called (without locks) after a write drops pending bytes
	// below half the limit, so delivery paused on a full queue can resume.
	drained func()

	mu struct {
		sync.Mutex
		pending []byte
		spare   []byte // the writer's last buffer, reused while it runs
		closed  bool
		closing bool // flush what is pending, then close
		paused  bool // a producer hit the limit since the last drain
		writing bool // a writer goroutine is running
		ended   bool // done is closed
	}
	kick chan struct{} // wakes a waiting writer
	// stopping is closed when the connection starts closing (closeAfter or
	// closeNow): a reader waiting for something else gives up.
	stopping chan struct{}
	// done is closed once the connection is closed and no writer runs.
	done chan struct{}
	// idleAfter is how long a writer waits for work before it exits.
	idleAfter time.Duration
}

// writerIdle is how long a busy connection's writer waits for more work;
// busyWrites is how many writes make a writer busy.
const (
	writerIdle = time.Second
	busyWrites = 4
)

func newOutbound(nc net.Conn, limit int, drained func()) *outbound {
	return &outbound{nc: nc, limit: limit, drained: drained, kick: make(chan struct{}, 1),
		stopping: make(chan struct{}), done: make(chan struct{}), idleAfter: writerIdle}
}

// startLocked starts the writer, or wakes the one running. The caller
// holds mu.
func (o *outbound) startLocked() {
	if !o.mu.writing {
		o.mu.writing = true
		go o.run()
		return
	}
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// endLocked closes done, once, when the connection is closed and no writer
// runs. The caller holds mu.
func (o *outbound) endLocked() {
	if o.mu.closed && !o.mu.writing && !o.mu.ended {
		o.mu.ended = true
		close(o.done)
	}
}

// appendResult says what appendPacket did with a packet.
type appendResult uint8

const (
	appended      appendResult = iota
	refusedFull                // an optional packet did not fit the bound
	refusedClosed              // the connection is closing or closed
)

// appendPacket adds encoded bytes. optional=true marks a packet that may be
// refused when it does not fit under the limit behind what is pending; an
// empty queue takes it whatever its size.
func (o *outbound) appendPacket(b []byte, optional bool) appendResult {
	o.mu.Lock()
	if o.mu.closed || o.mu.closing {
		o.mu.Unlock()
		return refusedClosed
	}
	if optional && len(o.mu.pending) > 0 && len(o.mu.pending)+len(b) > o.limit {
		o.mu.paused = true
		o.mu.Unlock()
		return refusedFull
	}
	o.mu.pending = append(o.mu.pending, b...)
	o.startLocked()
	o.mu.Unlock()
	return appended
}

// isClosing reports whether the connection is closing or closed: nothing
// more may be delivered to it.
func (o *outbound) isClosing() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.mu.closed || o.mu.closing
}

// full reports whether the pending bytes are at or above the limit; the
// session stops delivering QoS>0 messages until drained is called.
func (o *outbound) full() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.mu.pending) >= o.limit {
		o.mu.paused = true
		return true
	}
	return false
}

// closeAfterFlush writes what is pending, then closes the connection.
func (o *outbound) closeAfterFlush() { o.closeAfter(nil) }

// closeAfter appends last (a DISCONNECT; nil for none) and closes the
// connection once everything pending is written. Appending and closing are
// one step, so nothing another goroutine sends can follow last on the
// wire ([MQTT-3.14.4-1]: the DISCONNECT is the last packet).
func (o *outbound) closeAfter(last []byte) {
	o.mu.Lock()
	if !o.mu.closed && !o.mu.closing {
		o.mu.pending = append(o.mu.pending, last...)
		close(o.stopping)
	}
	o.mu.closing = true
	if !o.mu.closed {
		o.startLocked() // it flushes, then closes
	}
	o.mu.Unlock()
}

// closeNow closes the connection without flushing.
func (o *outbound) closeNow() {
	o.mu.Lock()
	already := o.mu.closed
	if !already && !o.mu.closing {
		close(o.stopping)
	}
	o.mu.closed = true
	o.endLocked() // a running writer ends it when it stops
	o.mu.Unlock()
	if !already {
		o.nc.Close()
	}
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// run is the writer goroutine. It returns when the connection is closed,
// or after idleAfter with nothing to write (the next append starts
// another).
func (o *outbound) run() {
	var idle *time.Timer
	writes := 0
	defer func() {
		if idle != nil {
			idle.Stop()
		}
	}()
	for {
		o.mu.Lock()
		if o.mu.closed {
			o.mu.writing = false
			o.mu.pending, o.mu.spare = nil, nil
			o.endLocked()
			o.mu.Unlock()
			return
		}
		if len(o.mu.pending) == 0 {
			if o.mu.closing {
				o.mu.Unlock()
				o.closeNow() // flushed: close; the next turn ends
				continue
			}
			if writes < busyWrites {
				// Not busy: release the buffers and stop.
				o.mu.writing = false
				o.mu.pending, o.mu.spare = nil, nil
				o.mu.Unlock()
				return
			}
			o.mu.Unlock()
			if idle == nil {
				idle = time.NewTimer(o.idleAfter)
			} else {
				idle.Reset(o.idleAfter)
			}
			select {
			case <-o.kick:
				continue
			case <-idle.C:
			}
			o.mu.Lock()
			if len(o.mu.pending) > 0 || o.mu.closed || o.mu.closing {
				o.mu.Unlock()
				continue
			}
			// Idle: release the buffers and stop.
			o.mu.writing = false
			o.mu.pending, o.mu.spare = nil, nil
			o.mu.Unlock()
			return
		}
		buf := o.mu.pending
		o.mu.pending, o.mu.spare = o.mu.spare[:0], nil
		closing := o.mu.closing
		wasPaused := o.mu.paused
		o.mu.paused = false
		o.mu.Unlock()

		o.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := o.nc.Write(buf); err != nil {
			o.closeNow()
			continue
		}
		writes++
		if cap(buf) <= 1<<20 { // do not pin a large burst's buffer
			o.mu.Lock()
			o.mu.spare = buf
			o.mu.Unlock()
		}
		if wasPaused && !closing && o.drained != nil {
			o.drained()
		}
	}
}

// writeTimeout bounds one Write to a client that stopped reading.
const writeTimeout = 30 * time.Second
