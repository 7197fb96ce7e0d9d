package mqtttest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// DefaultTimeout bounds every wait whose caller gives no timeout: dialling,
// waiting for an acknowledgement, Expect. It is generous because the race
// detector on a loaded 2-core machine slows everything down; a passing test
// never waits for it.
const DefaultTimeout = 5 * time.Second

// frameQueueLen bounds the frames read ahead of the test. When a test stops
// reading, the reader goroutine blocks and TCP flow control pushes back on
// the broker, as a slow real client would.
const frameQueueLen = 4096

// Sentinel errors a caller can branch on.
var (
	// ErrTimeout: nothing (or not the awaited packet) arrived in time.
	ErrTimeout = errors.New("mqtttest: timed out waiting for the broker")
	// ErrClosed: the connection is closed; errors wrapping it also wrap
	// the underlying cause (io.EOF for a clean close, ECONNRESET, ...).
	ErrClosed = errors.New("mqtttest: connection closed")
)

// CloseKind says how a connection ended, as seen by the reader.
type CloseKind int

const (
	// NotClosed: the connection was still open when the wait ended.
	NotClosed CloseKind = iota
	// ClosedEOF: the broker closed the connection cleanly (TCP FIN).
	ClosedEOF
	// ClosedReset: the broker reset the connection (TCP RST), which is how
	// a close with unread data in the broker's receive buffer looks.
	ClosedReset
	// ClosedLocally: this side closed the connection (Conn.Close).
	ClosedLocally
	// ClosedBroken: the stream ended inside a frame or failed otherwise.
	ClosedBroken
)

func (k CloseKind) String() string {
	switch k {
	case NotClosed:
		return "still open"
	case ClosedEOF:
		return "closed by the broker (EOF)"
	case ClosedReset:
		return "reset by the broker (ECONNRESET)"
	case ClosedLocally:
		return "closed locally"
	default:
		return "broken stream"
	}
}

// ClosedByBroker reports whether the kind is a close initiated by the
// broker (clean or reset).
func (k CloseKind) ClosedByBroker() bool {
	return k == ClosedEOF || k == ClosedReset || k == ClosedBroken
}

// closeKind classifies the reader's terminal error.
func closeKind(err error) CloseKind {
	switch {
	case err == nil:
		return NotClosed
	case errors.Is(err, io.EOF):
		return ClosedEOF
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return ClosedReset
	case errors.Is(err, net.ErrClosed):
		return ClosedLocally
	default:
		return ClosedBroken
	}
}

type readResult struct {
	frame Frame
	err   error
}

// Conn is a raw-packet MQTT client connection. See the package comment for
// ownership: one test goroutine drives it; Send and SendRaw may also be
// called from others.
type Conn struct {
	tb      testing.TB
	nc      net.Conn
	version byte

	// frames is written only by readLoop and closed when it returns.
	frames chan readResult
	done   chan struct{} // closed by Close; stops readLoop
	once   sync.Once

	// Owned by the test goroutine.
	pending []Frame // frames already read, not yet consumed, in arrival order
	term    error   // terminal read error once seen (wraps ErrClosed)
	lastID  uint16

	writeMu sync.Mutex // serialises writes to nc
}

// Dial connects to addr (host:port, on 127.0.0.1) for the given protocol
// version (V311 or V5), failing tb when it cannot. The connection is
// closed when the test ends. No MQTT packet is sent.
func Dial(tb testing.TB, addr string, version byte) *Conn {
	tb.Helper()
	c, err := DialTimeout(tb, addr, version, DefaultTimeout)
	if err != nil {
		tb.Fatalf("mqtttest: %v", err)
	}
	return c
}

// DialTimeout is Dial with an explicit timeout that returns the error
// instead of failing tb (for tests of refused connections).
func DialTimeout(tb testing.TB, addr string, version byte, timeout time.Duration) (*Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return Wrap(tb, nc, version), nil
}

