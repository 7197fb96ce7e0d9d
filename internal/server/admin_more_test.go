package server

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mqsight/mqsight/internal/admin"
	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

func TestAdminQueueDeleteNeedsDiscardFlag(t *testing.T) {
	ts := startTestServer(t)
	c := ts.admin
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{"Queue": map[string]any{"Q1": map[string]any{}}})
	pub := mqtttest.Dial(t, ts.mqttAddr, 4)
	pub.MustConnect(mqtttest.ConnectOptions{ClientID: "producer", Clean: true})
	for i := 0; i < 3; i++ {
		pub.MustPublish("$queue/Q1", []byte("job"), 1, false)
	}
	queues := c.must(http.StatusOK, "GET", "/ima/v1/monitor/Queue", nil).Body["Queue"].([]any)
	if len(queues) != 1 || queues[0].(map[string]any)["BufferedMsgs"] != float64(3) {
		t.Fatalf("monitor/Queue %v", queues)
	}
	r := c.must(http.StatusConflict, "DELETE", "/ima/v1/configuration/Queue/Q1", nil)
	if r.code() != string(admin.CodeQueueNotEmpty) || !strings.Contains(r.Body["Message"].(string), "3 messages") {
		t.Fatalf("delete without flag: %s", r.Raw)
	}
	if ts.s.Config().Current().Queues["Q1"] == nil {
		t.Fatal("queue deleted without DiscardMessages")
	}
	c.must(http.StatusOK, "DELETE", "/ima/v1/configuration/Queue/Q1?DiscardMessages=true", nil)
	if ts.s.Config().Current().Queues["Q1"] != nil {
		t.Fatal("queue still configured")
	}
	if n := ts.s.MQTT().QueueDepth("Q1"); n != 0 {
		t.Fatalf("%d messages left after discard", n)
	}
	// An empty queue needs no flag.
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{"Queue": map[string]any{"Q2": map[string]any{}}})
	c.must(http.StatusOK, "DELETE", "/ima/v1/configuration/Queue/Q2", nil)
}

// peerFingerprint connects to the admin endpoint and returns the SHA-256
// of the certificate it presents.
func peerFingerprint(t *testing.T, ts *testServer) [32]byte {
	t.Helper()
	var sum [32]byte
	conn, err := tls.Dial("tcp", ts.s.AdminAddr().String(), &tls.Config{
		InsecureSkipVerify: true, // the test only records what is presented
		VerifyConnection: func(cs tls.ConnectionState) error {
			sum = sha256.Sum256(cs.PeerCertificates[0].Raw)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	return sum
}

func pemFingerprint(t *testing.T, path string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM", path)
	}
	return sha256.Sum256(block.Bytes)
}

func TestAdminEndpointUsesSecurityProfileCertificate(t *testing.T) {
	ts := startTestServer(t)
	c := ts.admin
	certDir := ts.s.Config().CertificateDir()
	if got, want := peerFingerprint(t, ts), pemFingerprint(t, filepath.Join(certDir, admin.SelfSignedCert)); got != want {
		t.Fatal("admin endpoint does not present the self-signed certificate")
	}
	cert, key := uploadCertificate(t, c, "adminep")
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{
		"CertificateProfile": map[string]any{"AdminCP": map[string]any{"Certificate": cert, "Key": key}},
		"SecurityProfile":    map[string]any{"AdminSP": map[string]any{"TLSEnabled": true, "CertificateProfile": "AdminCP"}},
		"AdminEndpoint":      map[string]any{"SecurityProfile": "AdminSP"},
	})
	if got, want := peerFingerprint(t, ts), pemFingerprint(t, filepath.Join(certDir, cert)); got != want {
		t.Fatal("admin endpoint does not present the SecurityProfile's certificate after the change")
	}
	// The profiles behind the admin endpoint are server configuration.
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{"AdminUser": map[string]any{
		"msgadm": map[string]any{"Password": "msgadm-password", "Role": "MessagingAdministrator"}}})
	msgadm := c.as("msgadm", "msgadm-password")
	other, otherKey := uploadCertificate(t, msgadm, "other")
	msgadm.must(http.StatusForbidden, "POST", "/ima/v1/configuration", map[string]any{
		"CertificateProfile": map[string]any{"AdminCP": map[string]any{"Certificate": other, "Key": otherKey}}})
	msgadm.must(http.StatusForbidden, "POST", "/ima/v1/configuration", map[string]any{
		"SecurityProfile":    map[string]any{"AdminSP": map[string]any{"CertificateProfile": "OtherCP"}},
		"CertificateProfile": map[string]any{"OtherCP": map[string]any{"Certificate": other, "Key": otherKey}}})
	if got, want := peerFingerprint(t, ts), pemFingerprint(t, filepath.Join(certDir, cert)); got != want {
		t.Fatal("a messaging administrator changed the admin endpoint's certificate")
	}
}

