package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeConfigServer answers GET /ima/v1/configuration/ServerUID with uid
// and records the POSTed bodies, refusing ServerUID as the server does.
type fakeConfigServer struct {
	*httptest.Server
	fingerprint string

	mu    sync.Mutex
	gets  []string
	posts []string
}

func newFakeConfigServer(t *testing.T, uid string) *fakeConfigServer {
	s := &fakeConfigServer{}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		switch {
		case r.Method == "GET" && r.URL.Path == "/ima/v1/configuration/ServerUID":
			s.gets = append(s.gets, r.URL.Path)
			w.Write([]byte(`{"Version":"v1","ServerUID":"` + uid + `"}`))
		case r.Method == "POST" && r.URL.Path == "/ima/v1/configuration":
			body, _ := io.ReadAll(r.Body)
			s.posts = append(s.posts, string(body))
			if strings.Contains(string(body), "ServerUID") {
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(`{"Version":"v1","Code":"CWLNA0111","Message":"The property name is not valid: ServerUID: ServerUID is read-only."}`))
				return
			}
			w.Write([]byte(`{"Version":"v1","Code":"CWLNA6011","Message":"The requested configuration change has completed successfully."}`))
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(s.Close)
	sum := sha256.Sum256(s.Certificate().Raw)
	s.fingerprint = hex.EncodeToString(sum[:])
	return s
}

// `mqsight config get > c.json; mqsight config set -f c.json` works: the
// unchanged read-only ServerUID is left out of the POST, everything else
// is posted as written; a ServerUID that differs is refused before any
// POST, naming both values.
func TestConfigSetTakesConfigGetOutput(t *testing.T) {
	const got = `{
  "AdminEndpoint": {"Interface": "127.0.0.1", "Port": 9089, "SecurityProfile": ""},
  "Endpoint": {"DemoEndpoint": {"Port": 1883, "MaxMessageSize": "1024KB", "Enabled": true}},
  "LogLevel": "NORMAL",
  "ServerName": "mqsight",
  "ServerUID": "300daac38337ed40",
  "TrustedCertificate": [],
  "Version": "v1"
}`
	for _, tc := range []struct {
		name, file, serverUID string
		wantErr               []string
		wantGets              int
		wantPost              string // "" for none; else the JSON posted, compared as values
		exact                 bool   // wantPost is the posted text
	}{
		{"config get output", got, "300daac38337ed40", nil, 1,
			strings.Replace(got, `"ServerUID": "300daac38337ed40",`, "", 1), false},
		{"no read-only property is posted as it is", `{"MessageHub": {"H": {"Description": "<x>", "N": 1.50}}}`, "300daac38337ed40", nil, 0,
			`{"MessageHub": {"H": {"Description": "<x>", "N": 1.50}}}`, true},
		{"another server's UID", got, "0123456789abcdef",
			[]string{`ServerUID is read-only: the file sets "300daac38337ed40", the server has "0123456789abcdef"`, "leave it out of the file"}, 1, "", false},
		{"not JSON is the server's to refuse", `{"ServerUID":`, "300daac38337ed40", []string{"CWLNA0111"}, 0, `{"ServerUID":`, true},
		{"a name twice is the server's to refuse", `{"ServerUID": "300daac38337ed40", "MessageHub": {"A": {}}, "MessageHub": {"B": {}}}`, "300daac38337ed40", []string{"CWLNA0111"}, 0,
			`{"ServerUID": "300daac38337ed40", "MessageHub": {"A": {}}, "MessageHub": {"B": {}}}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeConfigServer(t, tc.serverUID)
			file := writeFile(t, "c.json", tc.file)
			_, _, err := runCLI(t, "config", "set", "-f", file, "--server", srv.URL, "--fingerprint", srv.fingerprint, "--password", "pw")
			if len(tc.wantErr) == 0 && err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("err %v, want %q", err, w)
				}
			}
			srv.mu.Lock()
			gets, posts := len(srv.gets), srv.posts
			srv.mu.Unlock()
			if gets != tc.wantGets {
				t.Errorf("%d GETs of the current ServerUID, want %d", gets, tc.wantGets)
			}
			switch {
			case tc.wantPost == "" && len(posts) != 0:
				t.Fatalf("posted %s", posts)
			case tc.wantPost == "":
			case len(posts) != 1:
				t.Fatalf("%d POSTs, want 1", len(posts))
			case tc.exact && posts[0] != tc.wantPost, !tc.exact && !sameJSON(posts[0], tc.wantPost):
				t.Fatalf("posted\n%s\nwant\n%s", posts[0], tc.wantPost)
			}
		})
	}
}

// sameJSON reports whether a and b are the same JSON value, or the same
// text when either is no JSON.
func sameJSON(a, b string) bool {
	var va, vb any
	if json.Unmarshal([]byte(a), &va) != nil || json.Unmarshal([]byte(b), &vb) != nil {
		return a == b
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return string(ja) == string(jb)
}
