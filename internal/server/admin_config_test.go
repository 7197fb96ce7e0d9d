package server

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/admin"
	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/testport"
)

// uploadCertificate uploads a fresh certificate and key as name.crt and
// name.key.
func uploadCertificate(t *testing.T, c *adminClient, name string) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	cf, kf, err := admin.EnsureSelfSigned(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{cf: name + ".crt", kf: name + ".key"} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		c.must(http.StatusOK, "PUT", "/ima/v1/file/"+dst, data)
	}
	return name + ".crt", name + ".key"
}

// crudCase creates, reads, updates and deletes one object of a type.
type crudCase struct {
	create map[string]any // properties at creation
	update map[string]any // a later change
	check  string         // property whose value the update sets
}

func TestAdminCRUDEveryObjectType(t *testing.T) {
	ts := startTestServer(t)
	c := ts.admin
	epPort := testport.Free(t)
	cert, key := uploadCertificate(t, c, "server")
	// Objects the named types below refer to.
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{
		"QueueManagerConnection": map[string]any{"QMC": map[string]any{
			"QueueManagerName": "QM1", "ConnectionName": "127.0.0.1(1414)", "ChannelName": "CH1"}},
	})

	named := map[string]crudCase{
		"MessageHub":       {create: map[string]any{"Description": "one"}, update: map[string]any{"Description": "two"}, check: "Description"},
		"ConnectionPolicy": {create: map[string]any{"ClientID": "dev*", "Protocol": "MQTT"}, update: map[string]any{"ClientID": "x*"}, check: "ClientID"},
		"TopicPolicy": {create: map[string]any{"Topic": "a/*", "ClientID": "*", "ActionList": "Publish,Subscribe"},
			update: map[string]any{"ActionList": []any{"Publish"}}, check: "ActionList"},
		"SubscriptionPolicy": {create: map[string]any{"Subscription": "s*", "ClientID": "*", "ActionList": "Receive,Control"},
			update: map[string]any{"ActionList": "Receive"}, check: "ActionList"},
		"QueuePolicy": {create: map[string]any{"Queue": "q*", "ClientID": "*", "ActionList": "Send,Receive,Browse"},
			update: map[string]any{"ActionList": "Send"}, check: "ActionList"},
		"Queue":           {create: map[string]any{"MaxMessages": 100}, update: map[string]any{"MaxMessages": 200}, check: "MaxMessages"},
		"User":            {create: map[string]any{"Password": "user-secret-1"}, update: map[string]any{"Description": "d"}, check: "Description"},
		"Group":           {create: map[string]any{"Description": "g1"}, update: map[string]any{"Description": "g2"}, check: "Description"},
		"AdminUser":       {create: map[string]any{"Password": "admin-secret-1", "Role": "User"}, update: map[string]any{"Role": "MessagingAdministrator"}, check: "Role"},
		"SecurityProfile": {create: map[string]any{"TLSEnabled": false}, update: map[string]any{"Description": "sp"}, check: "Description"},
		"CertificateProfile": {create: map[string]any{"Certificate": cert, "Key": key},
			update: map[string]any{"Description": "cp"}, check: "Description"},
		"QueueManagerConnection": {create: map[string]any{"QueueManagerName": "QM2", "ConnectionName": "127.0.0.1(1415)", "ChannelName": "CH2", "ChannelUserPassword": "mq-secret"},
			update: map[string]any{"ChannelName": "CH3"}, check: "ChannelName"},
		"DestinationMappingRule": {create: map[string]any{"QueueManagerConnection": "QMC", "RuleType": 1, "Source": "a", "Destination": "b"},
			update: map[string]any{"Destination": "c"}, check: "Destination"},
		"Endpoint": {create: map[string]any{"Port": epPort, "Interface": "127.0.0.1", "MessageHub": "DemoHub",
			"ConnectionPolicies": "DemoConnectionPolicy", "TopicPolicies": "DemoTopicPolicy"},
			update: map[string]any{"MaxMessageSize": "2MB"}, check: "MaxMessageSize"},
	}
	singletons := map[string]any{
		"ServerName":       "renamed",
		"LogLevel":         "MAX",
		"TraceLevel":       "7",
		"AdminEndpoint":    map[string]any{"Port": testport.Free(t)},
		"HighAvailability": map[string]any{"Group": "pair1"},
	}

	for _, typ := range config.Types() {
		t.Run(typ.Name, func(t *testing.T) {
			switch {
			case typ.Name == "ServerUID":
				r := c.must(http.StatusBadRequest, "POST", "/ima/v1/configuration", map[string]any{"ServerUID": "other"})
				if r.code() != string(admin.CodeUnknownProperty) {
					t.Fatalf("ServerUID change: %s", r.Raw)
				}
				r = c.must(http.StatusForbidden, "DELETE", "/ima/v1/configuration/ServerUID", nil)
				if r.code() != string(admin.CodeSingletonDelete) {
					t.Fatalf("ServerUID delete: %s", r.Raw)
				}
			case typ.Singleton:
				v, ok := singletons[typ.Name]
				if !ok {
					t.Fatalf("no test value for singleton %s", typ.Name)
				}
				c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{typ.Name: v})
				got := c.must(http.StatusOK, "GET", "/ima/v1/configuration/"+typ.Name, nil).Body[typ.Name]
				if m, isObj := v.(map[string]any); isObj {
					for k, want := range m {
						if g := got.(map[string]any)[k]; g != want && g != float64(want.(int)) {
							t.Fatalf("%s.%s = %v, want %v", typ.Name, k, g, want)
						}
					}
				} else if got != v {
					t.Fatalf("%s = %v, want %v", typ.Name, got, v)
				}
				r := c.must(http.StatusForbidden, "DELETE", "/ima/v1/configuration/"+typ.Name, nil)
				if r.code() != string(admin.CodeSingletonDelete) {
					t.Fatalf("delete singleton: %s", r.Raw)
				}
			case typ.List:
				entry := map[string]any{"SecurityProfileName": "SPT", "TrustedCertificate": cert}
				c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{
					"SecurityProfile": map[string]any{"SPT": map[string]any{"TLSEnabled": false}}})
				// The certificate file is in the store already (the
				// CertificateProfile case may have moved it); upload a copy
				// under another name to prove the move.
				data, err := os.ReadFile(filepath.Join(ts.s.Config().CertificateDir(), cert))
				if err != nil {
					data = []byte("not needed")
				}
				c.must(http.StatusOK, "PUT", "/ima/v1/file/ca.crt", data)
				entry["TrustedCertificate"] = "ca.crt"
				c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{"TrustedCertificate": []any{entry}})
				if _, err := os.Stat(filepath.Join(ts.s.Config().CertificateDir(), "ca.crt")); err != nil {
					t.Fatalf("trusted certificate not moved into the store: %v", err)
				}
				got := c.must(http.StatusOK, "GET", "/ima/v1/configuration/TrustedCertificate/SPT/ca.crt", nil)
				list := got.Body["TrustedCertificate"].([]any)
				if len(list) != 1 || list[0].(map[string]any)["SecurityProfileName"] != "SPT" {
					t.Fatalf("GET trusted certificate: %s", got.Raw)
				}
				c.must(http.StatusOK, "DELETE", "/ima/v1/configuration/TrustedCertificate/SPT/ca.crt", nil)
				c.must(http.StatusNotFound, "GET", "/ima/v1/configuration/TrustedCertificate/SPT/ca.crt", nil)
			default:
				tc, ok := named[typ.Name]
				if !ok {
					t.Fatalf("no CRUD case for %s", typ.Name)
				}
				name := "T" + typ.Name
				path := "/ima/v1/configuration/" + typ.Name + "/" + name
				c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{typ.Name: map[string]any{name: tc.create}})
				got := c.must(http.StatusOK, "GET", path, nil)
				props := got.Body[typ.Name].(map[string]any)[name].(map[string]any)
				for _, secret := range []string{"Password", "ChannelUserPassword"} {
					if _, leaked := props[secret]; leaked {
						t.Fatalf("GET returned %s: %s", secret, got.Raw)
					}
				}
				if strings.Contains(string(got.Raw), "secret") {
					t.Fatalf("GET leaks a secret: %s", got.Raw)
				}
				c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{typ.Name: map[string]any{name: tc.update}})
				got = c.must(http.StatusOK, "GET", path, nil)
				props = got.Body[typ.Name].(map[string]any)[name].(map[string]any)
				want := tc.update[tc.check]
				switch w := want.(type) {
				case []any:
					want = w[0]
				case int:
					want = float64(w)
				case string:
					if w == "2MB" {
						want = "2048KB"
					}
				}
				if props[tc.check] != want {
					t.Fatalf("after update %s = %v, want %v", tc.check, props[tc.check], want)
				}
				// The type listing holds it too.
				all := c.must(http.StatusOK, "GET", "/ima/v1/configuration/"+typ.Name, nil)
				if _, ok := all.Body[typ.Name].(map[string]any)[name]; !ok {
					t.Fatalf("type listing lacks %s: %s", name, all.Raw)
				}
				c.must(http.StatusOK, "DELETE", path, nil)
				r := c.must(http.StatusNotFound, "GET", path, nil)
				if r.code() != string(admin.CodeNotFound) {
					t.Fatalf("GET after delete: %s", r.Raw)
				}
				r = c.must(http.StatusNotFound, "DELETE", path, nil)
				if r.code() != string(admin.CodeDeleteNotFound) {
					t.Fatalf("second delete: %s", r.Raw)
				}
			}
		})
	}
	// The certificate profile's files moved from the uploads into the
	// certificate store.
	for _, f := range []string{cert, key} {
		if _, err := os.Stat(filepath.Join(ts.s.Config().CertificateDir(), f)); err != nil {
			t.Fatalf("%s not in the certificate store: %v", f, err)
		}
		if _, err := os.Stat(filepath.Join(ts.dir, "userfiles", f)); err == nil {
			t.Fatalf("%s still among the uploads", f)
		}
	}
}