func TestAdminInsecureHTTP(t *testing.T) {
	logs := &logBuffer{}
	ts := startTestServer(t, func(o *Options) {
		o.AdminInsecureHTTP = true
		o.Logger = logs.logger()
	})
	resp, err := http.Get("http://" + ts.s.AdminAddr().String() + "/ima/v1/service/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("plain HTTP status %d", resp.StatusCode)
	}
	if !strings.Contains(logs.String(), "PLAIN HTTP") || !strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("no loud warning:\n%s", logs.String())
	}
}

func TestAdminSecretsNeverLogged(t *testing.T) {
	logs := &logBuffer{}
	ts := startTestServer(t, func(o *Options) { o.Logger = logs.logger() })
	c := ts.admin
	c.as("admin", "guessed-password-1").do("GET", "/ima/v1/service/status", nil)
	c.as("password-in-user-field", "x").do("GET", "/ima/v1/service/status", nil)
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{"User": map[string]any{"u": map[string]any{"Password": "user-password-2"}}})
	c.must(http.StatusBadRequest, "POST", "/ima/v1/configuration", map[string]any{"User": map[string]any{"u": map[string]any{"Password": 12345}}})
	c.must(http.StatusOK, "POST", "/ima/v1/service/restart", map[string]any{"Service": "Server"})
	for _, secret := range []string{testAdminPassword, "guessed-password-1", "user-password-2", "12345", "password-in-user-field"} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("log holds %q:\n%s", secret, logs.String())
		}
	}
	if !strings.Contains(logs.String(), "admin authentication failed") {
		t.Fatalf("failed login not logged:\n%s", logs.String())
	}
}

