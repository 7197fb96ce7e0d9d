package server

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzConfigurationPost posts arbitrary bodies to /ima/v1/configuration:
// the server must never panic, must answer every request with a JSON
// reply, and a refused request must leave the configuration exactly as it
// was (no partial change). The server runs in maintenance mode so that no
// fuzzed Endpoint ever opens a listener. When fuzzing, pass
// -fuzzminimizetime 3s: minimizing interesting inputs otherwise takes most
// of the time (the progress line then shows 0 execs/sec).
func FuzzConfigurationPost(f *testing.F) {
	for _, seed := range []string{
		`{"MessageHub":{"H":{"Description":"x"}}}`,
		`{"MessageHub":{"H":{}},"Endpoint":{"E":{"Port":70000,"MessageHub":"H","ConnectionPolicies":"DemoConnectionPolicy"}}}`,
		`{"ServerName":"n","LogLevel":"MAX","TraceLevel":"7,mqtt:9"}`,
		`{"TopicPolicy":{"T":{"Topic":"a/*","ClientID":"*","ActionList":["Publish","Bogus"]}}}`,
		`{"User":{"u":{"Password":null}}}`,
		`{"TrustedCertificate":[{"SecurityProfileName":"x","TrustedCertificate":"../etc"}]}`,
		`{"CertificateProfile":{"c":{"Certificate":"a","Key":"b"}}}`,
		`{"AdminUser":{"admin":{"Role":"User"}}}`,
		`{"ServerUID":"x"}`,
		`{"Queue":{"q":{"MaxMessages":1e99}}}`,
		`{"Group":{"g1":{"GroupMembership":"g2"},"g2":{"GroupMembership":"g1"}}}`,
		`{"Version":"v1","MessageHub":{"": {}}}`,
		`[]`, `null`, `{"a":`, `{"MessageHub":{"H":null}}`, `{"HighAvailability":{"EnableHA":true}}`,
	} {
		f.Add(seed)
	}
	ts := startTestServer(f, func(o *Options) {
		if err := os.WriteFile(filepath.Join(o.DataDir, maintenanceFile), []byte("fuzz\n"), 0o600); err != nil {
			f.Fatal(err)
		}
	})
	h := ts.s.Admin()
	f.Fuzz(func(t *testing.T, body string) {
		before := ts.s.Config().Current()
		req := httptest.NewRequest("POST", "/ima/v1/configuration", strings.NewReader(body))
		req.SetBasicAuth("admin", testAdminPassword)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !strings.HasPrefix(rec.Body.String(), "{") || !strings.Contains(rec.Body.String(), `"Code"`) {
			t.Fatalf("reply is not a coded JSON reply: %d %q", rec.Code, rec.Body.String())
		}
		after := ts.s.Config().Current()
		if rec.Code != http.StatusOK {
			if after != before {
				t.Fatalf("refused request (%d) changed the configuration: %s", rec.Code, rec.Body.String())
			}
			return
		}
		if err := after.Validate(); err != nil {
			t.Fatalf("accepted an invalid configuration: %v", err)
		}
		if after.Generation < before.Generation {
			t.Fatal("generation went back")
		}
		// Reset so that inputs stay independent.
		if after != before {
			if err := ts.s.Config().Replace(before); err != nil {
				t.Fatal(err)
			}
		}
	})
}
