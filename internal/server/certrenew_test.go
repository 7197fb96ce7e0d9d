package server

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/testport"
)

// servedCertificate returns the DER certificate a TLS endpoint presents.
func servedCertificate(t *testing.T, addr string) []byte {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS endpoint %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Raw
}

// der returns the first certificate of a PEM file uploaded under name.
func uploadedDER(t *testing.T, ts *testServer, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(ts.s.Config().CertificateDir() + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("%s holds no PEM block", name)
	}
	return b.Bytes
}

// A certificate renewed under the same file names (upload, then POST the
// profile again) is served by the MQTT endpoints that use it at once.
func TestRenewedCertificateIsServed(t *testing.T) {
	ts := startTestServer(t)
	c := ts.admin
	cert, key := uploadCertificate(t, c, "srv")
	port := testport.Free(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{
		"CertificateProfile": map[string]any{"CP1": map[string]any{"Certificate": cert, "Key": key}},
		"SecurityProfile":    map[string]any{"SP1": map[string]any{"TLSEnabled": true, "CertificateProfile": "CP1", "UsePasswordAuthentication": false}},
		"Endpoint": map[string]any{"TLS1": map[string]any{"Port": port, "Interface": "127.0.0.1", "Enabled": true,
			"MessageHub": "DemoHub", "SecurityProfile": "SP1",
			"ConnectionPolicies": "DemoConnectionPolicy", "TopicPolicies": "DemoTopicPolicy"}},
	})
	first := uploadedDER(t, ts, cert)
	if !bytes.Equal(servedCertificate(t, addr), first) {
		t.Fatal("the endpoint does not serve the profile's certificate")
	}

	uploadCertificate(t, c, "srv") // a new pair under the same names
	// MessageSight's request flags: Overwrite false keeps the old file,
	// encrypted files are refused with advice, empty passwords are fine.
	r := c.do("POST", "/ima/v1/configuration", map[string]any{
		"CertificateProfile": map[string]any{"CP1": map[string]any{"Certificate": cert, "Key": key, "Overwrite": false}},
	})
	if r.Status != http.StatusBadRequest || !strings.Contains(r.Body["Message"].(string), "Overwrite is false") {
		t.Fatalf("renewal with Overwrite false: %d %s", r.Status, r.Raw)
	}
	r = c.do("POST", "/ima/v1/configuration", map[string]any{
		"CertificateProfile": map[string]any{"CP1": map[string]any{"Certificate": cert, "Key": key, "Overwrite": true, "KeyFilePassword": "secret"}},
	})
	if r.Status != http.StatusBadRequest || !strings.Contains(r.Body["Message"].(string), "KeyFilePassword: encrypted certificate and key files are not supported") {
		t.Fatalf("renewal with a key file password: %d %s", r.Status, r.Raw)
	}
	if !bytes.Equal(uploadedDER(t, ts, cert), first) {
		t.Fatal("a refused renewal replaced the certificate")
	}
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{
		"CertificateProfile": map[string]any{"CP1": map[string]any{"Certificate": cert, "Key": key,
			"Overwrite": true, "CertFilePassword": "", "KeyFilePassword": ""}},
	})
	renewed := uploadedDER(t, ts, cert)
	if bytes.Equal(renewed, first) {
		t.Fatal("the certificate store still holds the old certificate")
	}
	if got := servedCertificate(t, addr); !bytes.Equal(got, renewed) {
		t.Fatalf("after the renewal the endpoint serves the old certificate (%v)", bytes.Equal(got, first))
	}
}

