package mqtt

import (
	"sort"
	"time"
)

// ConnectionStats describes one connected client for monitoring (the admin
// API's /ima/v1/monitor/Connection).
type ConnectionStats struct {
	ClientID        string
	Endpoint        string // configuration Endpoint the connection arrived on
	RemoteAddr      string
	ProtocolVersion byte      // 3, 4 (3.1.1) or 5
	Durable         bool      // the session is persistent
	Connected       time.Time // when the CONNECT was accepted (CONNACK written)
}

// Connections returns the clients whose CONNECT was accepted and that are
// still connected, sorted by ClientID. It takes Engine.mu briefly.
func (e *Engine) Connections() []ConnectionStats {
	e.mu.Lock()
	out := make([]ConnectionStats, 0, len(e.mu.sessions))
	for _, s := range e.mu.sessions {
		c := s.conn
		if c == nil || !c.connacked || c.closed {
			continue
		}
		out = append(out, ConnectionStats{
			ClientID: s.clientID, Endpoint: c.endpoint, RemoteAddr: c.nc.RemoteAddr().String(),
			ProtocolVersion: s.version, Durable: s.persistent, Connected: c.connected,
		})
	}
	e.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ClientID < out[j].ClientID })
	return out
}
