package mqtt

import (
	"github.com/mochi-mqtt/server/v2/packets"
	"testing"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

func TestConnectionsListsConnectedClients(t *testing.T) {
	ts := startServer(t)
	if got := ts.e.Connections(); len(got) != 0 {
		t.Fatalf("connections before any client: %+v", got)
	}
	a := mqtttest.Dial(t, ts.addr, 5)
	a.MustConnect(mqtttest.ConnectOptions{ClientID: "b-durable", Properties: packets.Properties{
		SessionExpiryIntervalFlag: true, SessionExpiryInterval: 60}})
	b := mqtttest.Dial(t, ts.addr, 4)
	b.MustConnect(mqtttest.ConnectOptions{ClientID: "a-clean", Clean: true})

	got := ts.e.Connections()
	if len(got) != 2 || got[0].ClientID != "a-clean" || got[1].ClientID != "b-durable" {
		t.Fatalf("connections %+v", got)
	}
	if got[0].ProtocolVersion != 4 || got[0].Durable || got[0].Endpoint != "DemoEndpoint" || got[0].RemoteAddr == "" {
		t.Fatalf("a-clean: %+v", got[0])
	}
	if got[1].ProtocolVersion != 5 || !got[1].Durable {
		t.Fatalf("b-durable: %+v", got[1])
	}
	// a-clean connected after b-durable: the admin API orders by this.
	if got[1].Connected.IsZero() || got[0].Connected.Before(got[1].Connected) {
		t.Fatalf("connection times: a-clean %v, b-durable %v", got[0].Connected, got[1].Connected)
	}
}