// A certificate that cannot be loaded must not lock the administrators
// out. Such files are refused when configured; should the files break on
// disk afterwards, the admin endpoint keeps its previous certificate.
func TestAdminEndpointKeepsCertificateWhenNewOneIsBroken(t *testing.T) {
	logs := &logBuffer{}
	ts := startTestServer(t, func(o *Options) { o.Logger = logs.logger() })
	c := ts.admin
	before := peerFingerprint(t, ts)
	c.must(http.StatusOK, "PUT", "/ima/v1/file/broken.crt", "not a certificate")
	c.must(http.StatusOK, "PUT", "/ima/v1/file/broken.key", "not a key")
	c.must(http.StatusBadRequest, "POST", "/ima/v1/configuration", map[string]any{
		"CertificateProfile": map[string]any{"Broken": map[string]any{"Certificate": "broken.crt", "Key": "broken.key"}},
		"SecurityProfile":    map[string]any{"BrokenSP": map[string]any{"TLSEnabled": true, "CertificateProfile": "Broken"}},
		"AdminEndpoint":      map[string]any{"SecurityProfile": "BrokenSP"},
	})
	if peerFingerprint(t, ts) != before {
		t.Fatal("certificate changed after a refused change")
	}

	cert, key := uploadCertificate(t, c, "adm")
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{
		"CertificateProfile": map[string]any{"Adm": map[string]any{"Certificate": cert, "Key": key}},
		"SecurityProfile":    map[string]any{"AdmSP": map[string]any{"TLSEnabled": true, "CertificateProfile": "Adm"}},
		"AdminEndpoint":      map[string]any{"SecurityProfile": "AdmSP"},
	})
	c.http.Transport.(*http.Transport).TLSClientConfig.InsecureSkipVerify = true // the new certificate
	served := peerFingerprint(t, ts)
	if served == before {
		t.Fatal("the admin endpoint did not take the configured certificate")
	}
	for _, f := range []string{cert, key} {
		if err := os.WriteFile(filepath.Join(ts.s.Config().CertificateDir(), f), []byte("damaged"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if peerFingerprint(t, ts) != served {
		t.Fatal("certificate changed to something else")
	}
	c.must(http.StatusOK, "GET", "/ima/v1/service/status", nil)
	if !strings.Contains(logs.String(), "admin endpoint keeps its previous certificate") {
		t.Fatalf("failure not logged:\n%s", logs.String())
	}
}

// A refused POST leaves the certificate files where they were: the upload
// stays among the user files and the certificate store gets nothing.
func TestAdminRefusedPostRollsBackCertificateFiles(t *testing.T) {
	ts := startTestServer(t)
	c := ts.admin
	cert, key := uploadCertificate(t, c, "rollback")
	c.must(http.StatusBadRequest, "POST", "/ima/v1/configuration", map[string]any{
		"CertificateProfile": map[string]any{"CP": map[string]any{"Certificate": cert, "Key": key}},
		"Queue":              map[string]any{"Q": map[string]any{"MaxMessages": -5}},
	})
	for _, f := range []string{cert, key} {
		if _, err := os.Stat(filepath.Join(ts.s.Config().CertificateDir(), f)); err == nil {
			t.Fatalf("%s left in the certificate store by a refused POST", f)
		}
		if _, err := os.Stat(filepath.Join(ts.dir, "userfiles", f)); err != nil {
			t.Fatalf("%s lost from the uploads: %v", f, err)
		}
	}
	// Retried without the mistake, the files move.
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{
		"CertificateProfile": map[string]any{"CP": map[string]any{"Certificate": cert, "Key": key}}})
	if _, err := os.Stat(filepath.Join(ts.s.Config().CertificateDir(), cert)); err != nil {
		t.Fatal(err)
	}
}

// Replacing a certificate already in the store is a SystemAdministrator's
// call (it may be the admin endpoint's own); the admin endpoint's
// self-signed files cannot be replaced through a profile at all.
func TestAdminCertificateReplacementNeedsSystemAdministrator(t *testing.T) {
	ts := startTestServer(t)
	c := ts.admin
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{"AdminUser": map[string]any{
		"msgadm": map[string]any{"Password": "msgadm-password", "Role": "MessagingAdministrator"}}})
	msgadm := c.as("msgadm", "msgadm-password")
	cert, key := uploadCertificate(t, msgadm, "renew")
	msgadm.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{
		"CertificateProfile": map[string]any{"CP": map[string]any{"Certificate": cert, "Key": key}}})
	stored := filepath.Join(ts.s.Config().CertificateDir(), cert)
	first := pemFingerprint(t, stored)

	// A renewal under the same names: refused for the messaging admin ...
	cert2, key2 := uploadCertificate(t, msgadm, "renew")
	r := msgadm.must(http.StatusForbidden, "POST", "/ima/v1/configuration", map[string]any{
		"CertificateProfile": map[string]any{"CP": map[string]any{"Certificate": cert2, "Key": key2}}})
	if r.code() != string(admin.CodeForbidden) || pemFingerprint(t, stored) != first {
		t.Fatalf("messaging admin replaced a stored certificate: %s", r.Raw)
	}
	// ... done by the system administrator.
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{
		"CertificateProfile": map[string]any{"CP": map[string]any{"Certificate": cert2, "Key": key2}}})
	if pemFingerprint(t, stored) == first {
		t.Fatal("renewal did not replace the stored certificate")
	}

	for _, reserved := range []string{admin.SelfSignedCert, admin.SelfSignedKey} {
		c.must(http.StatusOK, "PUT", "/ima/v1/file/"+reserved, "forged")
	}
	r = c.must(http.StatusBadRequest, "POST", "/ima/v1/configuration", map[string]any{
		"CertificateProfile": map[string]any{"Forged": map[string]any{"Certificate": admin.SelfSignedCert, "Key": admin.SelfSignedKey}}})
	if r.code() != string(admin.CodeFileName) {
		t.Fatalf("reserved names: %s", r.Raw)
	}
	if data, _ := os.ReadFile(filepath.Join(ts.s.Config().CertificateDir(), admin.SelfSignedKey)); string(data) == "forged" {
		t.Fatal("the admin endpoint's key was replaced")
	}
}
