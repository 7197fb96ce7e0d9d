package policy_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// ca is a test certificate authority.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

var serial = big.NewInt(0)

func newCA(t *testing.T, name string) *ca {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1)), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &ca{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue signs a leaf certificate with Common Name cn, for a server
// (127.0.0.1) or a client.
func (a *ca) issue(t *testing.T, cn string, server bool) (certPEM, keyPEM []byte, pair tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1)), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	pair, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM, pair
}

// tlsClient is a minimal raw MQTT client over TLS (mqtttest.Conn dials
// plain TCP only): it sends packets encoded by mqtttest and decodes what
// the server sends.
type tlsClient struct {
	t  *testing.T
	nc *tls.Conn
	r  *bufio.Reader
	v  byte
}

func dialTLS(t *testing.T, addr string, conf *tls.Config, v byte) *tlsClient {
	t.Helper()
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: wait}, "tcp", addr, conf)
	if err != nil {
		// TLS 1.2 reports a refused client certificate here.
		return &tlsClient{t: t, v: v}
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(wait))
	return &tlsClient{t: t, nc: nc, r: bufio.NewReader(nc), v: v}
}

func (c *tlsClient) send(pk *packets.Packet) error {
	b, err := mqtttest.Encode(pk, c.v)
	if err != nil {
		c.t.Fatal(err)
	}
	_, err = c.nc.Write(b)
	return err
}

// next reads and decodes one packet.
func (c *tlsClient) next() (*packets.Packet, error) {
	h, err := c.r.ReadByte()
	if err != nil {
		return nil, err
	}
	n, shift := 0, 0
	for {
		b, err := c.r.ReadByte()
		if err != nil {
			return nil, err
		}
		n |= int(b&0x7f) << shift
		if b < 0x80 {
			break
		}
		shift += 7
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return nil, err
	}
	return mqtttest.Decode(mqtttest.Frame{Header: h, Body: body}, c.v)
}

// connect returns the CONNACK's code, or an error when the TLS handshake
// or the connection failed before one arrived.
func (c *tlsClient) connect(id string) (byte, error) {
	if c.nc == nil {
		return 0, fmt.Errorf("TLS dial failed")
	}
	if err := c.send(mqtttest.ConnectPacket(mqtttest.ConnectOptions{ClientID: id, Clean: true}, c.v)); err != nil {
		return 0, err
	}
	pk, err := c.next()
	if err != nil {
		return 0, err
	}
	if pk.FixedHeader.Type != packets.Connack {
		return 0, fmt.Errorf("got %s, want CONNACK", mqtttest.Describe(pk))
	}
	return pk.ReasonCode, nil
}

// publish sends a QoS 1 PUBLISH and returns the PUBACK's reason code.
func (c *tlsClient) publish(topic string, id uint16) (byte, error) {
	pk := &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: topic, PacketID: id, Payload: []byte("x")}
	if err := c.send(pk); err != nil {
		return 0, err
	}
	ack, err := c.next()
	if err != nil {
		return 0, err
	}
	if ack.FixedHeader.Type != packets.Puback || ack.PacketID != id {
		return 0, fmt.Errorf("got %s, want PUBACK %d", mqtttest.Describe(ack), id)
	}
	return ack.ReasonCode, nil
}

