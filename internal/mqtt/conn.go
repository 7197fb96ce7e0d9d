package mqtt

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/packet"
)

// conn is one network connection. The reader goroutine (serve) owns the
// fields below the line; sess is set once under Engine.mu during CONNECT.
type conn struct {
	e        *Engine
	nc       net.Conn
	endpoint string
	maxSize  int // largest packet accepted (endpoint MaxMessageSize)
	// connectDeadline is when the connect timeout ends, counted from the
	// accept: the deadline of a TLS handshake still to do, the read
	// deadline of CONNECT and the bound on the policy's wait
	// (ConnInfo.Context).
	connectDeadline time.Time
	out             *outbound
	acks            ackQueue
	uncommitted     uncommitted // publishes waiting for their store commit (backpressure.go)

	// Guarded by Engine.mu.
	sess      *session
	client    Client
	connacked bool      // CONNACK written; deliveries may follow
	connected time.Time // when CONNACK was written (monitoring order)
	closed    bool
	willSent  bool

	// Reader goroutine only.
	version       byte
	keepAlive     time.Duration
	inAliases     map[uint16]string
	inflightIn    atomic.Int32 // QoS>0 publishes received and not yet fully acknowledged
	normalClose   bool
	disconnectRC  byte
	clientAliases uint16 // client's Topic Alias Maximum (our outbound aliases)

	// Outbound topic aliases, guarded by Engine.mu (assigned while sending).
	outAliases map[string]uint16
}

// connSet tracks live connections so Close can end them all. Once closing
// is set no connection is added; remove still balances the WaitGroup of
// every connection added, also while closeAll runs.
type connSet struct {
	mu      sync.Mutex
	m       map[*conn]struct{}
	closing bool
	wg      sync.WaitGroup
}

func (s *connSet) add(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.m[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *connSet) remove(c *conn) {
	s.mu.Lock()
	if _, ok := s.m[c]; ok {
		delete(s.m, c)
		s.wg.Done()
	}
	s.mu.Unlock()
}

// closeAll stops new connections and closes the live ones; their serving
// goroutines remove them.
func (s *connSet) closeAll() {
	s.mu.Lock()
	s.closing = true
	live := make([]*conn, 0, len(s.m))
	for c := range s.m {
		live = append(live, c)
	}
	s.mu.Unlock()
	for _, c := range live {
		c.out.closeNow()
	}
}

func (s *connSet) wait() { s.wg.Wait() }

// ServeConn runs the MQTT protocol on nc until it closes. endpoint names
// the configuration Endpoint the connection arrived on; maxSize bounds the
// packet size (0 = MQTT's maximum). The connect timeout counts from now. It
// returns when the connection is done.
func (e *Engine) ServeConn(nc net.Conn, endpoint string, maxSize int) {
	e.serveConn(nc, endpoint, maxSize, time.Now().Add(e.limits.ConnectTimeout))
}

// serveConn is ServeConn for a connection that must have sent its CONNECT
// (and finished a TLS handshake) by connectDeadline.
func (e *Engine) serveConn(nc net.Conn, endpoint string, maxSize int, connectDeadline time.Time) {
	c := &conn{e: e, nc: nc, endpoint: endpoint, maxSize: maxSize, connectDeadline: connectDeadline}
	c.out = newOutbound(nc, e.limits.MaxPendingBytes, c.drained)
	c.acks.c = c
	c.uncommitted.wake = make(chan struct{}, 1)
	if !e.conns.add(c) {
		nc.Close()
		return
	}
	defer e.conns.remove(c)
	c.serve()
	// Detach first: from now on the session is offline and nothing more is
	// delivered to this connection while it flushes what it has.
	c.out.closeAfterFlush()
	c.detach()
	select {
	case <-c.out.done:
	case <-time.After(5 * time.Second):
		c.out.closeNow()
		<-c.out.done
	}
}

// readBufferSize is the size of a connection's read buffer, which an idle
// connection keeps for its whole life. 2 KiB holds a burst of a few dozen
// small PUBLISHes per read system call; a packet larger than the buffer is
// read straight into its own body allocation, so a bigger buffer mostly
// costs memory (8 KiB measured no faster in BenchmarkQoS0FanIn/FanOut).
const readBufferSize = 2 << 10

func (c *conn) serve() {
	if tc, ok := c.nc.(*tls.Conn); ok {
		tc.SetDeadline(c.connectDeadline)
		if err := tc.Handshake(); err != nil {
			c.e.log.Debug("tls handshake failed", "remote", c.nc.RemoteAddr(), "err", err)
			return
		}
	}
	r := packet.NewReader(bufio.NewReaderSize(countingReader{c.nc, &c.e.stats}, readBufferSize), c.maxSize)
	var pk packets.Packet
	c.nc.SetReadDeadline(c.connectDeadline)
	if err := r.Read(&pk); err != nil {
		c.readFailed(err, true)
		return
	}
	if pk.FixedHeader.Type != packets.Connect {
		return // [MQTT-3.1.0-1]: the first packet must be CONNECT
	}
	if !c.handleConnect(&pk, r) {
		return
	}
	for {
		if c.keepAlive > 0 {
			c.nc.SetReadDeadline(time.Now().Add(c.keepAlive * 3 / 2))
		} else {
			c.nc.SetReadDeadline(time.Time{})
		}
		if err := r.Read(&pk); err != nil {
			c.readFailed(err, false)
			return
		}
		if !c.handle(&pk) || !c.waitForCommits() {
			return
		}
	}
}

// readFailed decides what to tell the client about a read error.
func (c *conn) readFailed(err error, beforeConnect bool) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
	case errors.As(err, &ne) && ne.Timeout():
		if !beforeConnect {
			c.disconnect(0x8D) // Keep Alive timeout
		}
	default:
		if rc, ok := packet.Reason(err); ok && !beforeConnect {
			c.disconnect(rc)
		}
		c.e.log.Debug("mqtt read failed", "remote", c.nc.RemoteAddr(), "err", err)
	}
}

