package server

import (
	"bytes"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/admin"
)

// TestAdminRestartReportsProgress holds the components the way a running
// admin request does, so the restart waits in its first step: status must
// say so, requests that need the components must get 503 at once instead
// of queueing, and everything must be back when the holder lets go.
func TestAdminRestartReportsProgress(t *testing.T) {
	ts := startTestServer(t)
	c := ts.admin
	_, release, err := adminService{ts.s}.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	release = sync.OnceFunc(release)
	defer release() // a failure below must not leave the restart waiting forever
	r := c.must(http.StatusOK, "POST", "/ima/v1/service/restart", map[string]any{"Service": "Server"})
	id := r.Body["RequestID"].(string)
	deadline := time.Now().Add(10 * time.Second)
	for {
		srv := c.must(http.StatusOK, "GET", "/ima/v1/service/status", nil).Body["Server"].(map[string]any)
		if srv["State"] == float64(2) && srv["StateDescription"] == "Stopping for restart" && srv["Status"] == "Stopping" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never reported the restart: %v", srv)
		}
		time.Sleep(5 * time.Millisecond)
	}
	j := c.must(http.StatusOK, "GET", "/ima/v1/service/status/restart/"+id, nil)
	if j.Body["Status"] != "running" || j.Body["Step"] != "Stopping for restart" {
		t.Fatalf("job while waiting: %s", j.Raw)
	}
	start := time.Now()
	m := c.must(http.StatusServiceUnavailable, "GET", "/ima/v1/monitor/Server", nil)
	if m.code() != string(admin.CodeUnavailable) || time.Since(start) > 5*time.Second {
		t.Fatalf("monitor during restart: %s after %v", m.Raw, time.Since(start))
	}
	if secs, err := strconv.Atoi(m.Header.Get("Retry-After")); err != nil || secs < 1 || secs > 30 {
		t.Fatalf("503 during restart: Retry-After %q", m.Header.Get("Retry-After"))
	}
	// A second restart is refused while the first runs.
	if r := c.must(http.StatusConflict, "POST", "/ima/v1/service/restart", map[string]any{"Service": "Server"}); r.code() != string(admin.CodeBusy) {
		t.Fatalf("second restart: %s", r.Raw)
	}
	release()
	if j := c.waitJob("restart", id); j.Body["Status"] != "succeeded" {
		t.Fatalf("restart: %s", j.Raw)
	}
	srv := c.must(http.StatusOK, "GET", "/ima/v1/service/status", nil).Body["Server"].(map[string]any)
	if srv["State"] != float64(1) || srv["UpTimeSeconds"].(float64) > 5 {
		t.Fatalf("after restart: %v", srv)
	}
	c.must(http.StatusOK, "GET", "/ima/v1/monitor/Server", nil)
}

// TestAdminRestartReloadsConfiguration edits server.json by hand: a restart
// loads the edit; a corrupt file makes the restart fail into maintenance
// with the error reported, and a later restart recovers.
func TestAdminRestartReloadsConfiguration(t *testing.T) {
	ts := startTestServer(t)
	c := ts.admin
	path := ts.s.Config().Path()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(orig, []byte(`"ServerName": "mqsight"`), []byte(`"ServerName": "edited"`), 1)
	if bytes.Equal(edited, orig) {
		t.Fatalf("ServerName not found in\n%s", orig)
	}
	if err := os.WriteFile(path, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	c.restart(map[string]any{"Service": "Server"})
	if got := ts.s.Config().Current().ServerName; got != "edited" {
		t.Fatalf("ServerName after restart %q", got)
	}

	if err := os.WriteFile(path, edited[:len(edited)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	r := c.must(http.StatusOK, "POST", "/ima/v1/service/restart", map[string]any{"Service": "Server"})
	j := c.waitJob("restart", r.Body["RequestID"].(string))
	if j.Body["Status"] != "failed" || !strings.Contains(j.Body["Error"].(string), "corrupt") {
		t.Fatalf("restart on a corrupt configuration: %s", j.Raw)
	}
	srv := c.must(http.StatusOK, "GET", "/ima/v1/service/status", nil).Body["Server"].(map[string]any)
	if srv["State"] != float64(9) || srv["ErrorCode"] != float64(1) || !strings.Contains(srv["ErrorMessage"].(string), "corrupt") {
		t.Fatalf("status after failed restart: %v", srv)
	}
	// Requests that need the components say the server failed, not that
	// it is restarting, and do not ask to retry in a few seconds.
	for _, req := range []struct{ method, path, body string }{
		{"GET", "/ima/v1/monitor/Server", ""},
		{"POST", "/ima/v1/service/backup", `{"Password":"backup-password"}`},
	} {
		r := c.must(http.StatusServiceUnavailable, req.method, req.path, req.body)
		msg, _ := r.Body["Message"].(string)
		if r.code() != string(admin.CodeUnavailable) || !strings.Contains(msg, "in maintenance after a failed restart") ||
			strings.Contains(msg, "restarting") || r.Header.Get("Retry-After") != "" {
			t.Fatalf("%s %s after a failed restart: %s (Retry-After %q)", req.method, req.path, r.Raw, r.Header.Get("Retry-After"))
		}
	}

	if err := os.WriteFile(path, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	c.restart(map[string]any{"Service": "Server"})
	srv = c.must(http.StatusOK, "GET", "/ima/v1/service/status", nil).Body["Server"].(map[string]any)
	if srv["State"] != float64(1) || srv["ErrorCode"] != float64(0) {
		t.Fatalf("status after recovery: %v", srv)
	}
	c.must(http.StatusOK, "GET", "/ima/v1/monitor/Server", nil)
}
