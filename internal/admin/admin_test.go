package admin

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/job"
)

const testPassword = "unit-test-password"

// fakeService is a Service with a real configuration manager and no
// running components (Acquire always reports a restart).
type fakeService struct {
	m    *config.Manager
	jobs *job.Registry
}

func (f *fakeService) Config() *config.Manager { return f.m }
func (f *fakeService) Acquire() (Components, func(), error) {
	return Components{}, nil, ErrNotRunning
}
func (f *fakeService) Status() ServerStatus {
	return ServerStatus{Name: "mqsight", Status: "Stopping", State: 2, StateDescription: "Stopping for restart"}
}
func (f *fakeService) Restart(req RestartRequest) (job.Status, error) {
	return f.jobs.Start("restart", func(ctx context.Context, p *job.Progress) (map[string]any, error) {
		p.SetStep("done")
		return map[string]any{"CleanStore": req.CleanStore}, nil
	})
}
func (f *fakeService) QueueMessages(Components, string) (int, error) { return 0, nil }
func (f *fakeService) DiscardQueue(Components, string) error         { return nil }

// newTestAPI returns an API on a fake service whose configuration has the
// admin user "admin" (SystemAdministrator).
func newTestAPI(t *testing.T) (*API, *fakeService) {
	t.Helper()
	dir := t.TempDir()
	m, _, err := config.Open(filepath.Join(dir, "config"), func() (*config.Config, error) {
		c := config.Default()
		u, err := config.NewAdminUser("admin", testPassword, RoleSystemAdministrator)
		if err != nil {
			return nil, err
		}
		c.AdminUsers["admin"] = u
		return c, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	jobs := job.NewRegistry(job.Options{})
	t.Cleanup(jobs.Close)
	svc := &fakeService{m: m, jobs: jobs}
	a, err := New(Options{Service: svc, Jobs: jobs, UserFilesDir: filepath.Join(dir, "userfiles")})
	if err != nil {
		t.Fatal(err)
	}
	return a, svc
}

// call serves one request as admin and decodes a JSON reply.
func call(t *testing.T, h http.Handler, method, path, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	req.SetBasicAuth("admin", testPassword)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

func TestUnavailableWhileRestarting(t *testing.T) {
	a, _ := newTestAPI(t)
	for _, p := range []string{"/ima/v1/monitor/Server", "/ima/v1/monitor/Store"} {
		status, body := call(t, a, "GET", p, "")
		if status != http.StatusServiceUnavailable || body["Code"] != string(CodeUnavailable) ||
			!strings.Contains(body["Message"].(string), "Stopping for restart") {
			t.Fatalf("%s: %d %v", p, status, body)
		}
	}
	status, body := call(t, a, "POST", "/ima/v1/configuration", `{"MessageHub":{"H":{}}}`)
	if status != http.StatusServiceUnavailable {
		t.Fatalf("POST while restarting: %d %v", status, body)
	}
	// Reading the configuration and the status does not need the components.
	if status, _ := call(t, a, "GET", "/ima/v1/configuration/MessageHub", ""); status != 200 {
		t.Fatalf("GET configuration while restarting: %d", status)
	}
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.SetBasicAuth("admin", testPassword)
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	if !strings.Contains(rec.Body.String(), "mqsight_up 0") {
		t.Fatalf("metrics while restarting:\n%s", rec.Body.String())
	}
}

func TestJobStatusRoute(t *testing.T) {
	a, svc := newTestAPI(t)
	status, body := call(t, a, "POST", "/ima/v1/service/restart", `{"Service":"Server","Reset":"config"}`)
	if status != 200 || body["Code"] != string(CodeOK) {
		t.Fatalf("restart: %d %v", status, body)
	}
	id := body["RequestID"].(string)
	if _, err := svc.jobs.Wait(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	status, body = call(t, a, "GET", "/ima/v1/service/status/restart/"+id, "")
	if status != 200 || body["Status"] != "succeeded" || body["Operation"] != "restart" ||
		body["Result"].(map[string]any)["CleanStore"] != true || body["Step"] != "done" {
		t.Fatalf("job status: %d %v", status, body)
	}
	// The op in the path must match the job's.
	if status, body = call(t, a, "GET", "/ima/v1/service/status/backup/"+id, ""); status != 404 || body["Code"] != string(CodeJobNotFound) {
		t.Fatalf("wrong op: %d %v", status, body)
	}
}

func TestUploadLimitKeepsOldFileAndLeavesNoTemporary(t *testing.T) {
	a, _ := newTestAPI(t)
	a.opts.MaxFileBytes = 10
	if status, _ := call(t, a, "PUT", "/ima/v1/file/f.bin", "small"); status != 200 {
		t.Fatalf("small upload: %d", status)
	}
	status, body := call(t, a, "PUT", "/ima/v1/file/f.bin", strings.Repeat("x", 100))
	if status != http.StatusRequestEntityTooLarge || body["Code"] != string(CodeTooLarge) {
		t.Fatalf("large upload: %d %v", status, body)
	}
	entries, err := os.ReadDir(a.opts.UserFilesDir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("user files %v %v", entries, err)
	}
	req := httptest.NewRequest("GET", "/ima/v1/service/file/f.bin", nil)
	req.SetBasicAuth("admin", testPassword)
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	if rec.Body.String() != "small" {
		t.Fatalf("old file replaced: %q", rec.Body.String())
	}
}

func TestGetWholeConfigurationHasEveryTypeAndNoSecret(t *testing.T) {
	a, svc := newTestAPI(t)
	if _, err := svc.m.Update(func(c *config.Config) error {
		return config.SetProperties(c, "QueueManagerConnection", "QM", map[string]any{
			"QueueManagerName": "QM1", "ConnectionName": "h(1414)", "ChannelName": "CH", "ChannelUserPassword": "chan-secret"})
	}); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/ima/v1/configuration", nil)
	req.SetBasicAuth("admin", testPassword)
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	for _, typ := range config.Types() {
		if _, ok := body[typ.Name]; !ok {
			t.Errorf("GET /ima/v1/configuration lacks %s", typ.Name)
		}
	}
	for _, s := range []string{"chan-secret", "Password", "argon2"} {
		if strings.Contains(rec.Body.String(), s) {
			t.Errorf("GET /ima/v1/configuration contains %q", s)
		}
	}
	if body["ServerName"] != "mqsight" || body["Version"] != "v1" {
		t.Errorf("scalar singletons: %v %v", body["ServerName"], body["Version"])
	}
}

// TestServiceStatusByName: Amlen's GET /ima/v1/service/status/<Service>
// returns that part of the whole status; the job routes beside it keep
// working.
func TestServiceStatusByName(t *testing.T) {
	a, svc := newTestAPI(t)
	_, all := call(t, a, "GET", "/ima/v1/service/status", "")
	for _, name := range []string{"Server", "HighAvailability"} {
		status, body := call(t, a, "GET", "/ima/v1/service/status/"+name, "")
		if status != http.StatusOK || body["Version"] != "v1" || len(body) != 2 {
			t.Fatalf("%s: %d %v", name, status, body)
		}
		part, _ := json.Marshal(body[name])
		whole, _ := json.Marshal(all[name])
		if name == "Server" { // ServerTime may tick between the calls
			delete(body[name].(map[string]any), "ServerTime")
			delete(all[name].(map[string]any), "ServerTime")
			part, _ = json.Marshal(body[name])
			whole, _ = json.Marshal(all[name])
		}
		if string(part) != string(whole) {
			t.Errorf("%s: %s, whole status has %s", name, part, whole)
		}
	}
	ha := all["HighAvailability"].(map[string]any)
	if ha["Status"] != "Inactive" || ha["Enabled"] != false || ha["NewRole"] != "HADISABLED" {
		t.Errorf("HighAvailability %v", ha)
	}
	for _, name := range []string{"server", "Cluster", "MQConnectivity", "restart"} {
		status, body := call(t, a, "GET", "/ima/v1/service/status/"+name, "")
		if status != http.StatusNotFound || body["Code"] != string(CodeNotFound) ||
			!strings.Contains(body["Message"].(string), "Name: "+name) {
			t.Errorf("%s: %d %v", name, status, body)
		}
	}
	// status/{op}/{RequestID} is still the job route.
	st, err := svc.Restart(RestartRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if status, body := call(t, a, "GET", "/ima/v1/service/status/restart/"+st.RequestID, ""); status != 200 || body["Operation"] != "restart" {
		t.Fatalf("job route: %d %v", status, body)
	}
	if status, body := call(t, a, "GET", "/ima/v1/service/status/backup/none", ""); status != 404 || body["Code"] != string(CodeJobNotFound) {
		t.Fatalf("unknown job: %d %v", status, body)
	}
}

// TestUnavailableError: a server on its way (stopping, starting) asks to
// retry in a few seconds; one that failed to start says so and needs a
// restart, so it carries no Retry-After.
func TestUnavailableError(t *testing.T) {
	tests := []struct {
		st         ServerStatus
		msg        string
		retryAfter string
	}{
		{ServerStatus{Status: "Stopping", State: 2, StateDescription: "Stopping for restart"}, "The server is Stopping for restart;", "5"},
		{ServerStatus{Status: "Starting", State: 0, StateDescription: "Opening store"}, "The server is Opening store;", "5"},
		{ServerStatus{Status: "Running", State: 9, StateDescription: "Running (maintenance)", ErrorCode: 1, ErrorMessage: "open store: disk full"},
			"in maintenance after a failed restart (ErrorCode 1;", ""},
	}
	for _, tc := range tests {
		e := unavailableError(tc.st)
		asksRetry := strings.Contains(e.Error(), "retry when it is running")
		if e.Code != CodeUnavailable || e.Status() != http.StatusServiceUnavailable || !strings.Contains(e.Error(), tc.msg) ||
			e.Header.Get("Retry-After") != tc.retryAfter || strings.Contains(e.Error(), "restarting") || asksRetry != (tc.retryAfter != "") {
			t.Errorf("%+v: %q Retry-After %q", tc.st, e.Error(), e.Header.Get("Retry-After"))
		}
	}
	// Through the API: the header reaches the client.
	a, _ := newTestAPI(t)
	req := httptest.NewRequest("GET", "/ima/v1/monitor/Server", nil)
	req.SetBasicAuth("admin", testPassword)
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "5" {
		t.Fatalf("503 %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
}
