package mqtttest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// Message is one application message as a client received it.
type Message struct {
	Client   string // client identifier of the receiving client
	Topic    string
	Payload  []byte
	QoS      byte
	Dup      bool
	Retain   bool
	PacketID uint16
	// Properties are the MQTT 5 PUBLISH properties; nil for 3.1.1.
	Properties *paho.PublishProperties
	At         time.Time
}

func (m Message) String() string {
	return fmt.Sprintf("%s: topic=%q qos=%d dup=%v retain=%v payload=%s", m.Client, m.Topic, m.QoS, m.Dup, m.Retain, shortBytes(m.Payload))
}

// Recorder collects the messages one or more clients receive, in arrival
// order, and lets a test wait for a condition on them. Safe for concurrent
// use: clients' callbacks add, the test goroutine waits and reads.
type Recorder struct {
	mu struct {
		sync.Mutex
		msgs    []Message
		changed chan struct{} // closed and replaced on every Add
	}
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder {
	r := &Recorder{}
	r.mu.changed = make(chan struct{})
	return r
}

// Add records a message and wakes every waiter.
func (r *Recorder) Add(m Message) {
	if m.At.IsZero() {
		m.At = time.Now()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.msgs = append(r.mu.msgs, m)
	close(r.mu.changed)
	r.mu.changed = make(chan struct{})
}

// Messages returns a copy of what has been recorded so far.
func (r *Recorder) Messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.mu.msgs...)
}

// Len is the number of messages recorded so far.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.mu.msgs)
}

// snapshot returns the messages and the channel that closes on the next Add.
func (r *Recorder) snapshot() ([]Message, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.mu.msgs...), r.mu.changed
}

// Wait waits at most d until cond holds for the recorded messages and
// returns them; it is re-checked on each arrival, never on a timer. On
// timeout it returns the messages and false.
func (r *Recorder) Wait(d time.Duration, cond func([]Message) bool) ([]Message, bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		msgs, changed := r.snapshot()
		if cond(msgs) {
			return msgs, true
		}
		select {
		case <-changed:
		case <-timer.C:
			msgs, _ = r.snapshot()
			return msgs, cond(msgs)
		}
	}
}

// WaitFor is Wait that fails the test on timeout, naming what it waited for
// and listing what was recorded.
func (r *Recorder) WaitFor(tb testing.TB, d time.Duration, what string, cond func([]Message) bool) []Message {
	tb.Helper()
	msgs, ok := r.Wait(d, cond)
	if !ok {
		tb.Fatalf("mqtttest: timed out after %v waiting for %s; recorded %s", d, what, listMessages(msgs))
	}
	return msgs
}

// WaitN waits (at most d) until at least n messages are recorded and
// returns all of them.
func (r *Recorder) WaitN(tb testing.TB, n int, d time.Duration) []Message {
	tb.Helper()
	return r.WaitFor(tb, d, fmt.Sprintf("%d messages", n), func(m []Message) bool { return len(m) >= n })
}

// On returns the messages recorded on topic, in arrival order.
func (r *Recorder) On(topic string) []Message {
	var out []Message
	for _, m := range r.Messages() {
		if m.Topic == topic {
			out = append(out, m)
		}
	}
	return out
}

func listMessages(msgs []Message) string {
	if len(msgs) == 0 {
		return "no messages"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d messages:", len(msgs))
	for i, m := range msgs {
		if i == 20 {
			fmt.Fprintf(&b, " ... %d more", len(msgs)-i)
			break
		}
		b.WriteString("\n\t")
		b.WriteString(m.String())
	}
	return b.String()
}