// Wrap is a Conn over a connection the test dialled itself (TLS, for
// instance). It is closed when the test ends. No MQTT packet is sent.
func Wrap(tb testing.TB, nc net.Conn, version byte) *Conn {
	c := &Conn{
		tb:      tb,
		nc:      nc,
		version: version,
		frames:  make(chan readResult, frameQueueLen),
		done:    make(chan struct{}),
	}
	go c.readLoop()
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func (c *Conn) readLoop() {
	defer close(c.frames)
	br := bufio.NewReader(c.nc)
	for {
		f, err := readFrame(br)
		r := readResult{frame: f, err: err}
		select {
		case c.frames <- r:
		case <-c.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// Version is the protocol version used to encode and decode.
func (c *Conn) Version() byte { return c.version }

// SetVersion changes the protocol version used to encode and decode, for
// tests that send a CONNECT of one version and then read as another.
func (c *Conn) SetVersion(v byte) { c.version = v }

// NetConn is the underlying connection (for half-closes or raw reads in
// special tests; reading from it races with the Conn's reader).
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close closes the connection without sending DISCONNECT (to the broker it
// looks like a network failure, so wills fire). Safe to call twice.
func (c *Conn) Close() error {
	var err error
	c.once.Do(func() {
		close(c.done)
		err = c.nc.Close()
	})
	return err
}

// NextID returns the next packet identifier, cycling through 1..65535.
func (c *Conn) NextID() uint16 {
	c.lastID++
	if c.lastID == 0 {
		c.lastID = 1
	}
	return c.lastID
}

// SendRaw writes b as is.
func (c *Conn) SendRaw(b []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.nc.SetWriteDeadline(time.Now().Add(DefaultTimeout)); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if _, err := c.nc.Write(b); err != nil {
		return fmt.Errorf("send %d bytes: %w", len(b), err)
	}
	return nil
}

// Send encodes pk for the connection's protocol version (see Encode for
// what is filled in) and writes it.
func (c *Conn) Send(pk *packets.Packet) error {
	b, err := Encode(pk, c.version)
	if err != nil {
		return err
	}
	return c.SendRaw(b)
}

// MustSend is Send that fails the test on error.
func (c *Conn) MustSend(pk *packets.Packet) {
	c.tb.Helper()
	if err := c.Send(pk); err != nil {
		c.tb.Fatalf("mqtttest: %v", err)
	}
}

// receive takes the next frame from the reader, waiting until deadline.
// It does not look at pending.
func (c *Conn) receive(deadline time.Time) (Frame, error) {
	if c.term != nil {
		return Frame{}, c.term
	}
	wait := time.Until(deadline)
	if wait < 0 {
		wait = 0
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case r, ok := <-c.frames:
		if !ok {
			c.term = fmt.Errorf("%w: %w", ErrClosed, net.ErrClosed)
			return Frame{}, c.term
		}
		if r.err != nil {
			c.term = fmt.Errorf("%w (%s): %w", ErrClosed, closeKind(r.err), r.err)
			return Frame{}, c.term
		}
		return r.frame, nil
	case <-timer.C:
		return Frame{}, ErrTimeout
	}
}

// NextFrame returns the next frame from the broker, waiting at most d.
func (c *Conn) NextFrame(d time.Duration) (Frame, error) {
	if len(c.pending) > 0 {
		f := c.pending[0]
		c.pending = c.pending[1:]
		return f, nil
	}
	f, err := c.receive(time.Now().Add(d))
	if errors.Is(err, ErrTimeout) {
		return Frame{}, fmt.Errorf("%w after %v", ErrTimeout, d)
	}
	return f, err
}

// Next returns the next packet from the broker, decoded, waiting at most d.
func (c *Conn) Next(d time.Duration) (*packets.Packet, error) {
	f, err := c.NextFrame(d)
	if err != nil {
		return nil, err
	}
	return Decode(f, c.version)
}

// await returns the first frame, in arrival order, for which match is true,
// waiting at most d. Frames that do not match stay queued, in order, for
// later reads: a test waiting for its PUBACK does not lose the PUBLISH that
// overtook it.
func (c *Conn) await(what string, d time.Duration, match func(Frame) bool) (Frame, error) {
	for i, f := range c.pending {
		if match(f) {
			c.pending = append(c.pending[:i:i], c.pending[i+1:]...)
			return f, nil
		}
	}
	deadline := time.Now().Add(d)
	for {
		f, err := c.receive(deadline)
		if err != nil {
			if errors.Is(err, ErrTimeout) {
				err = fmt.Errorf("%w after %v for %s", ErrTimeout, d, what)
			} else {
				err = fmt.Errorf("waiting for %s: %w", what, err)
			}
			return Frame{}, fmt.Errorf("%w%s", err, c.pendingNote())
		}
		if match(f) {
			return f, nil
		}
		c.pending = append(c.pending, f)
	}
}

func (c *Conn) pendingNote() string {
	if len(c.pending) == 0 {
		return " (nothing else arrived)"
	}
	parts := make([]string, 0, len(c.pending))
	for i, f := range c.pending {
		if i == 8 {
			parts = append(parts, fmt.Sprintf("... %d more", len(c.pending)-i))
			break
		}
		parts = append(parts, describeFrame(f, c.version))
	}
	return " (arrived instead: " + strings.Join(parts, "; ") + ")"
}

// AwaitAck waits at most d for the packet of type typ carrying packet
// identifier id (PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK), leaving
// any other packet queued for later reads.
func (c *Conn) AwaitAck(typ byte, id uint16, d time.Duration) (*packets.Packet, error) {
	what := fmt.Sprintf("%s id=%d", TypeName(typ), id)
	f, err := c.await(what, d, func(f Frame) bool {
		return f.Type() == typ && len(f.Body) >= 2 && uint16(f.Body[0])<<8|uint16(f.Body[1]) == id
	})
	if err != nil {
		return nil, err
	}
	return Decode(f, c.version)
}

// AwaitType waits at most d for the first packet of type typ, leaving any
// other packet queued for later reads.
func (c *Conn) AwaitType(typ byte, d time.Duration) (*packets.Packet, error) {
	f, err := c.await(TypeName(typ), d, func(f Frame) bool { return f.Type() == typ })
	if err != nil {
		return nil, err
	}
	return Decode(f, c.version)
}

// Expect reads the very next packet (within DefaultTimeout) and fails the
// test unless it has type typ; the message shows what arrived instead, or
// that nothing did, or that the connection closed.
func (c *Conn) Expect(typ byte) *packets.Packet {
	c.tb.Helper()
	return c.ExpectWithin(typ, DefaultTimeout)
}

// ExpectWithin is Expect with an explicit timeout.
func (c *Conn) ExpectWithin(typ byte, d time.Duration) *packets.Packet {
	c.tb.Helper()
	f, err := c.NextFrame(d)
	if err != nil {
		c.tb.Fatalf("mqtttest: expected %s: %v", TypeName(typ), err)
		return nil
	}
	pk, err := Decode(f, c.version)
	if err != nil {
		c.tb.Fatalf("mqtttest: expected %s, got an undecodable frame: %v", TypeName(typ), err)
		return nil
	}
	if pk.FixedHeader.Type != typ {
		c.tb.Fatalf("mqtttest: expected %s, got %s", TypeName(typ), Describe(pk))
		return nil
	}
	return pk
}

// ExpectPublish is Expect(packets.Publish).
func (c *Conn) ExpectPublish() *packets.Packet {
	c.tb.Helper()
	return c.Expect(packets.Publish)
}

// ExpectNothing fails the test if any packet arrives within d, or if the
// connection closes. It waits the whole of d when all is well: keep d
// short (100-300 ms) and use it only to prove an absence.
func (c *Conn) ExpectNothing(d time.Duration) {
	c.tb.Helper()
	f, err := c.NextFrame(d)
	switch {
	case err == nil:
		c.tb.Fatalf("mqtttest: expected nothing for %v, got %s", d, describeFrame(f, c.version))
	case errors.Is(err, ErrTimeout):
		// Silence, as wanted.
	default:
		c.tb.Fatalf("mqtttest: expected nothing for %v, but %v", d, err)
	}
}

// WaitClosed reads until the connection ends or d passes. It returns how
// the connection ended (NotClosed on timeout) and the frames that arrived
// first, such as a CONNACK or DISCONNECT carrying a reason code.
func (c *Conn) WaitClosed(d time.Duration) (CloseKind, []Frame) {
	var before []Frame
	before = append(before, c.pending...)
	c.pending = nil
	deadline := time.Now().Add(d)
	for {
		f, err := c.receive(deadline)
		if errors.Is(err, ErrTimeout) {
			c.pending = before // nothing is lost for a test that goes on
			return NotClosed, before
		}
		if err != nil {
			return closeKind(err), before
		}
		before = append(before, f)
	}
}

// ExpectClosed fails the test unless the broker closes the connection
// within d (cleanly or by reset; a timeout fails with what arrived). It
// returns the packets that arrived before the close, decoded.
func (c *Conn) ExpectClosed(d time.Duration) []*packets.Packet {
	c.tb.Helper()
	kind, frames := c.WaitClosed(d)
	var pks []*packets.Packet
	var seen []string
	for _, f := range frames {
		seen = append(seen, describeFrame(f, c.version))
		if pk, err := Decode(f, c.version); err == nil {
			pks = append(pks, pk)
		}
	}
	switch {
	case kind == NotClosed:
		c.tb.Fatalf("mqtttest: expected the broker to close the connection within %v; it stayed open (received: %s)", d, listOrNone(seen))
	case kind == ClosedLocally:
		c.tb.Fatalf("mqtttest: expected the broker to close the connection, but it was closed locally")
	}
	return pks
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, "; ")
}