func TestAdminAtomicMultiObjectPost(t *testing.T) {
	ts := startTestServer(t)
	c := ts.admin
	before := ts.s.Config().Current()
	r := c.must(http.StatusBadRequest, "POST", "/ima/v1/configuration", map[string]any{
		"MessageHub": map[string]any{"NewHub": map[string]any{"Description": "ok"}},
		"ServerName": "changed",
		"Endpoint": map[string]any{"BadEndpoint": map[string]any{"Port": 70000, "MessageHub": "NewHub",
			"ConnectionPolicies": "DemoConnectionPolicy"}},
	})
	if r.code() != string(admin.CodeBadValue) || !strings.Contains(r.Body["Message"].(string), "70000") {
		t.Fatalf("reply %s", r.Raw)
	}
	if after := ts.s.Config().Current(); after != before {
		t.Fatalf("configuration changed: generation %d → %d", before.Generation, after.Generation)
	}
	c.must(http.StatusNotFound, "GET", "/ima/v1/configuration/MessageHub/NewHub", nil)
	if got := c.must(http.StatusOK, "GET", "/ima/v1/configuration/ServerName", nil).Body["ServerName"]; got != "mqsight" {
		t.Fatalf("ServerName %v", got)
	}
	// A reference to an object created in the same POST is fine.
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{
		"MessageHub": map[string]any{"NewHub": map[string]any{}},
		"Endpoint": map[string]any{"E2": map[string]any{"Port": testport.Free(t), "Interface": "127.0.0.1", "MessageHub": "NewHub",
			"ConnectionPolicies": "DemoConnectionPolicy"}},
	})
}

