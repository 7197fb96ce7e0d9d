package server

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/mqsight/mqsight/internal/admin"
)

func TestAdminRoles(t *testing.T) {
	ts := startTestServer(t)
	c := ts.admin
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{"AdminUser": map[string]any{
		"viewer": map[string]any{"Password": "viewer-password", "Role": "User"},
		"msgadm": map[string]any{"Password": "msgadm-password", "Role": "MessagingAdministrator"},
	}})
	viewer, msgadm := c.as("viewer", "viewer-password"), c.as("msgadm", "msgadm-password")

	r := c.as("", "").must(http.StatusUnauthorized, "GET", "/ima/v1/service/status", nil)
	if r.code() != string(admin.CodeUnauthenticated) || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Fatalf("no credentials: %v %s", r.Header, r.Raw)
	}
	r = c.as("admin", "wrong").must(http.StatusUnauthorized, "GET", "/ima/v1/service/status", nil)
	if strings.Contains(string(r.Raw), "wrong") {
		t.Fatalf("reply echoes the password: %s", r.Raw)
	}

	tests := []struct {
		who    *adminClient
		name   string
		method string
		path   string
		body   any
		status int
	}{
		{viewer, "user reads configuration", "GET", "/ima/v1/configuration", nil, 200},
		{viewer, "user reads monitoring", "GET", "/ima/v1/monitor/Server", nil, 200},
		{viewer, "user reads metrics", "GET", "/metrics", nil, 200},
		{viewer, "user may not post", "POST", "/ima/v1/configuration", `{"MessageHub":{"V":{}}}`, 403},
		{viewer, "user may not delete", "DELETE", "/ima/v1/configuration/MessageHub/DemoHub", nil, 403},
		{viewer, "user may not upload", "PUT", "/ima/v1/file/x", "x", 403},
		{viewer, "user may not restart", "POST", "/ima/v1/service/restart", `{"Service":"Server"}`, 403},
		{msgadm, "messaging admin posts messaging objects", "POST", "/ima/v1/configuration", `{"MessageHub":{"M":{}}}`, 200},
		{msgadm, "messaging admin uploads", "PUT", "/ima/v1/file/m.txt", "x", 200},
		{msgadm, "messaging admin may not rename the server", "POST", "/ima/v1/configuration", `{"ServerName":"x"}`, 403},
		{msgadm, "messaging admin may not add admin users", "POST", "/ima/v1/configuration", `{"AdminUser":{"x":{"Password":"p","Role":"SystemAdministrator"}}}`, 403},
		{msgadm, "messaging admin may not set an endpoint interface", "POST", "/ima/v1/configuration",
			`{"Endpoint":{"DemoEndpoint":{"Interface":"All"}}}`, 403},
		{msgadm, "messaging admin may not delete admin users", "DELETE", "/ima/v1/configuration/AdminUser/viewer", nil, 403},
		{msgadm, "messaging admin may not restart", "POST", "/ima/v1/service/restart", `{"Service":"Server"}`, 403},
		{msgadm, "messaging admin may not mix in server configuration", "POST", "/ima/v1/configuration",
			`{"MessageHub":{"Mixed":{}},"LogLevel":"MAX"}`, 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := ts.s.Config().Current()
			r := tc.who.must(tc.status, tc.method, tc.path, tc.body)
			if tc.status == 403 {
				if r.code() != string(admin.CodeForbidden) {
					t.Fatalf("code %s", r.Raw)
				}
				if ts.s.Config().Current() != before {
					t.Fatal("a forbidden request changed the configuration")
				}
			}
		})
	}
	if ts.s.Config().Current().MessageHubs["Mixed"] != nil {
		t.Fatal("refused mixed POST applied its messaging part")
	}
}

func TestAdminPasswordChangeInvalidatesOldPassword(t *testing.T) {
	ts := startTestServer(t)
	c := ts.admin
	c.must(http.StatusOK, "GET", "/ima/v1/service/status", nil) // verified, now cached
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{"AdminUser": map[string]any{
		"admin": map[string]any{"Password": "new-admin-password"}}})
	c.must(http.StatusUnauthorized, "GET", "/ima/v1/service/status", nil)
	c.as("admin", "new-admin-password").must(http.StatusOK, "GET", "/ima/v1/service/status", nil)
	// A deleted user is refused at once, although its login was cached.
	c = c.as("admin", "new-admin-password")
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{"AdminUser": map[string]any{
		"second": map[string]any{"Password": "second-password", "Role": "SystemAdministrator"}}})
	second := c.as("second", "second-password")
	second.must(http.StatusOK, "GET", "/ima/v1/service/status", nil)
	c.must(http.StatusOK, "DELETE", "/ima/v1/configuration/AdminUser/second", nil)
	second.must(http.StatusUnauthorized, "GET", "/ima/v1/service/status", nil)
}

func TestAdminFailedLoginsAreRateLimited(t *testing.T) {
	ts := startTestServer(t)
	bad := ts.admin.as("admin", "guess")
	limited := false
	for i := 0; i < 20 && !limited; i++ {
		r := bad.do("GET", "/ima/v1/service/status", nil)
		switch r.Status {
		case http.StatusUnauthorized:
		case http.StatusTooManyRequests:
			limited = true
			if r.code() != string(admin.CodeTooManyAttempts) {
				t.Fatalf("429 code: %s", r.Raw)
			}
			if secs, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || secs < 1 {
				t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
			}
		default:
			t.Fatalf("attempt %d: status %d", i, r.Status)
		}
	}
	if !limited {
		t.Fatal("20 failed logins were never limited")
	}
	// While limited, even the right password waits: guessing gains nothing.
	if r := ts.admin.do("GET", "/ima/v1/service/status", nil); r.Status != http.StatusTooManyRequests {
		t.Fatalf("right password while limited: %d", r.Status)
	}
}
