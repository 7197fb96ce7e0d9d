package policy

import (
	"net"
	"testing"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/mqtt"
)

// TestConnectEdges covers refusals that the engine's listener normally
// prevents from reaching the policy: an endpoint that is gone, and a
// certificate profile without a certificate (the TLS listener requires
// one, but the policy must not rely on it).
func TestConnectEdges(t *testing.T) {
	c := config.Default()
	if err := config.SetProperties(c, "SecurityProfile", "SP", map[string]any{"TLSEnabled": false,
		"UseClientCertificate": true, "UsePasswordAuthentication": false}); err != nil {
		t.Fatal(err)
	}
	c.Endpoints["DemoEndpoint"].SecurityProfile = "SP"
	p := New(Options{})
	info := mqtt.ConnInfo{Endpoint: "Gone", ClientID: "c", RemoteAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}}
	if cl, rc := p.Connect(c, info); cl != nil || rc != 0x87 {
		t.Fatalf("unknown endpoint: %v 0x%02X, want refused 0x87", cl, rc)
	}
	info.Endpoint = "DemoEndpoint"
	if cl, rc := p.Connect(c, info); cl != nil || rc != 0x87 || p.Stats().FailedLogins.Load() != 1 {
		t.Fatalf("no certificate: %v 0x%02X (failed logins %d), want refused 0x87 and counted", cl, rc, p.Stats().FailedLogins.Load())
	}
}
