package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// client is a minimal MQTT 3.1.1 client over one TCP connection: just what
// the scenarios need (CONNECT, SUBSCRIBE, PUBLISH QoS 0/1, PUBACK,
// DISCONNECT), encoded by hand so the load generator costs little CPU next
// to the broker it measures. A client is used by at most one writer
// goroutine and one reader goroutine at a time.
type client struct {
	nc net.Conn
	r  *bufio.Reader
	w  *bufio.Writer
	rb []byte // reusable packet body buffer (reader only)
}

// Packet types (MQTT 3.1.1 §2.2.1).
const (
	typeConnect    = 1
	typeConnack    = 2
	typePublish    = 3
	typePuback     = 4
	typeSubscribe  = 8
	typeSuback     = 9
	typeDisconnect = 14
)

// handshakeTimeout bounds CONNECT→CONNACK and SUBSCRIBE→SUBACK.
const handshakeTimeout = 10 * time.Second

// errRefused is returned when the broker refuses a CONNECT or SUBSCRIBE.
var errRefused = errors.New("refused by broker")

// dial connects to addr and completes the MQTT CONNECT exchange.
// keepAlive is in seconds (0 disables it).
func dial(addr, clientID string, clean bool, keepAlive uint16, bufSize int) (*client, error) {
	nc, err := net.DialTimeout("tcp", addr, handshakeTimeout)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	c := &client{nc: nc, r: bufio.NewReaderSize(nc, bufSize), w: bufio.NewWriterSize(nc, bufSize)}
	body := make([]byte, 0, 16+len(clientID))
	body = appendString(body, "MQTT")
	flags := byte(0)
	if clean {
		flags |= 0x02
	}
	body = append(body, 4, flags, byte(keepAlive>>8), byte(keepAlive))
	body = appendString(body, clientID)
	c.writePacket(typeConnect<<4, body)
	if err := c.w.Flush(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("send CONNECT: %w", err)
	}
	nc.SetReadDeadline(time.Now().Add(handshakeTimeout))
	typ, b, err := c.readPacket()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("read CONNACK: %w", err)
	}
	nc.SetReadDeadline(time.Time{})
	if typ>>4 != typeConnack || len(b) != 2 || b[1] != 0 {
		nc.Close()
		return nil, fmt.Errorf("CONNACK %x %x: %w", typ, b, errRefused)
	}
	return c, nil
}

// subscribe subscribes to filter with qos and waits for the SUBACK.
func (c *client) subscribe(filter string, qos byte) error {
	body := []byte{0, 1}
	body = appendString(body, filter)
	body = append(body, qos)
	c.writePacket(typeSubscribe<<4|0x02, body)
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("send SUBSCRIBE: %w", err)
	}
	c.nc.SetReadDeadline(time.Now().Add(handshakeTimeout))
	defer c.nc.SetReadDeadline(time.Time{})
	typ, b, err := c.readPacket()
	if err != nil {
		return fmt.Errorf("read SUBACK: %w", err)
	}
	if typ>>4 != typeSuback || len(b) != 3 || b[2] > 2 {
		return fmt.Errorf("SUBACK %x %x: %w", typ, b, errRefused)
	}
	return nil
}

// publish queues a PUBLISH in the write buffer (flush sends it).
func (c *client) publish(topic string, qos byte, pid uint16, payload []byte) error {
	n := 2 + len(topic) + len(payload)
	if qos > 0 {
		n += 2
	}
	c.w.WriteByte(typePublish<<4 | qos<<1)
	c.writeLength(n)
	c.w.WriteByte(byte(len(topic) >> 8))
	c.w.WriteByte(byte(len(topic)))
	c.w.WriteString(topic)
	if qos > 0 {
		c.w.WriteByte(byte(pid >> 8))
		c.w.WriteByte(byte(pid))
	}
	_, err := c.w.Write(payload)
	return err
}

// puback queues a PUBACK for pid.
func (c *client) puback(pid uint16) {
	c.w.Write([]byte{typePuback << 4, 2, byte(pid >> 8), byte(pid)})
}

func (c *client) flush() error { return c.w.Flush() }

// disconnect sends DISCONNECT and closes the connection.
func (c *client) disconnect() {
	c.w.Write([]byte{typeDisconnect << 4, 0})
	c.w.Flush()
	c.nc.Close()
}

func (c *client) close() { c.nc.Close() }

func (c *client) writePacket(first byte, body []byte) {
	c.w.WriteByte(first)
	c.writeLength(len(body))
	c.w.Write(body)
}

func (c *client) writeLength(n int) {
	for {
		b := byte(n & 0x7f)
		n >>= 7
		if n > 0 {
			b |= 0x80
		}
		c.w.WriteByte(b)
		if n == 0 {
			return
		}
	}
}

// maxBody bounds an incoming packet body; the scenarios send small ones.
const maxBody = 1 << 20

// readPacket reads one packet. The returned body is valid until the next
// call.
func (c *client) readPacket() (first byte, body []byte, err error) {
	first, err = c.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, shift := 0, 0
	for i := 0; ; i++ {
		if i == 4 {
			return 0, nil, errors.New("malformed remaining length")
		}
		b, err := c.r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n |= int(b&0x7f) << shift
		shift += 7
		if b&0x80 == 0 {
			break
		}
	}
	if n > maxBody {
		return 0, nil, fmt.Errorf("packet of %d bytes exceeds %d", n, maxBody)
	}
	if cap(c.rb) < n {
		c.rb = make([]byte, n)
	}
	body = c.rb[:n]
	if _, err := io.ReadFull(c.r, body); err != nil {
		return 0, nil, err
	}
	return first, body, nil
}

// parsePublish splits a PUBLISH body.
func parsePublish(first byte, body []byte) (topic []byte, pid uint16, payload []byte, err error) {
	if len(body) < 2 {
		return nil, 0, nil, errors.New("short PUBLISH")
	}
	tl := int(binary.BigEndian.Uint16(body))
	rest := body[2:]
	if len(rest) < tl {
		return nil, 0, nil, errors.New("short PUBLISH topic")
	}
	topic, rest = rest[:tl], rest[tl:]
	if (first>>1)&3 > 0 {
		if len(rest) < 2 {
			return nil, 0, nil, errors.New("short PUBLISH packet id")
		}
		pid, rest = binary.BigEndian.Uint16(rest), rest[2:]
	}
	return topic, pid, rest, nil
}

func appendString(b []byte, s string) []byte {
	b = append(b, byte(len(s)>>8), byte(len(s)))
	return append(b, s...)
}
