package server

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/admin"
	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
	"github.com/mqsight/mqsight/internal/testport"
)

func TestAdminEndpointCreatedAcceptsMQTTAndDeleteClosesIt(t *testing.T) {
	ts := startTestServer(t)
	c := ts.admin
	port := testport.Free(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{"Endpoint": map[string]any{"Rest": map[string]any{
		"Port": port, "Interface": "127.0.0.1", "MessageHub": "DemoHub",
		"ConnectionPolicies": "DemoConnectionPolicy", "TopicPolicies": "DemoTopicPolicy"}}})
	created := time.Now()
	var conn *mqtttest.Conn
	for {
		cn, err := mqtttest.DialTimeout(t, addr, 4, 200*time.Millisecond)
		if err == nil {
			conn = cn
			break
		}
		if time.Since(created) > time.Second {
			t.Fatalf("endpoint not accepting within a second: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	conn.MustConnect(mqtttest.ConnectOptions{ClientID: "rest-client", Clean: true})
	if time.Since(created) > time.Second {
		t.Fatalf("CONNACK after %v", time.Since(created))
	}
	// Monitoring sees the connection on the new endpoint.
	conns := c.must(http.StatusOK, "GET", "/ima/v1/monitor/Connection", nil).Body["Connection"].([]any)
	if len(conns) != 1 || conns[0].(map[string]any)["Endpoint"] != "Rest" || conns[0].(map[string]any)["Name"] != "rest-client" {
		t.Fatalf("monitor/Connection %v", conns)
	}
	eps := c.must(http.StatusOK, "GET", "/ima/v1/monitor/Endpoint", nil).Body["Endpoint"].([]any)
	found := false
	for _, e := range eps {
		m := e.(map[string]any)
		if m["Name"] == "Rest" {
			found = m["Listening"] == true && m["ActiveConnections"] == float64(1)
		}
	}
	if !found {
		t.Fatalf("monitor/Endpoint %v", eps)
	}

	c.must(http.StatusOK, "DELETE", "/ima/v1/configuration/Endpoint/Rest", nil)
	conn.ExpectClosed(5 * time.Second)
	if _, err := mqtttest.DialTimeout(t, addr, 4, 200*time.Millisecond); err == nil {
		t.Fatal("deleted endpoint still accepts connections")
	}
}

func TestAdminCleanStoreKeepsConfiguration(t *testing.T) {
	ts := startTestServer(t)
	c := ts.admin
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{"MessageHub": map[string]any{"Keep": map[string]any{}}})
	pub := mqtttest.Dial(t, ts.mqttAddr, 4)
	pub.MustConnect(mqtttest.ConnectOptions{ClientID: "pub", Clean: true})
	pub.MustPublish("state/x", []byte("retained"), 1, true)
	sub := mqtttest.Dial(t, ts.mqttAddr, 4)
	sub.MustConnect(mqtttest.ConnectOptions{ClientID: "durable", Clean: false})
	sub.MustSubscribe(mqtttest.Sub("state/#", 1))
	sub.MustAcknowledge(sub.ExpectMessage("state/x", []byte("retained")))
	sub.Disconnect(0)
	pub.Disconnect(0)
	server := c.must(http.StatusOK, "GET", "/ima/v1/monitor/Server", nil).Body["Server"].(map[string]any)
	if server["RetainedMessages"] != float64(1) || server["Sessions"].(float64) < 1 {
		t.Fatalf("before clean: %v", server)
	}
	before := ts.s.Config().Current()

	j := c.restart(map[string]any{"Service": "Server", "CleanStore": true})
	if j.Body["Result"].(map[string]any)["CleanStore"] != true {
		t.Fatalf("job %s", j.Raw)
	}

	after := ts.s.Config().Current()
	if after.Generation != before.Generation || after.MessageHubs["Keep"] == nil || after.ServerUID != before.ServerUID {
		t.Fatalf("configuration changed by CleanStore: gen %d → %d", before.Generation, after.Generation)
	}
	server = c.must(http.StatusOK, "GET", "/ima/v1/monitor/Server", nil).Body["Server"].(map[string]any)
	if server["RetainedMessages"] != float64(0) || server["Sessions"] != float64(0) || server["Subscriptions"] != float64(0) {
		t.Fatalf("after clean: %v", server)
	}
	again := mqtttest.Dial(t, ts.mqttAddr, 4)
	connack := again.MustConnect(mqtttest.ConnectOptions{ClientID: "durable", Clean: false})
	if connack.SessionPresent {
		t.Fatal("session survived CleanStore")
	}
	again.MustSubscribe(mqtttest.Sub("state/#", 1))
	again.ExpectNothing(200 * time.Millisecond)
}

func TestAdminMaintenanceSurvivesRestart(t *testing.T) {
	ts := startTestServer(t)
	c := ts.admin
	c.restart(map[string]any{"Service": "Server", "Maintenance": "start"})
	assertMaintenance := func(want bool) {
		t.Helper()
		srv := ts.admin.must(http.StatusOK, "GET", "/ima/v1/service/status", nil).Body["Server"].(map[string]any)
		state := float64(1)
		if want {
			state = 9
		}
		if srv["State"] != state {
			t.Fatalf("state %v, want %v (%v)", srv["State"], state, srv)
		}
		_, err := mqtttest.DialTimeout(t, ts.mqttAddr, 4, 300*time.Millisecond)
		if open := err == nil; open == want {
			t.Fatalf("maintenance %v but MQTT endpoint open=%v", want, open)
		}
	}
	assertMaintenance(true)
	// An in-process restart without Maintenance keeps it.
	c.restart(map[string]any{"Service": "Server"})
	assertMaintenance(true)
	// So does a process restart.
	ts.close()
	ts.open()
	assertMaintenance(true)
	ts.admin.restart(map[string]any{"Service": "Server", "Maintenance": "stop"})
	assertMaintenance(false)
	ts.close()
	ts.open()
	assertMaintenance(false)
}

func TestAdminResetConfig(t *testing.T) {
	ts := startTestServer(t)
	c := ts.admin
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{
		"MessageHub": map[string]any{"Gone": map[string]any{}},
		"AdminUser":  map[string]any{"ops": map[string]any{"Password": "ops-password", "Role": "User"}},
		"ServerName": "custom",
	})
	uid := ts.s.Config().Current().ServerUID
	c.restart(map[string]any{"Service": "Server", "Reset": "config"})
	cur := ts.s.Config().Current()
	if cur.MessageHubs["Gone"] != nil || cur.ServerName != "mqsight" || cur.MessageHubs["DemoHub"] == nil {
		t.Fatalf("not reset: hubs %v name %q", cur.MessageHubs, cur.ServerName)
	}
	if cur.ServerUID != uid || cur.AdminUsers["ops"] == nil || cur.AdminUsers["admin"] == nil {
		t.Fatalf("reset lost ServerUID or admin users: %q %v", cur.ServerUID, cur.AdminUsers)
	}
}

func TestAdminRestartRequestValidation(t *testing.T) {
	ts := startTestServer(t)
	for _, body := range []string{
		`{"Service":"Server","Maintenance":"start","CleanStore":true}`,
		`{"Service":"Server","Maintenance":"stop","Reset":"config"}`,
		`{"CleanStore":true}`,
	} {
		r := ts.admin.must(http.StatusBadRequest, "POST", "/ima/v1/service/restart", body)
		if r.code() != string(admin.CodeBadRequest) {
			t.Fatalf("%s: %s", body, r.Raw)
		}
	}
	r := ts.admin.must(http.StatusBadRequest, "POST", "/ima/v1/service/restart", `{"Service":"Server","Force":true}`)
	if r.code() != string(admin.CodeBadArgument) {
		t.Fatalf("unknown field: %s", r.Raw)
	}
	r = ts.admin.must(http.StatusBadRequest, "POST", "/ima/v1/service/restart", `{"Service":"Server","Maintenance":"later"}`)
	if r.code() != string(admin.CodeBadValue) {
		t.Fatalf("bad maintenance value: %s", r.Raw)
	}
}

func TestAdminMetrics(t *testing.T) {
	ts := startTestServer(t)
	r := ts.admin.must(http.StatusOK, "GET", "/metrics", nil)
	for _, want := range []string{"mqsight_up 1", "mqsight_connections_active 0", "mqsight_store_commits_total", "mqsight_store_space_low 0", "mqsight_store_free_reserve_bytes"} {
		if !strings.Contains(string(r.Raw), want) {
			t.Fatalf("metrics lack %q:\n%s", want, r.Raw)
		}
	}
	for _, typ := range []string{"Server", "Endpoint", "Connection", "Subscription", "Queue", "Store"} {
		got := ts.admin.must(http.StatusOK, "GET", "/ima/v1/monitor/"+typ, nil)
		if _, ok := got.Body[typ]; !ok || got.Body["Version"] != "v1" {
			t.Fatalf("monitor/%s: %s", typ, got.Raw)
		}
	}
}

// TestAdminMonitorFilters drives the monitoring filters against a live
// engine: a filter that matches nothing returns an empty list, not every
// row, and a parameter mqsight does not know is refused.
func TestAdminMonitorFilters(t *testing.T) {
	ts := startTestServer(t)
	c := ts.admin
	for _, id := range []string{"client-a", "client-b"} {
		cn := mqtttest.Dial(t, ts.mqttAddr, 4)
		cn.MustConnect(mqtttest.ConnectOptions{ClientID: id, Clean: true})
		cn.MustSubscribe(mqtttest.Sub("plant/"+id+"/#", 1))
		time.Sleep(2 * time.Millisecond) // distinct connect times for the order below
	}
	names := func(path, typ, field string) string {
		t.Helper()
		var out []string
		for _, e := range c.must(http.StatusOK, "GET", path, nil).Body[typ].([]any) {
			out = append(out, e.(map[string]any)[field].(string))
		}
		return strings.Join(out, " ")
	}
	for path, want := range map[string]string{
		"/ima/v1/monitor/Connection":                                          "client-a client-b",
		"/ima/v1/monitor/Connection?ClientID=zzz":                             "",
		"/ima/v1/monitor/Connection?ClientID=*-b":                             "client-b",
		"/ima/v1/monitor/Connection?Endpoint=NoSuchEndpoint":                  "",
		"/ima/v1/monitor/Connection?StatType=NewestConnection":                "client-b client-a",
		"/ima/v1/monitor/Connection?StatType=OldestConnection&ResultCount=10": "client-a client-b",
		"/ima/v1/monitor/Subscription?ClientID=zzz&ResultCount=10":            "",
		"/ima/v1/monitor/Subscription?TopicString=plant/client-a/*":           "client-a",
		"/ima/v1/monitor/Subscription?SubType=Durable":                        "",
	} {
		typ, _, _ := strings.Cut(strings.TrimPrefix(path, "/ima/v1/monitor/"), "?")
		field := "Name"
		if typ == "Subscription" {
			field = "ClientID"
		}
		if got := names(path, typ, field); got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
	if got := names("/ima/v1/monitor/Endpoint?Name=E4", "Endpoint", "Name"); got != "" {
		t.Errorf("Endpoint?Name=E4: %q", got)
	}
	if got := names("/ima/v1/monitor/Endpoint?Name=DemoEndpoint", "Endpoint", "Name"); got != "DemoEndpoint" {
		t.Errorf("Endpoint?Name=DemoEndpoint: %q", got)
	}
	r := c.must(http.StatusBadRequest, "GET", "/ima/v1/monitor/Connection?Bogus=1", nil)
	if r.code() != string(admin.CodeBadRequest) || !strings.Contains(r.Body["Message"].(string), `"Bogus"`) {
		t.Fatalf("unknown parameter: %s", r.Raw)
	}
	r = c.must(http.StatusBadRequest, "GET", "/ima/v1/monitor/Subscription?ResultCount=1000", nil)
	if r.code() != string(admin.CodeBadValue) {
		t.Fatalf("bad ResultCount: %s", r.Raw)
	}
}