func TestAdminRequestValidation(t *testing.T) {
	ts := startTestServer(t)
	c := ts.admin
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		code   admin.Code
	}{
		{"not JSON", "POST", "/ima/v1/configuration", "{", 400, admin.CodeNotJSONObject},
		{"array body", "POST", "/ima/v1/configuration", "[1]", 400, admin.CodeNotJSONObject},
		{"trailing data", "POST", "/ima/v1/configuration", `{"ServerName":"a"} {}`, 400, admin.CodeNotJSONObject},
		{"empty object", "POST", "/ima/v1/configuration", `{}`, 400, admin.CodeBadRequest},
		// An empty body is not one JSON object, whatever the route (docs/admin-api.md).
		{"empty body", "POST", "/ima/v1/configuration", "", 400, admin.CodeNotJSONObject},
		{"empty backup body", "POST", "/ima/v1/service/backup", "", 400, admin.CodeNotJSONObject},
		{"empty restart body", "POST", "/ima/v1/service/restart", "", 400, admin.CodeNotJSONObject},
		{"restart without Service", "POST", "/ima/v1/service/restart", `{"CleanStore":true}`, 400, admin.CodeBadRequest},
		{"restart lowercase Service", "POST", "/ima/v1/service/restart", `{"Service":"server"}`, 400, admin.CodeBadValue},
		{"unknown type", "POST", "/ima/v1/configuration", `{"Bogus":{}}`, 400, admin.CodeUnknownProperty},
		{"unknown property", "POST", "/ima/v1/configuration", `{"MessageHub":{"H":{"Colour":"red"}}}`, 400, admin.CodeUnknownProperty},
		{"missing required", "POST", "/ima/v1/configuration", `{"User":{"u1":{}}}`, 400, admin.CodeRequired},
		{"wrong type", "POST", "/ima/v1/configuration", `{"Queue":{"q":{"MaxMessages":"many"}}}`, 400, admin.CodeBadValue},
		{"bad reference", "POST", "/ima/v1/configuration", `{"Endpoint":{"e":{"Port":1999,"MessageHub":"Nope","ConnectionPolicies":"DemoConnectionPolicy"}}}`, 400, admin.CodeBadValue},
		{"too large", "POST", "/ima/v1/configuration", `{"ServerName":"` + strings.Repeat("a", 2<<20) + `"}`, 413, admin.CodeTooLarge},
		{"in use", "DELETE", "/ima/v1/configuration/MessageHub/DemoHub", nil, 409, admin.CodeInUse},
		{"unknown path", "GET", "/ima/v1/nothing", nil, 400, admin.CodeBadRequest},
		{"wrong method", "PUT", "/ima/v1/configuration", nil, 400, admin.CodeBadRequest},
		{"unknown type GET", "GET", "/ima/v1/configuration/Bogus", nil, 404, admin.CodeNotFound},
		{"last admin", "DELETE", "/ima/v1/configuration/AdminUser/admin", nil, 403, admin.CodeLastAdmin},
		{"demote last admin", "POST", "/ima/v1/configuration", `{"AdminUser":{"admin":{"Role":"User"}}}`, 403, admin.CodeLastAdmin},
		{"duplicate name", "POST", "/ima/v1/configuration", `{"MessageHub":{"D1":{}},"MessageHub":{"D2":{}}}`, 400, admin.CodeNotJSONObject},
		{"missing certificate file", "POST", "/ima/v1/configuration", `{"CertificateProfile":{"cp":{"Certificate":"none.crt","Key":"none.key"}}}`, 400, admin.CodeFileMissing},
		{"file name dot-dot", "PUT", "/ima/v1/file/%2E%2E", "x", 400, admin.CodeFileName},
		{"file name with slash", "PUT", "/ima/v1/file/a%2Fb", "x", 400, admin.CodeFileName},
		{"file name with control character", "PUT", "/ima/v1/file/a%01b", "x", 400, admin.CodeFileName},
		{"file name too long", "PUT", "/ima/v1/file/" + strings.Repeat("f", 256), "x", 400, admin.CodeFileName},
		{"missing file", "GET", "/ima/v1/service/file/absent", nil, 404, admin.CodeNotFound},
		{"unknown job", "GET", "/ima/v1/service/status/restart/nope", nil, 404, admin.CodeJobNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := ts.s.Config().Current()
			r := c.do(tc.method, tc.path, tc.body)
			if r.Status != tc.status || r.code() != string(tc.code) || r.Body["Version"] != "v1" || r.Body["Message"] == "" {
				t.Fatalf("status %d code %q, want %d %q: %s", r.Status, r.code(), tc.status, tc.code, r.Raw)
			}
			if ts.s.Config().Current() != before {
				t.Fatal("a refused request changed the configuration")
			}
		})
	}
}

