package server

import (
	"net/http"
	"testing"
)

func TestAdminStatusOverHTTPS(t *testing.T) {
	ts := startTestServer(t)
	r := ts.admin.must(http.StatusOK, "GET", "/ima/v1/service/status", nil)
	srv := r.Body["Server"].(map[string]any)
	if srv["Status"] != "Running" || srv["State"] != float64(1) || srv["UID"] == "" || srv["Name"] != "mqsight" {
		t.Fatalf("status %s", r.Raw)
	}
	ha := r.Body["HighAvailability"].(map[string]any)
	if ha["Enabled"] != false || ha["NewRole"] != "HADISABLED" {
		t.Fatalf("HA %s", r.Raw)
	}
}
