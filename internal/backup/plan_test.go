package backup

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mqsight/mqsight/internal/config"
)

// The documents under testdata/plan are real server.json files (written by
// TestPlanTestdata with MQSIGHT_UPDATE_TESTDATA=1):
//
//	target.json  the server being restored: its own name, UID, log level,
//	             admin user, an AdminEndpoint on a TLS SecurityProfile
//	             (AdminSP → AdminCP, a trusted CA), DemoEndpoint bound to
//	             127.0.0.2
//	source.json  another server's configuration: DemoEndpoint on
//	             10.0.0.1, a new endpoint Edge, Hub2, user alice, no AdminSP
//	clash.json   a source whose endpoint Clash listens on 9089 on all
//	             interfaces (its own admin endpoint is on 9090)
//	shared.json  a source with its own AdminSP (another CertificateProfile)

func loadDoc(t *testing.T, name string) *config.Config {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "plan", name))
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return c
}

// TestPlanTestdata regenerates the plan documents when asked and checks
// that the files are what the generator makes (so they stay real).
func TestPlanTestdata(t *testing.T) {
	docs := planDocs(t)
	for name, c := range docs {
		b, err := config.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join("testdata", "plan", name)
		if os.Getenv("MQSIGHT_UPDATE_TESTDATA") == "1" {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(b) {
			t.Errorf("%s is stale; run with MQSIGHT_UPDATE_TESTDATA=1", p)
		}
	}
}

// planDocs builds the testdata documents through the admin API's
// functions. Password hashes are fixed so the files are stable.
func planDocs(t *testing.T) map[string]*config.Config {
	t.Helper()
	set := func(c *config.Config, typ, name string, props map[string]any) {
		t.Helper()
		if err := config.SetProperties(c, typ, name, props); err != nil {
			t.Fatalf("%s %s: %v", typ, name, err)
		}
	}
	const hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$8F4YV0k3q9Z3Qm2n0G2Hf0tA8Yb6Lr1xS3t4u5v6w7A"
	target := config.Default()
	target.Generation, target.ServerName, target.ServerUID, target.LogLevel = 7, "target", "7a7a7a7a7a7a7a7a", "MAX"
	target.AdminUsers["opsadmin"] = &config.AdminUser{Name: "opsadmin", Password: hash, Role: "SystemAdministrator"}
	set(target, "CertificateProfile", "AdminCP", map[string]any{"Certificate": "admin.pem", "Key": "admin.key"})
	set(target, "SecurityProfile", "AdminSP", map[string]any{"TLSEnabled": true, "CertificateProfile": "AdminCP"})
	target.TrustedCertificates = []config.TrustedCertificate{{SecurityProfileName: "AdminSP", TrustedCertificate: "adminca.pem"}}
	target.AdminEndpoint.SecurityProfile = "AdminSP"
	target.Endpoints["DemoEndpoint"].Interface = "127.0.0.2"

	source := config.Default()
	source.Generation, source.ServerName, source.ServerUID = 12, "source", "5050505050505050"
	source.Endpoints["DemoEndpoint"].Interface = "10.0.0.1"
	set(source, "MessageHub", "Hub2", map[string]any{"Description": "second"})
	set(source, "Endpoint", "Edge", map[string]any{"Port": 1884, "Interface": "10.0.0.1", "MessageHub": "Hub2", "ConnectionPolicies": "DemoConnectionPolicy"})
	source.Users["alice"] = &config.User{Name: "alice", Password: hash}
	set(source, "CertificateProfile", "EdgeCP", map[string]any{"Certificate": "edge.pem", "Key": "edge.key"})

	clash := source.Clone()
	clash.Generation = 3
	clash.AdminEndpoint.Port = 9090
	set(clash, "Endpoint", "Clash", map[string]any{"Port": 9089, "MessageHub": "DemoHub", "ConnectionPolicies": "DemoConnectionPolicy"})

	shared := source.Clone()
	set(shared, "CertificateProfile", "SrcCP", map[string]any{"Certificate": "src.pem", "Key": "src.key"})
	set(shared, "SecurityProfile", "AdminSP", map[string]any{"TLSEnabled": true, "CertificateProfile": "SrcCP"})
	return map[string]*config.Config{"target.json": target, "source.json": source, "clash.json": clash, "shared.json": shared}
}

func TestPlanRestore(t *testing.T) {
	targetCerts := []string{"admin.key", "admin.pem", "adminca.pem", "old.pem"}
	cases := []struct {
		name        string
		backup      string
		include     bool
		backupCerts []string
		store       *StoreInfo
		wantErr     error
		check       func(t *testing.T, p *Plan, cur, bak *config.Config)
	}{
		{
			name: "same environment takes everything from the backup", backup: "source.json", include: true,
			backupCerts: []string{"edge.key", "edge.pem"},
			check: func(t *testing.T, p *Plan, cur, bak *config.Config) {
				want := bak.Clone()
				want.Generation = 13
				if mustMarshal(t, p.Config) != mustMarshal(t, want) {
					t.Fatal("result is not the backup's document")
				}
				wantChanges(t, p, "ServerName", ObjectChanges{Changed: []string{""}})
				wantChanges(t, p, "ServerUID", ObjectChanges{Changed: []string{""}})
				wantChanges(t, p, "AdminUser", ObjectChanges{Removed: []string{"opsadmin"}})
				wantChanges(t, p, "Endpoint", ObjectChanges{Added: []string{"Edge"}, Changed: []string{"DemoEndpoint"}})
				wantChanges(t, p, "SecurityProfile", ObjectChanges{Removed: []string{"AdminSP"}})
				wantCerts(t, p, "edge.key:backup", "edge.pem:backup")
				if len(p.Kept) != 0 {
					t.Fatalf("kept %v in the same-environment mode", p.Kept)
				}
			},
		},
		{
			name: "copy keeps the target's server configuration", backup: "source.json",
			backupCerts: []string{"edge.key", "edge.pem"},
			check: func(t *testing.T, p *Plan, cur, bak *config.Config) {
				c := p.Config
				if c.ServerName != "target" || c.ServerUID != cur.ServerUID || c.LogLevel != "MAX" ||
					c.AdminUsers["opsadmin"] == nil || c.AdminEndpoint != cur.AdminEndpoint || c.HighAvailability != cur.HighAvailability {
					t.Fatal("server configuration not kept")
				}
				if c.Users["alice"] == nil || c.MessageHubs["Hub2"] == nil {
					t.Fatal("messaging configuration not restored")
				}
				if got := c.Endpoints["DemoEndpoint"].Interface; got != "127.0.0.2" {
					t.Errorf("existing endpoint Interface %q, want the target's", got)
				}
				if got := c.Endpoints["Edge"].Interface; got != "All" {
					t.Errorf("new endpoint Interface %q, want All", got)
				}
				if !slices.Equal(p.Kept, []string{"SecurityProfile/AdminSP", "CertificateProfile/AdminCP", "TrustedCertificate/AdminSP/adminca.pem"}) {
					t.Errorf("kept %v", p.Kept)
				}
				wantCerts(t, p, "admin.key:current", "admin.pem:current", "adminca.pem:current", "edge.key:backup", "edge.pem:backup")
				wantChanges(t, p, "Endpoint", ObjectChanges{Added: []string{"Edge"}})
				if _, ok := p.Changes["ServerName"]; ok {
					t.Error("ServerName reported as changed")
				}
				if len(p.Notes) != 1 || !strings.Contains(p.Notes[0], "Edge") {
					t.Errorf("notes %q", p.Notes)
				}
				if c.Generation != 13 {
					t.Errorf("generation %d, want 13", c.Generation)
				}
			},
		},
		{
			name: "copy onto an admin port clash is refused", backup: "clash.json", wantErr: ErrInvalidRestore,
		},
		{
			name: "same environment with the clash document is valid", backup: "clash.json", include: true,
			check: func(t *testing.T, p *Plan, cur, bak *config.Config) {
				if p.Config.AdminEndpoint.Port != 9090 || p.Config.Generation != 8 {
					t.Fatalf("admin port %d, generation %d", p.Config.AdminEndpoint.Port, p.Config.Generation)
				}
			},
		},
		{
			name: "a profile of the same name in the backup wins", backup: "shared.json",
			backupCerts: []string{"src.key", "src.pem", "admin.pem"},
			check: func(t *testing.T, p *Plan, cur, bak *config.Config) {
				if len(p.Kept) != 0 || p.Config.SecurityProfiles["AdminSP"].CertificateProfile != "SrcCP" {
					t.Fatalf("kept %v, AdminSP %+v", p.Kept, p.Config.SecurityProfiles["AdminSP"])
				}
				wantCerts(t, p, "admin.pem:backup", "src.key:backup", "src.pem:backup")
				if len(p.Notes) != 3 { // Edge is new; edge.pem and edge.key are nowhere
					t.Errorf("notes %q", p.Notes)
				}
			},
		},
		{
			name: "without a store source the store is cleaned", backup: "source.json", include: true,
			check: func(t *testing.T, p *Plan, cur, bak *config.Config) {
				if p.Store != (StoreAction{Clean: true}) {
					t.Fatalf("store action %+v", p.Store)
				}
			},
		},
		{
			name: "with a store source the store is replaced at its LSN", backup: "source.json", include: true,
			store: &StoreInfo{Name: "s.bak", LSN: 42, StoreUID: "u1", Size: 9},
			check: func(t *testing.T, p *Plan, cur, bak *config.Config) {
				if p.Store != (StoreAction{Name: "s.bak", LSN: 42, StoreUID: "u1"}) {
					t.Fatalf("store action %+v", p.Store)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cur, bak := loadDoc(t, "target.json"), loadDoc(t, tc.backup)
			curBytes, bakBytes := mustMarshal(t, cur), mustMarshal(t, bak)
			p, err := PlanRestore(PlanInput{
				Current: cur, CurrentCertificates: targetCerts, Backup: bak, BackupCertificates: tc.backupCerts,
				IncludeServerConfig: tc.include, Store: tc.store,
			})
			if mustMarshal(t, cur) != curBytes || mustMarshal(t, bak) != bakBytes {
				t.Fatal("PlanRestore modified its input")
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, p, cur, bak)
		})
	}
}

func wantChanges(t *testing.T, p *Plan, typ string, want ObjectChanges) {
	t.Helper()
	got := p.Changes[typ]
	if !slices.Equal(got.Added, want.Added) || !slices.Equal(got.Changed, want.Changed) || !slices.Equal(got.Removed, want.Removed) {
		t.Errorf("%s changes %+v, want %+v", typ, got, want)
	}
}

func wantCerts(t *testing.T, p *Plan, want ...string) {
	t.Helper()
	var got []string
	for _, c := range p.Certificates {
		got = append(got, c.Name+":"+string(c.From))
	}
	if !slices.Equal(got, want) {
		t.Errorf("certificates %v, want %v", got, want)
	}
}