// TestClientCertificates: an endpoint whose SecurityProfile uses client
// certificates admits a trusted certificate, refuses an untrusted one or
// none, applies the CommonNames filter and substitutes ${CommonName}.
func TestClientCertificates(t *testing.T) {
	trusted, rogue := newCA(t, "trusted CA"), newCA(t, "rogue CA")
	srvCert, srvKey, _ := trusted.issue(t, "server", true)
	_, _, dev1 := trusted.issue(t, "dev-1", false)
	_, _, other := trusted.issue(t, "other", false)
	_, _, fake := rogue.issue(t, "dev-1", false)

	c := baseConfig(t)
	set(t, c, "CertificateProfile", "CP", map[string]any{"Certificate": "server.crt", "Key": "server.key"})
	set(t, c, "SecurityProfile", "SP", map[string]any{"TLSEnabled": true, "CertificateProfile": "CP",
		"UseClientCertificate": true, "UsePasswordAuthentication": false})
	set(t, c, "TrustedCertificate", "", map[string]any{"SecurityProfileName": "SP", "TrustedCertificate": "ca.crt"})
	set(t, c, "ConnectionPolicy", "Devices", map[string]any{"CommonNames": "dev-*"})
	set(t, c, "TopicPolicy", "Own", map[string]any{"Topic": "certs/${CommonName}/*", "CommonNames": "*", "ActionList": "Publish"})
	set(t, c, "Endpoint", "DemoEndpoint", map[string]any{"SecurityProfile": "SP", "ConnectionPolicies": "Devices", "TopicPolicies": "Own"})
	s := start(t, c, func(dir string) {
		d := filepath.Join(dir, "certificates")
		os.MkdirAll(d, 0o700)
		for name, b := range map[string][]byte{"server.crt": srvCert, "server.key": srvKey, "ca.crt": trusted.pem} {
			if err := os.WriteFile(filepath.Join(d, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	})
	roots := x509.NewCertPool()
	roots.AddCert(trusted.cert)
	conf := func(cert *tls.Certificate, maxVersion uint16) *tls.Config {
		tc := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MaxVersion: maxVersion}
		if cert != nil {
			tc.Certificates = []tls.Certificate{*cert}
		}
		return tc
	}
	for _, tlsVersion := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, v := range versions {
			name := fmt.Sprintf("TLS 0x%04x MQTT v%d", tlsVersion, v)
			rc, err := dialTLS(t, s.addr, conf(&dev1, tlsVersion), v).connect("d1")
			if err != nil || rc != 0 {
				t.Errorf("%s: trusted dev-1 refused: 0x%02X %v", name, rc, err)
			}
			rc, err = dialTLS(t, s.addr, conf(&other, tlsVersion), v).connect("o1")
			if err != nil || rc != notAuthorized(v) {
				t.Errorf("%s: trusted but CommonNames-filtered \"other\": 0x%02X %v; want CONNACK 0x%02X", name, rc, err, notAuthorized(v))
			}
			if rc, err := dialTLS(t, s.addr, conf(&fake, tlsVersion), v).connect("f1"); err == nil {
				t.Errorf("%s: certificate from an untrusted CA got CONNACK 0x%02X; want the TLS handshake refused", name, rc)
			}
			if rc, err := dialTLS(t, s.addr, conf(nil, tlsVersion), v).connect("n1"); err == nil {
				t.Errorf("%s: no client certificate got CONNACK 0x%02X; want the TLS handshake refused", name, rc)
			}
		}
	}

	// The same over WebSocket (wss): the certificate is found through the
	// WebSocket wrapping too.
	for _, tc := range []struct {
		cert    *tls.Certificate
		allowed bool
	}{{&dev1, true}, {&other, false}, {&fake, false}} {
		cn := tc.cert.Leaf.Subject.CommonName
		opts := paho.NewClientOptions().AddBroker("wss://" + s.addr + "/mqtt").SetClientID("ws-" + cn).
			SetTLSConfig(conf(tc.cert, 0)).SetConnectTimeout(wait).SetAutoReconnect(false).SetConnectRetry(false)
		cl := paho.NewClient(opts)
		tok := cl.Connect()
		if !tok.WaitTimeout(2 * wait) {
			t.Fatalf("wss %s: connect timed out", cn)
		}
		if err := tok.Error(); (err == nil) != tc.allowed {
			t.Errorf("wss with certificate %q (trusted=%v): connect error %v, want allowed=%v", cn, tc.cert != &fake, err, tc.allowed)
		}
		cl.Disconnect(100)
	}

	// ${CommonName}: dev-1 may publish below certs/dev-1/ only.
	d := dialTLS(t, s.addr, conf(&dev1, 0), 5)
	if rc, err := d.connect("d1"); err != nil || rc != 0 {
		t.Fatalf("connect: 0x%02X %v", rc, err)
	}
	if rc, err := d.publish("certs/dev-1/x", 1); err != nil || rc >= 0x80 { // 0x10: no subscribers
		t.Errorf("publish to its own tree: 0x%02X %v", rc, err)
	}
	if rc, err := d.publish("certs/dev-2/x", 2); err != nil || rc != 0x87 {
		t.Errorf("publish to another certificate's tree: 0x%02X %v; want 0x87", rc, err)
	}
	if n := s.p.Stats().FailedLogins.Load(); n != 0 {
		// Untrusted certificates never reach the policy: TLS refuses them.
		t.Errorf("FailedLogins = %d, want 0", n)
	}
}
