package server

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/mqsight/mqsight/internal/admin"
)

// messagingAdmin adds the AdminUser "msgadm" with role
// MessagingAdministrator and returns a client for it.
func messagingAdmin(ts *testServer) *adminClient {
	ts.admin.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{"AdminUser": map[string]any{
		"msgadm": map[string]any{"Password": "msgadm-password", "Role": "MessagingAdministrator"}}})
	return ts.admin.as("msgadm", "msgadm-password")
}

// TestUserFileSymlinksAreNotUserFiles: a symbolic link in the user files
// directory (made by someone with access to the data directory) is not a
// user file anywhere, as the file list does not show it: a download, a
// delete, a restore, an import and a CertificateProfile all find nothing
// by its name, so none of them reads the admin endpoint's private key it
// points to.
func TestUserFileSymlinksAreNotUserFiles(t *testing.T) {
	ts, _ := backupServer(t)
	c := ts.admin
	msgadm := messagingAdmin(ts)
	userDir := filepath.Join(ts.dir, "userfiles")
	if err := os.MkdirAll(userDir, 0o700); err != nil {
		t.Fatal(err)
	}
	certDir := ts.s.Config().CertificateDir()
	key := filepath.Join(certDir, admin.SelfSignedKey)
	keyPEM, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"lnk":     key,
		"lnk.crt": filepath.Join(certDir, admin.SelfSignedCert),
		"lnk.key": key,
	} {
		if err := os.Symlink(target, filepath.Join(userDir, link)); err != nil {
			t.Fatal(err)
		}
	}

	if files := c.must(http.StatusOK, "GET", "/ima/v1/service/fileList", nil).Body["Files"].([]any); len(files) != 0 {
		t.Fatalf("file list shows %v", files)
	}
	for _, who := range []*adminClient{msgadm, c} {
		r := who.do("GET", "/ima/v1/service/file/lnk", nil)
		if r.Status != http.StatusNotFound || r.code() != string(admin.CodeNotFound) || bytes.Contains(r.Raw, []byte("PRIVATE KEY")) {
			t.Fatalf("download of a link as %s: %d %s", who.user, r.Status, r.Raw)
		}
	}
	if r := msgadm.do("DELETE", "/ima/v1/service/file/lnk", nil); r.Status != http.StatusNotFound || r.code() != string(admin.CodeDeleteNotFound) {
		t.Fatalf("delete of a link: %d %s", r.Status, r.Raw)
	}
	if _, err := os.Lstat(filepath.Join(userDir, "lnk")); err != nil {
		t.Fatalf("the link is gone: %v", err)
	}
	if r := c.do("POST", "/ima/v1/service/restore", map[string]any{"Name": "lnk", "Password": testBackupPassword, "DryRun": true}); r.Status != http.StatusNotFound || r.code() != string(admin.CodeNotFound) {
		t.Fatalf("restore of a link: %d %s", r.Status, r.Raw)
	}
	if r := c.do("POST", "/ima/v1/service/import", map[string]any{"FileName": "lnk", "Password": testBackupPassword}); r.Status != http.StatusNotFound || r.code() != string(admin.CodeNotFound) {
		t.Fatalf("import of a link: %d %s", r.Status, r.Raw)
	}
	// Named by a profile, the links are no upload: the files are missing.
	r := msgadm.do("POST", "/ima/v1/configuration", map[string]any{
		"CertificateProfile": map[string]any{"CP": map[string]any{"Certificate": "lnk.crt", "Key": "lnk.key"}}})
	if r.Status != http.StatusBadRequest || r.code() != string(admin.CodeFileMissing) {
		t.Fatalf("profile naming links: %d %s", r.Status, r.Raw)
	}
	for _, n := range []string{"lnk.crt", "lnk.key"} {
		if _, err := os.Lstat(filepath.Join(certDir, n)); err == nil {
			t.Fatalf("%s copied into the certificate store", n)
		}
	}
	if data, _ := os.ReadFile(key); !bytes.Equal(data, keyPEM) {
		t.Fatal("the admin key changed")
	}

	// A FIFO is no user file either, and its open does not wait for a
	// writer.
	if err := syscall.Mkfifo(filepath.Join(userDir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := msgadm.do("GET", "/ima/v1/service/file/fifo", nil); r.Status != http.StatusNotFound {
		t.Fatalf("download of a FIFO: %d %s", r.Status, r.Raw)
	}
}

// TestBackupFilesNeedSystemAdministrator: a MessagingAdministrator may
// not back up or restore, so it may not replace or delete a backup
// either (a configuration backup holds the only key to its store
// backup); other files stay its to manage. A SystemAdministrator may.
func TestBackupFilesNeedSystemAdministrator(t *testing.T) {
	ts, _ := backupServer(t)
	c := ts.admin
	msgadm := messagingAdmin(ts)
	name := c.must(http.StatusOK, "POST", "/ima/v1/service/backup", map[string]any{"Password": testBackupPassword}).Body["FileName"].(string)
	c.must(http.StatusOK, "POST", "/ima/v1/service/export", map[string]any{"Password": testBackupPassword, "FileName": "cfg.exp"})
	userDir := filepath.Join(ts.dir, "userfiles")

	for _, n := range []string{name, "cfg.exp"} {
		before, err := os.ReadFile(filepath.Join(userDir, n))
		if err != nil {
			t.Fatal(err)
		}
		if r := msgadm.do("PUT", "/ima/v1/file/"+n, "replaced"); r.Status != http.StatusForbidden || r.code() != string(admin.CodeForbidden) {
			t.Fatalf("messaging admin replaces backup %s: %d %s", n, r.Status, r.Raw)
		}
		if r := msgadm.do("DELETE", "/ima/v1/service/file/"+n, nil); r.Status != http.StatusForbidden || r.code() != string(admin.CodeForbidden) {
			t.Fatalf("messaging admin deletes backup %s: %d %s", n, r.Status, r.Raw)
		}
		if after, err := os.ReadFile(filepath.Join(userDir, n)); err != nil || !bytes.Equal(after, before) {
			t.Fatalf("backup %s changed by refused requests: %v", n, err)
		}
		// Reading it is still fine (as before: downloads are the role's).
		msgadm.must(http.StatusOK, "GET", "/ima/v1/service/file/"+n, nil)
	}
	// Other files are the messaging admin's to replace and delete.
	msgadm.must(http.StatusOK, "PUT", "/ima/v1/file/notes.txt", "one")
	msgadm.must(http.StatusOK, "PUT", "/ima/v1/file/notes.txt", "two")
	msgadm.must(http.StatusOK, "DELETE", "/ima/v1/service/file/notes.txt", nil)
	// The system administrator may do both.
	c.must(http.StatusOK, "PUT", "/ima/v1/file/cfg.exp", "replaced")
	c.must(http.StatusOK, "DELETE", "/ima/v1/service/file/"+name, nil)
	// cfg.exp is no backup any more: the messaging admin may delete it.
	msgadm.must(http.StatusOK, "DELETE", "/ima/v1/service/file/cfg.exp", nil)
}

// TestReservedCertificateNamesNeedSystemAdministrator: the admin
// endpoint's self-signed certificate and key are its identity. A
// MessagingAdministrator may not name them in a CertificateProfile or
// TrustedCertificate (an MQTT endpoint it controls would present the
// admin endpoint's certificate); a SystemAdministrator may, and the
// messaging admin may then post that profile back unchanged.
func TestReservedCertificateNamesNeedSystemAdministrator(t *testing.T) {
	ts := startTestServer(t)
	c := ts.admin
	msgadm := messagingAdmin(ts)
	msgadm.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{
		"SecurityProfile": map[string]any{"SP": map[string]any{"TLSEnabled": false}}})
	reserved := map[string]any{"CertificateProfile": map[string]any{"CP": map[string]any{
		"Certificate": admin.SelfSignedCert, "Key": admin.SelfSignedKey}}}
	for name, body := range map[string]map[string]any{
		"profile":     reserved,
		"key only":    {"CertificateProfile": map[string]any{"CP": map[string]any{"Certificate": "other.crt", "Key": admin.SelfSignedKey}}},
		"trusted crt": {"TrustedCertificate": []any{map[string]any{"SecurityProfileName": "SP", "TrustedCertificate": admin.SelfSignedCert}}},
	} {
		before := ts.s.Config().Current()
		r := msgadm.do("POST", "/ima/v1/configuration", body)
		if r.Status != http.StatusForbidden || r.code() != string(admin.CodeForbidden) {
			t.Fatalf("%s: messaging admin names the admin endpoint's files: %d %s", name, r.Status, r.Raw)
		}
		if ts.s.Config().Current() != before {
			t.Fatalf("%s: the refused change applied", name)
		}
	}
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", reserved)
	msgadm.must(http.StatusOK, "POST", "/ima/v1/configuration", reserved) // unchanged
	msgadm.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{"CertificateProfile": map[string]any{"CP": map[string]any{
		"Certificate": admin.SelfSignedCert, "Key": admin.SelfSignedKey, "Description": "set by the system administrator"}}})
	// A second profile is a new use again.
	if r := msgadm.do("POST", "/ima/v1/configuration", map[string]any{"CertificateProfile": map[string]any{"CP2": map[string]any{
		"Certificate": admin.SelfSignedCert, "Key": admin.SelfSignedKey}}}); r.Status != http.StatusForbidden {
		t.Fatalf("second profile: %d %s", r.Status, r.Raw)
	}
}