// handle processes one packet after CONNECT; false ends the connection.
func (c *conn) handle(pk *packets.Packet) bool {
	switch pk.FixedHeader.Type {
	case packets.Publish:
		return c.handlePublish(pk)
	case packets.Puback:
		c.e.handleAck(c, pk.PacketID, packets.Puback, pk.ReasonCode)
	case packets.Pubrec:
		c.e.handleAck(c, pk.PacketID, packets.Pubrec, pk.ReasonCode)
	case packets.Pubcomp:
		c.e.handleAck(c, pk.PacketID, packets.Pubcomp, pk.ReasonCode)
	case packets.Pubrel:
		return c.handlePubrel(pk)
	case packets.Subscribe:
		return c.handleSubscribe(pk)
	case packets.Unsubscribe:
		return c.handleUnsubscribe(pk)
	case packets.Pingreq:
		c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingresp}})
	case packets.Disconnect:
		return c.handleDisconnect(pk)
	case packets.Connect:
		c.disconnect(0x82) // [MQTT-3.1.0-2]: a second CONNECT is a protocol error
		return false
	case packets.Auth:
		c.disconnect(0x82) // no enhanced authentication method was agreed
		return false
	default:
		c.disconnect(0x82)
		return false
	}
	return true
}

// disconnect sends a v5 DISCONNECT with reason rc (3.1.1 has no server
// DISCONNECT: the connection is just closed) and makes the connection
// close after flushing.
func (c *conn) disconnect(rc byte) {
	var last []byte
	if c.version == 5 {
		last = c.encodeDisconnect(rc)
	}
	c.out.closeAfter(last)
}

// encodeDisconnect is the v5 DISCONNECT with reason rc, counted as sent.
func (c *conn) encodeDisconnect(rc byte) []byte {
	b, err := encode(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ReasonCode: rc}, c.version, 0)
	if err != nil {
		c.e.log.Error("encode mqtt packet", "type", packets.Disconnect, "err", err)
		return nil
	}
	c.e.stats.BytesOut.Add(uint64(len(b)))
	return b
}

// send encodes pk for this connection's protocol version and queues it.
func (c *conn) send(pk *packets.Packet) bool {
	b, err := encode(pk, c.version, 0)
	if err != nil {
		c.e.log.Error("encode mqtt packet", "type", pk.FixedHeader.Type, "err", err)
		return false
	}
	c.e.stats.BytesOut.Add(uint64(len(b)))
	return c.out.appendPacket(b, false) == appended
}

// drained is called by the writer when a full outbound queue drained.
func (c *conn) drained() {
	c.e.mu.Lock()
	if s := c.sess; s != nil && s.conn == c {
		c.e.pumpLocked(s)
	}
	c.e.mu.Unlock()
}

// encode returns pk's wire bytes for protocol version v in a new slice
// (acks and other control packets; the delivery path encodes into the
// engine's pooled buffers instead). maxSize is the peer's Maximum Packet
// Size (0: none); a packet that cannot fit returns an error wrapping
// packet.ErrTooLarge.
func encode(pk *packets.Packet, v byte, maxSize uint32) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(64 + len(pk.TopicName) + len(pk.Payload))
	return encodeInto(&buf, pk, v, maxSize)
}

// encodeInto is encode into buf (reset first): the returned bytes are buf's
// and valid until buf is used again.
func encodeInto(buf *bytes.Buffer, pk *packets.Packet, v byte, maxSize uint32) ([]byte, error) {
	buf.Reset()
	pk.ProtocolVersion = v
	pk.Mods.MaxSize = maxSize
	if _, err := packet.Encode(buf, pk); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// countingReader counts bytes read from the network.
type countingReader struct {
	r     io.Reader
	stats *Stats
}

func (cr countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.stats.BytesIn.Add(uint64(n))
	return n, err
}