func TestAdminFiles(t *testing.T) {
	ts := startTestServer(t)
	c := ts.admin
	c.must(http.StatusOK, "PUT", "/ima/v1/file/notes.txt", "first")
	c.must(http.StatusOK, "PUT", "/ima/v1/file/notes.txt", "second")
	if r := c.must(http.StatusOK, "GET", "/ima/v1/service/file/notes.txt", nil); string(r.Raw) != "second" {
		t.Fatalf("download %q", r.Raw)
	}
	list := c.must(http.StatusOK, "GET", "/ima/v1/service/fileList", nil).Body["Files"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["Name"] != "notes.txt" || list[0].(map[string]any)["Size"] != float64(6) {
		t.Fatalf("file list %v", list)
	}
	// Create-only: a taken name is refused and its file left as it is.
	createOnly := http.Header{"If-None-Match": {"*"}}
	if r := c.doHeader("PUT", "/ima/v1/file/notes.txt", createOnly, "third"); r.Status != http.StatusPreconditionFailed || r.code() != "CWLNA9107" {
		t.Fatalf("create-only PUT of a taken name: %d %s", r.Status, r.Raw)
	}
	if r := c.must(http.StatusOK, "GET", "/ima/v1/service/file/notes.txt", nil); string(r.Raw) != "second" {
		t.Fatalf("after a refused create-only PUT: %q", r.Raw)
	}
	if r := c.doHeader("PUT", "/ima/v1/file/fresh.txt", createOnly, "new"); r.Status != http.StatusOK {
		t.Fatalf("create-only PUT of a free name: %d %s", r.Status, r.Raw)
	}
	if r := c.doHeader("PUT", "/ima/v1/file/other.txt", http.Header{"If-None-Match": {`"abc"`}}, "x"); r.Status != http.StatusBadRequest {
		t.Fatalf("If-None-Match with an entity tag: %d %s", r.Status, r.Raw)
	}
	c.must(http.StatusOK, "DELETE", "/ima/v1/service/file/fresh.txt", nil)
	entries, _ := os.ReadDir(filepath.Join(ts.dir, "userfiles"))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	c.must(http.StatusOK, "DELETE", "/ima/v1/service/file/notes.txt", nil)
	c.must(http.StatusNotFound, "DELETE", "/ima/v1/service/file/notes.txt", nil)
	if n := len(c.must(http.StatusOK, "GET", "/ima/v1/service/fileList", nil).Body["Files"].([]any)); n != 0 {
		t.Fatalf("%d files after delete", n)
	}
	_ = strconv.Itoa
}

// TestAdminPortConflictNamesTheChangedObject: moving the AdminEndpoint onto
// an endpoint's port is refused with an error about the AdminEndpoint,
// the object the POST changed, not about the endpoint that had the port.
func TestAdminPortConflictNamesTheChangedObject(t *testing.T) {
	ts := startTestServer(t)
	_, port, _ := net.SplitHostPort(ts.mqttAddr)
	r := ts.admin.must(http.StatusBadRequest, "POST", "/ima/v1/configuration", `{"AdminEndpoint":{"Port":`+port+`}}`)
	msg, _ := r.Body["Message"].(string)
	if r.code() != string(admin.CodeBadValue) || !strings.Contains(msg, "AdminEndpoint: Port "+port+" is already used by Endpoint ") {
		t.Fatalf("reply %s", r.Raw)
	}
}
