package config

import (
	"reflect"
	"testing"
)

func TestSplitJoinRoundTrip(t *testing.T) {
	c := fixture(t)
	c.Endpoints["E1"].Interface = "127.0.0.1"
	c.HighAvailability.Group = "HA1"
	c.LogLevel, c.TraceLevel = "MAX", "7,mqtt:9"
	c.AdminEndpoint.SecurityProfile = "S1"
	c.Generation = 42
	server, messaging := Split(c)
	if got := Join(server, messaging); !reflect.DeepEqual(got, c) {
		t.Fatal("Join(Split(c)) != c")
	}
	// Neither part shares memory with c.
	server.AdminUsers["A1"].Role = "User"
	messaging.Endpoints["E1"].Port = 1
	if c.AdminUsers["A1"].Role != "SystemAdministrator" || c.Endpoints["E1"].Port != 1884 {
		t.Fatal("Split returned parts that share memory with its argument")
	}
}

func TestSplitSeparatesServerConfiguration(t *testing.T) {
	c := fixture(t)
	c.Endpoints["E1"].Interface = "127.0.0.1"
	server, messaging := Split(c)
	want := &ServerConfig{
		ServerName: "mqsight", ServerUID: "0123456789abcdef", LogLevel: "NORMAL", TraceLevel: "5",
		AdminEndpoint:      c.AdminEndpoint,
		HighAvailability:   c.HighAvailability,
		AdminUsers:         c.AdminUsers,
		EndpointInterfaces: map[string]string{"DemoEndpoint": "All", "E1": "127.0.0.1"},
	}
	if !reflect.DeepEqual(server, want) {
		t.Fatalf("server part:\n got %+v\nwant %+v", server, want)
	}
	if messaging.ServerName != "" || messaging.ServerUID != "" || messaging.LogLevel != "" || messaging.TraceLevel != "" ||
		messaging.AdminEndpoint != (AdminEndpoint{}) || messaging.HighAvailability != (HighAvailability{}) ||
		len(messaging.AdminUsers) != 0 {
		t.Fatalf("messaging part holds server configuration: %+v", messaging)
	}
	for name, e := range messaging.Endpoints {
		if e.Interface != "" {
			t.Fatalf("messaging Endpoint %s keeps Interface %q", name, e.Interface)
		}
	}
	// Everything else stays in the messaging part.
	if len(messaging.Users) != 1 || len(messaging.Queues) != 1 || len(messaging.TrustedCertificates) != 1 ||
		messaging.Endpoints["E1"].Port != 1884 || messaging.Generation != c.Generation {
		t.Fatal("messaging part lost messaging configuration")
	}
}

// TestJoinTable covers restore "without server configuration": the
// messaging part of a backup joined with the running server's part.
func TestJoinTable(t *testing.T) {
	backup := fixture(t)
	backup.Endpoints["E1"].Interface = "10.0.0.5"
	_, backupMsg := Split(backup)

	running := Default()
	running.ServerUID = "fedcba9876543210"
	running.ServerName = "production"
	running.Endpoints["DemoEndpoint"].Interface = "192.168.0.1"
	running.Endpoints["Old"] = &Endpoint{Name: "Old", Interface: "192.168.0.2"}
	runningServer, _ := Split(running)

	cases := []struct {
		name       string
		server     *ServerConfig
		wantName   string
		wantUID    string
		wantIfaces map[string]string
	}{
		{"running server keeps its bindings; new endpoint gets All", runningServer, "production", "fedcba9876543210",
			map[string]string{"DemoEndpoint": "192.168.0.1", "E1": "All"}},
		{"nil server means New()'s server configuration", nil, "mqsight", "",
			map[string]string{"DemoEndpoint": "All", "E1": "All"}},
		{"empty interface map", &ServerConfig{ServerName: "x", LogLevel: "MIN", TraceLevel: "5"}, "x", "",
			map[string]string{"DemoEndpoint": "All", "E1": "All"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Join(c.server, backupMsg)
			if got.ServerName != c.wantName || got.ServerUID != c.wantUID {
				t.Fatalf("ServerName %q ServerUID %q", got.ServerName, got.ServerUID)
			}
			ifaces := map[string]string{}
			for n, e := range got.Endpoints {
				ifaces[n] = e.Interface
			}
			if !reflect.DeepEqual(ifaces, c.wantIfaces) {
				t.Fatalf("interfaces %v, want %v", ifaces, c.wantIfaces)
			}
			if len(got.Users) != 1 || got.Endpoints["E1"].Port != 1884 {
				t.Fatal("messaging configuration not taken from the backup")
			}
			if backupMsg.Endpoints["E1"].Interface != "" {
				t.Fatal("Join modified its messaging argument")
			}
		})
	}
	joined := Join(runningServer, backupMsg)
	if err := joined.Validate(); err != nil {
		t.Fatalf("joined document invalid: %v", err)
	}
	if len(joined.AdminUsers) != 0 {
		t.Fatal("admin users of the backup leaked into a restore without server configuration")
	}
}