// expiredPair writes a self-signed certificate that expired yesterday and
// its key, PEM encoded.
func expiredPair(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "expired"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// Certificate files that cannot serve TLS are refused when the profile is
// made or renewed (400 CWLNA0112 naming them), and nothing changes: not
// the configuration, not the files the endpoints use.
func TestUnusableCertificateFilesAreRefused(t *testing.T) {
	ts := startTestServer(t)
	c := ts.admin
	cert, key := uploadCertificate(t, c, "good")
	c.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{
		"CertificateProfile": map[string]any{"CP1": map[string]any{"Certificate": cert, "Key": key}},
	})
	good := uploadedDER(t, ts, cert)
	otherCert, otherKey := uploadCertificate(t, c, "other")
	expCert, expKey := expiredPair(t)
	c.must(http.StatusOK, "PUT", "/ima/v1/file/expired.crt", expCert)
	c.must(http.StatusOK, "PUT", "/ima/v1/file/expired.key", expKey)
	c.must(http.StatusOK, "PUT", "/ima/v1/file/notpem.crt", []byte("not a certificate\n"))

	for _, tc := range []struct {
		name string
		body map[string]any
		want string // in the message
	}{
		{"swapped", map[string]any{"CertificateProfile": map[string]any{"CP2": map[string]any{"Certificate": otherKey, "Key": otherCert}}},
			`CertificateProfile "CP2": certificate "other.key" and key "other.crt": not a usable certificate and key pair`},
		{"key of another certificate", map[string]any{"CertificateProfile": map[string]any{"CP1": map[string]any{"Key": otherKey}}},
			`CertificateProfile "CP1": certificate "good.crt" and key "other.key": not a usable certificate and key pair`},
		{"expired", map[string]any{"CertificateProfile": map[string]any{"CP3": map[string]any{"Certificate": "expired.crt", "Key": "expired.key"}}},
			`certificate "expired.crt" and key "expired.key": the certificate expired on`},
		{"trusted file holds no certificate", map[string]any{"SecurityProfile": map[string]any{"SP1": map[string]any{"TLSEnabled": true, "CertificateProfile": "CP1"}},
			"TrustedCertificate": []any{map[string]any{"SecurityProfileName": "SP1", "TrustedCertificate": "notpem.crt"}}},
			`notpem.crt holds no PEM certificate`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gen := c.must(http.StatusOK, "GET", "/ima/v1/configuration", nil).Body["Generation"]
			r := c.do("POST", "/ima/v1/configuration", tc.body)
			if r.Status != http.StatusBadRequest || r.code() != "CWLNA0112" || !strings.Contains(r.Body["Message"].(string), tc.want) {
				t.Fatalf("got %d %s; want 400 CWLNA0112 saying %q", r.Status, r.Raw, tc.want)
			}
			if after := c.must(http.StatusOK, "GET", "/ima/v1/configuration", nil).Body["Generation"]; after != gen {
				t.Fatalf("generation %v → %v after a refused change", gen, after)
			}
			if !bytes.Equal(uploadedDER(t, ts, cert), good) {
				t.Fatal("the profile's certificate file changed")
			}
		})
	}

	// A renewal with an unusable file is refused and the old file stays.
	c.must(http.StatusOK, "PUT", "/ima/v1/file/"+cert, []byte("not a certificate\n"))
	r := c.do("POST", "/ima/v1/configuration", map[string]any{
		"CertificateProfile": map[string]any{"CP1": map[string]any{"Certificate": cert, "Key": key}},
	})
	if r.Status != http.StatusBadRequest || r.code() != "CWLNA0112" {
		t.Fatalf("renewal with a broken file: %d %s", r.Status, r.Raw)
	}
	if !bytes.Equal(uploadedDER(t, ts, cert), good) {
		t.Fatal("a refused renewal replaced the certificate file")
	}
}

// An endpoint moved to a port another process holds: the change stands,
// its reply says the endpoint is not listening and why, and the endpoint
// listens once the port is free, with no further change.
func TestEndpointOnTakenPortIsReportedAndRetried(t *testing.T) {
	ts := startTestServer(t)
	holder, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := holder.Addr().(*net.TCPAddr).Port
	r := ts.admin.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{
		"Endpoint": map[string]any{"DemoEndpoint": map[string]any{"Port": port}},
	})
	msg, _ := r.Body["Message"].(string)
	if !strings.Contains(msg, `Endpoint "DemoEndpoint" is not listening`) || !strings.Contains(msg, "address already in use") {
		t.Fatalf("reply does not say the endpoint is not listening: %s", r.Raw)
	}
	holder.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok := ts.admin.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{
			"Endpoint": map[string]any{"DemoEndpoint": map[string]any{"Port": port}}, // no change
		})
		if m, _ := ok.Body["Message"].(string); !strings.Contains(m, "not listening") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the endpoint never listened after its port was freed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	nc, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		t.Fatalf("endpoint not listening: %v", err)
	}
	nc.Close()
}
