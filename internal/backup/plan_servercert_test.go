package backup

import (
	"testing"

	"github.com/mqsight/mqsight/internal/config"
)

// A restore without server configuration keeps this server's own identity
// files (the admin endpoint's self-signed certificate and key) even when the
// backup carries files of the same names; a full restore takes the backup's.
func TestPlanKeepsServerCertificatesInCopyMode(t *testing.T) {
	cur, bak := config.Default(), config.Default()
	cur.ServerUID, bak.ServerUID = "target", "source"
	in := PlanInput{
		Current:             cur,
		CurrentCertificates: []string{"admin.crt", "admin.key"},
		Backup:              bak,
		BackupCertificates:  []string{"admin.crt", "admin.key", "device-ca.pem"},
		ServerCertificates:  []string{"admin.crt", "admin.key", "absent.pem"},
	}
	want := map[bool]map[string]CertificateSource{
		false: {"admin.crt": FromCurrent, "admin.key": FromCurrent, "device-ca.pem": FromBackup},
		true:  {"admin.crt": FromBackup, "admin.key": FromBackup, "device-ca.pem": FromBackup},
	}
	for _, include := range []bool{false, true} {
		in.IncludeServerConfig = include
		p, err := PlanRestore(in)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]CertificateSource{}
		for _, c := range p.Certificates {
			got[c.Name] = c.From
		}
		if len(got) != len(want[include]) {
			t.Fatalf("include=%v: certificates %v, want %v", include, got, want[include])
		}
		for n, from := range want[include] {
			if got[n] != from {
				t.Fatalf("include=%v: %s from %q, want %q (all: %v)", include, n, got[n], from, got)
			}
		}
	}
}
