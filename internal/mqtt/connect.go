package mqtt

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"net"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/packet"
	"github.com/mqsight/mqsight/internal/mqtt/topic"
)

// v311ReturnCode maps a v5 CONNACK reason to the 3.1.1 return code.
func v311ReturnCode(rc byte) byte {
	switch rc {
	case 0x84:
		return 0x01 // unacceptable protocol version
	case 0x85:
		return 0x02 // identifier rejected
	case 0x88, 0x89, 0x8B:
		return 0x03 // server unavailable
	case 0x86:
		return 0x04 // bad user name or password
	default:
		return 0x05 // not authorized
	}
}

// refuseConnect sends a CONNACK refusing the connection; the caller closes.
func (c *conn) refuseConnect(rc byte) {
	c.e.stats.ConnectsRefused.Add(1)
	if c.version != 5 {
		rc = v311ReturnCode(rc)
	}
	c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ReasonCode: rc})
}

// handleConnect runs CONNECT ([MQTT-3.1]) and, when it is accepted,
// attaches the session and returns true once CONNACK is queued.
func (c *conn) handleConnect(pk *packets.Packet, r *packet.Reader) bool {
	e := c.e
	c.version = pk.ProtocolVersion
	if c.version != 3 && c.version != 4 && c.version != 5 {
		c.version = 4
		c.refuseConnect(0x84) // [MQTT-3.1.2-2]
		return false
	}
	if err := packet.ValidateConnect(pk); err != nil {
		rc, _ := packet.Reason(err)
		switch {
		case rc == 0x84 || rc == 0x85:
			c.refuseConnect(rc) // [MQTT-3.1.2-2], [MQTT-3.1.3-8]
		case c.version == 5:
			c.refuseConnect(rc)
		}
		return false
	}
	p := &pk.Connect
	if c.version == 5 && pk.Properties.AuthenticationMethod != "" {
		c.refuseConnect(0x8C) // no enhanced authentication methods are supported
		return false
	}
	clientID := p.ClientIdentifier
	assigned := false
	if clientID == "" { // ValidateConnect refused the cases 3.1 and 3.1.1 forbid
		clientID, assigned = newClientID(), true
	}
	if c.version == 5 && len(clientID) > 65535 {
		c.refuseConnect(0x85)
		return false
	}

	// Session expiry ([MQTT-3.1.2-23]; 3.1.1: CleanSession=0 never expires).
	var expiry uint32
	if c.version == 5 {
		expiry = pk.Properties.SessionExpiryInterval
	} else if !p.Clean {
		expiry = maxExpiry
	}

	var will *will
	if p.WillFlag {
		if err := topic.ValidName(p.WillTopic); err != nil {
			c.refuseConnect(0x90) // Topic Name invalid
			return false
		}
		will = newWill(pk, clientID)
	}

	cfg := e.Config()
	info := ConnInfo{
		Endpoint: c.endpoint, ClientID: clientID, UserName: string(p.Username), HasUserName: p.UsernameFlag,
		Password: p.Password, HasPassword: p.PasswordFlag, RemoteAddr: c.nc.RemoteAddr(),
		ProtocolVersion: c.version, SessionExpiry: expiry, Persistent: expiry > 0,
	}
	info.PeerCertificates = peerCertificates(c.nc)
	ctx, cancel := context.WithDeadline(e.closing, c.connectDeadline)
	info.Context = ctx
	client, rc := e.policy.Connect(cfg, info)
	cancel()
	if client == nil {
		e.log.Info("mqtt connection refused", "clientID", clientID, "remote", c.nc.RemoteAddr(), "reason", rc)
		c.refuseConnect(rc)
		return false
	}
	expiryRequested := expiry
	if limit := client.MaxSessionExpiry(); expiry > limit {
		expiry = limit
	}
	if will != nil && (!client.MayPublish(cfg, will.msg.topic) || (will.msg.qos > 0 && !client.AllowPersistentMessages())) {
		c.refuseConnect(0x87)
		return false
	}

	// Keep alive ([MQTT-3.1.2-24], v5 Server Keep Alive [MQTT-3.2.2-21]).
	keepAlive := p.Keepalive
	serverKeepAlive := false
	if m := e.limits.MaxKeepAlive; m > 0 && c.version == 5 && (keepAlive == 0 || keepAlive > m) {
		keepAlive, serverKeepAlive = m, true
	}
	c.keepAlive = time.Duration(keepAlive) * time.Second
	c.clientAliases = pk.Properties.TopicAliasMaximum

	receiveMax := 65535
	var maxPacket uint32
	if c.version == 5 {
		if pk.Properties.ReceiveMaximum > 0 {
			receiveMax = int(pk.Properties.ReceiveMaximum)
		}
		maxPacket = pk.Properties.MaximumPacketSize
	}

	ack := &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}}
	if c.version == 5 {
		props := &ack.Properties
		if assigned {
			props.AssignedClientID = clientID // [MQTT-3.2.2-16]
		}
		if expiry != expiryRequested {
			props.SessionExpiryInterval, props.SessionExpiryIntervalFlag = expiry, true
		}
		props.ReceiveMaximum = e.limits.ReceiveMaximum
		props.TopicAliasMaximum = e.limits.TopicAliasMaximum
		if c.maxSize > 0 {
			props.MaximumPacketSize = uint32(c.maxSize)
		}
		if serverKeepAlive {
			props.ServerKeepAlive, props.ServerKeepAliveFlag = keepAlive, true
		}
	}

	done := make(chan bool, 1)
	e.mu.Lock()
	if e.mu.closed {
		e.mu.Unlock()
		c.refuseConnect(0x8B)
		return false
	}
	b := e.store.NewBatch()
	old := e.mu.sessions[clientID]
	if old != nil && old.conn != nil {
		e.takeOverLocked(old)
	}
	var s *session
	owner := sessionOwner(info)
	if old != nil && !p.Clean && !old.destroyed && old.ownerKnown && old.owner != owner {
		// Another identity may not resume what was authorized for this
		// one (its subscriptions, its buffered messages): the session
		// starts afresh, as with a clean start.
		e.log.Warn("mqtt session of another user discarded", "clientID", clientID, "user", info.UserName)
		e.destroySessionLocked(old, b)
		old = nil
	}
	if old != nil && !p.Clean && !old.destroyed {
		s = old
		ack.SessionPresent = true // [MQTT-3.2.2-2]
		if s.expiryTimer != nil {
			s.expiryTimer.Stop()
			s.expiryTimer = nil
		}
		e.cancelWillLocked(s) // a reconnect before the delay cancels the will
	} else {
		if old != nil {
			e.destroySessionLocked(old, b) // [MQTT-3.1.2-4], [MQTT-3.1.2-6]
		}
		s = newSession(clientID)
		e.mu.sessions[clientID] = s
	}
	wasPersistent := s.persistent
	s.persistent = expiry > 0
	if wasPersistent && !s.persistent {
		e.unpersistSessionLocked(s, b)
	}
	persistent := s.persistent // for the log below: s is Engine.mu's once it is unlocked
	s.version, s.expiry = c.version, expiry
	s.receiveMax, s.maxPacket = receiveMax, maxPacket
	s.will = will
	s.conn = c
	c.sess, c.client = s, client
	s.userID = info.UserName
	s.owner, s.ownerKnown = owner, true
	s.arrived = nil // back online: nothing to announce
	delete(e.mu.notifyPending, s)
	if s.persistent {
		s.putState(b)
	}
	e.stats.ConnectionsTotal.Add(1)
	e.stats.ConnectionsActive.Add(1)
	e.commitThen(b, func(err error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if err != nil || s.conn != c {
			if err != nil {
				e.log.Error("store commit of session failed", "clientID", clientID, "err", err)
			}
			done <- false
			return
		}
		c.send(ack)
		c.connacked = true
		c.connected = e.now()
		e.resendInflightLocked(s)
		e.pumpLocked(s)
		done <- true
	})
	e.mu.Unlock()
	if !<-done {
		c.refuseConnect(0x80)
		return false
	}
	e.log.Debug("mqtt client connected", "clientID", clientID, "version", c.version, "persistent", persistent,
		"sessionPresent", ack.SessionPresent, "remote", c.nc.RemoteAddr())
	r.SetVersion(c.version)
	return true
}

