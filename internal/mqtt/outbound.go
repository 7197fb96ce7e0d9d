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
// Pending bytes are bounded by limit. QoS 0 deliveries that would exceed the
// bound are refused (and counted as dropped by the caller); packets the
// protocol requires (acks, QoS>0 publishes, which the Receive Maximum bounds)
// are always accepted.
type outbound struct {
	nc    net.Conn
	limit int
	// drained is called (without locks) after a write drops pending bytes
	// below half the limit, so delivery paused on a full queue can resume.
	drained func()

	mu struct {
		sync.Mutex
		pending []byte
		closed  bool
		closing bool // flush what is pending, then close
		paused  bool // a producer hit the limit since the last drain
	}
	kick chan struct{}
	done chan struct{}
}

func newOutbound(nc net.Conn, limit int, drained func()) *outbound {
	o := &outbound{nc: nc, limit: limit, drained: drained, kick: make(chan struct{}, 1), done: make(chan struct{})}
	return o
}

// appendResult says what appendPacket did with a packet.
type appendResult uint8

const (
	appended      appendResult = iota
	refusedFull                // an optional packet did not fit the bound
	refusedClosed              // the connection is closing or closed
)

// appendPacket adds encoded bytes. optional=true marks a packet that may be
// refused when the queue is over its limit.
func (o *outbound) appendPacket(b []byte, optional bool) appendResult {
	o.mu.Lock()
	if o.mu.closed || o.mu.closing {
		o.mu.Unlock()
		return refusedClosed
	}
	if optional && len(o.mu.pending)+len(b) > o.limit {
		o.mu.paused = true
		o.mu.Unlock()
		return refusedFull
	}
	o.mu.pending = append(o.mu.pending, b...)
	o.mu.Unlock()
	select {
	case o.kick <- struct{}{}:
	default:
	}
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
func (o *outbound) closeAfterFlush() {
	o.mu.Lock()
	o.mu.closing = true
	o.mu.Unlock()
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// closeNow closes the connection without flushing.
func (o *outbound) closeNow() {
	o.mu.Lock()
	already := o.mu.closed
	o.mu.closed = true
	o.mu.Unlock()
	if !already {
		o.nc.Close()
	}
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// run is the writer goroutine. It returns when the connection is closed.
func (o *outbound) run() {
	defer close(o.done)
	var spare []byte
	for range o.kick {
		for {
			o.mu.Lock()
			if o.mu.closed {
				o.mu.Unlock()
				return
			}
			buf := o.mu.pending
			closing := o.mu.closing
			o.mu.pending = spare[:0]
			wasPaused := o.mu.paused
			o.mu.paused = false
			o.mu.Unlock()
			if len(buf) > 0 {
				o.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
				if _, err := o.nc.Write(buf); err != nil {
					o.closeNow()
					return
				}
			}
			spare = buf
			if cap(spare) > 1<<20 {
				spare = nil // do not pin a large burst's buffer
			}
			if closing {
				o.mu.Lock()
				empty := len(o.mu.pending) == 0
				o.mu.Unlock()
				if empty {
					o.closeNow()
					return
				}
				continue
			}
			if wasPaused && o.drained != nil {
				o.drained()
			}
			o.mu.Lock()
			more := len(o.mu.pending) > 0
			o.mu.Unlock()
			if !more {
				break
			}
		}
	}
}

// writeTimeout bounds one Write to a client that stopped reading.
const writeTimeout = 30 * time.Second
