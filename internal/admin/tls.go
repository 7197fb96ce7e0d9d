package admin

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mqsight/mqsight/internal/config"
)

// The self-signed certificate of the admin endpoint, generated at first
// start in the certificate store when no SecurityProfile is configured.
const (
	SelfSignedCert = "mqsight-admin-selfsigned.crt"
	SelfSignedKey  = "mqsight-admin-selfsigned.key"
)

// EnsureSelfSigned returns the paths of the self-signed admin certificate
// and key in certDir, generating them (ECDSA P-256, valid five years, for
// localhost, 127.0.0.1, ::1 and the host name) if either is missing. Both
// files are written atomically, the key with mode 0600.
func EnsureSelfSigned(certDir string, now time.Time) (certFile, keyFile string, err error) {
	certFile, keyFile = filepath.Join(certDir, SelfSignedCert), filepath.Join(certDir, SelfSignedKey)
	_, errC := os.Stat(certFile)
	_, errK := os.Stat(keyFile)
	if errC == nil && errK == nil {
		return certFile, keyFile, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generate admin key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return "", "", err
	}
	names := []string{"localhost"}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		names = append(names, h)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "mqsight admin (self-signed)", Organization: []string{"mqsight"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              names,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", fmt.Errorf("create admin certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return "", "", err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := writeFileAtomic(certDir, SelfSignedKey, bytes.NewReader(keyPEM), 0o600); err != nil {
		return "", "", fmt.Errorf("write admin key: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writeFileAtomic(certDir, SelfSignedCert, bytes.NewReader(certPEM), 0o644); err != nil {
		return "", "", fmt.Errorf("write admin certificate: %w", err)
	}
	return certFile, keyFile, nil
}

// Fingerprint returns the SHA-256 fingerprint (lowercase hex) of the first
// certificate in a PEM file, as `mqsight --fingerprint` takes it.
func Fingerprint(certFile string) (string, error) {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return "", err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", fmt.Errorf("%s: no PEM certificate", certFile)
	}
	sum := sha256.Sum256(block.Bytes)
	return hex.EncodeToString(sum[:]), nil
}

// certificateSource picks the admin endpoint's certificate per TLS
// handshake from the configuration in force: the certificate of the
// AdminEndpoint's SecurityProfile, or the self-signed one. A loaded
// certificate is cached until its files change.
//
// Locking: mu guards key, cert and failed.
type certificateSource struct {
	config  func() *config.Config
	certDir string
	now     func() time.Time

	log *slog.Logger

	mu     sync.Mutex
	key    string // files and their modification stamps of cert
	cert   *tls.Certificate
	failed string // key of files that failed to load (logged once)
}

// files returns the certificate and key files for the configuration in
// force, and the minimum TLS version of its SecurityProfile.
func (s *certificateSource) files() (certFile, keyFile string, minTLS uint16, err error) {
	c := s.config()
	minTLS = tls.VersionTLS12
	if sp := c.SecurityProfiles[c.AdminEndpoint.SecurityProfile]; sp != nil {
		if sp.MinimumProtocolMethod == "TLSv1.3" {
			minTLS = tls.VersionTLS13
		}
		if cp := c.CertificateProfiles[sp.CertificateProfile]; cp != nil {
			return filepath.Join(s.certDir, cp.Certificate), filepath.Join(s.certDir, cp.Key), minTLS, nil
		}
	}
	certFile, keyFile, err = EnsureSelfSigned(s.certDir, s.now())
	return certFile, keyFile, minTLS, err
}

func stamp(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return path + ":missing"
	}
	return fmt.Sprintf("%s:%d:%d", path, st.ModTime().UnixNano(), st.Size())
}

// certificate returns the certificate to present. When the configured
// certificate cannot be loaded (missing files, a key that does not match)
// the last good certificate keeps being served, or the self-signed one if
// there is none: a bad certificate change must never lock the
// administrators out of the API that could repair it. The failure is
// logged once per change of the files.
func (s *certificateSource) certificate() (*tls.Certificate, error) {
	certFile, keyFile, _, err := s.files()
	if err != nil {
		return nil, err
	}
	key := stamp(certFile) + "|" + stamp(keyFile)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cert != nil && s.key == key {
		return s.cert, nil
	}
	if s.failed == key && s.cert != nil {
		return s.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err == nil {
		s.key, s.cert, s.failed = key, &cert, ""
		return s.cert, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		err = fmt.Errorf("admin certificate files missing: %w", err)
	} else {
		err = fmt.Errorf("load admin certificate %s: %w", filepath.Base(certFile), err)
	}
	if s.failed != key {
		s.log.Error("admin endpoint keeps its previous certificate", "err", err)
		s.failed = key
	}
	if s.cert != nil {
		return s.cert, nil
	}
	certFile, keyFile, err = EnsureSelfSigned(s.certDir, s.now())
	if err != nil {
		return nil, err
	}
	cert, err = tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load self-signed admin certificate: %w", err)
	}
	s.cert = &cert
	return s.cert, nil
}

// TLSConfig returns the TLS configuration of the admin endpoint. The
// certificate is chosen per handshake from the configuration in force
// (cfg), so changing the AdminEndpoint's SecurityProfile or replacing its
// files applies to new connections without a restart. It fails when no
// certificate at all can be loaded now. log receives certificate load
// failures.
func TLSConfig(cfg func() *config.Config, certDir string, log *slog.Logger) (*tls.Config, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &certificateSource{config: cfg, certDir: certDir, now: time.Now, log: log}
	if _, err := s.certificate(); err != nil {
		return nil, err
	}
	_, _, minTLS, _ := s.files()
	return &tls.Config{
		MinVersion: minTLS,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.certificate()
		},
	}, nil
}