// takeOverLocked ends old's connection because a new one with the same
// client ID arrived ([MQTT-3.1.4-2]; v5 DISCONNECT 0x8E).
func (e *Engine) takeOverLocked(old *session) {
	oc := old.conn
	old.takenOver = true
	e.detachLocked(oc, false)
	oc.disconnect(0x8E)
}

func newClientID() string {
	var b [12]byte
	rand.Read(b[:])
	return "mqsight-" + hex.EncodeToString(b[:])
}

// peerCertificates returns the verified client certificate chain of a TLS
// connection, looking through the wrappers the listener puts around it
// (first-byte peeking, WebSocket); nil for a plain connection.
func peerCertificates(nc net.Conn) []*x509.Certificate {
	for range 8 {
		switch v := nc.(type) {
		case *tls.Conn:
			return v.ConnectionState().PeerCertificates
		case *peekedConn:
			nc = v.Conn
		case *notifyConn:
			nc = v.Conn
		case *wsConn:
			nc = v.under
		default:
			return nil
		}
	}
	return nil
}

// sessionOwner identifies who a connection authenticated as: its user name
// and its client certificate's Common Name (with a separator no name
// holds). A session resumes only for the same owner.
func sessionOwner(info ConnInfo) string {
	cn := ""
	if len(info.PeerCertificates) > 0 {
		cn = info.PeerCertificates[0].Subject.CommonName
	}
	return info.UserName + "\x00" + cn
}
