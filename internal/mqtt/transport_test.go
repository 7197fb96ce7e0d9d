package mqtt

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
	"github.com/mqsight/mqsight/internal/testport"
)

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(t *testing.T, dir string) (certPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mqsight test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "server.crt"), certPEM, 0o600)
	os.WriteFile(filepath.Join(dir, "server.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certPEM
}

// pahoRoundTrip connects a 3.1.1 paho client to url, subscribes and
// receives its own QoS 1 publish.
func pahoRoundTrip(t *testing.T, url string, tlsConf *tls.Config) {
	t.Helper()
	got := make(chan string, 1)
	opts := paho.NewClientOptions().AddBroker(url).SetClientID("paho-" + strings.ReplaceAll(t.Name(), "/", "-")).
		SetConnectTimeout(5 * time.Second).SetAutoReconnect(false)
	if tlsConf != nil {
		opts.SetTLSConfig(tlsConf)
	}
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(waitLong) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", url, tok.Error())
	}
	defer c.Disconnect(100)
	if tok := c.Subscribe("tr/x", 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) }); !tok.WaitTimeout(waitLong) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	if tok := c.Publish("tr/x", 1, false, "over "+url); !tok.WaitTimeout(waitLong) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	select {
	case p := <-got:
		if p != "over "+url {
			t.Fatalf("got %q", p)
		}
	case <-time.After(waitLong):
		t.Fatal("message not delivered")
	}
}

func TestTLSEndpointWithConfiguredCertificate(t *testing.T) {
	var certPEM []byte
	ts := startServer(t, func(ts *testServer) {
		certPEM = selfSigned(t, filepath.Join(ts.dir, "certificates"))
		c := ts.cfg
		c.CertificateProfiles["CP"] = &config.CertificateProfile{Name: "CP", Certificate: "server.crt", Key: "server.key"}
		c.SecurityProfiles["SP"] = &config.SecurityProfile{Name: "SP", TLSEnabled: true, MinimumProtocolMethod: "TLSv1.2", CertificateProfile: "CP"}
		c.Endpoints["DemoEndpoint"].SecurityProfile = "SP"
	})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	conf := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	pahoRoundTrip(t, "ssl://"+ts.addr, conf)
	pahoRoundTrip(t, "wss://"+ts.addr+"/mqtt", conf)

	// A plain-TCP client cannot talk MQTT to the TLS endpoint.
	nc, err := net.DialTimeout("tcp", ts.addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 0})
	nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4)
	if n, _ := nc.Read(buf); n >= 2 && buf[0] == 0x20 {
		t.Fatal("plain MQTT CONNECT was answered on a TLS endpoint")
	}
}

func TestWebSocketOnTheSamePort(t *testing.T) {
	ts := startServer(t)
	pahoRoundTrip(t, "ws://"+ts.addr+"/mqtt", nil)
	pahoRoundTrip(t, "tcp://"+ts.addr, nil)
}

func TestEndpointsFollowConfiguration(t *testing.T) {
	ts := startServer(t)
	c := ts.cfg
	port2 := testport.Free(t)
	next := *c
	next.Endpoints = map[string]*config.Endpoint{}
	for k, v := range c.Endpoints {
		next.Endpoints[k] = v
	}
	e2 := *c.Endpoints["DemoEndpoint"]
	e2.Name, e2.Port = "Second", port2
	next.Endpoints["Second"] = &e2
	if err := ts.e.Apply(&next); err != nil {
		t.Fatal(err)
	}
	addr2 := net.JoinHostPort("127.0.0.1", strconv.Itoa(port2))
	pahoRoundTrip(t, "tcp://"+addr2, nil)

	delete(next.Endpoints, "Second")
	if err := ts.e.Apply(&next); err != nil {
		t.Fatal(err)
	}
	if nc, err := net.DialTimeout("tcp", addr2, time.Second); err == nil {
		nc.Close()
		t.Fatal("removed endpoint still accepts connections")
	}
}

func TestMosquittoClients(t *testing.T) {
	pub, err1 := exec.LookPath("mosquitto_pub")
	sub, err2 := exec.LookPath("mosquitto_sub")
	if err1 != nil || err2 != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("mosquitto-clients must be installed in CI")
		}
		t.Skip("mosquitto_pub/mosquitto_sub not installed (apt-get install mosquitto-clients)")
	}
	ts := startServer(t)
	host, port, _ := net.SplitHostPort(ts.addr)
	for _, v := range []string{"mqttv311", "mqttv5"} {
		s := exec.Command(sub, "-h", host, "-p", port, "-V", v, "-t", "cli/#", "-q", "1", "-C", "3", "-W", "10", "-v")
		out := &mqtttest.SyncBuffer{}
		s.Stdout = out
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		// Publish until the subscriber has subscribed and got three.
		deadline := time.Now().Add(waitLong)
		for i := 0; s.ProcessState == nil && time.Now().Before(deadline); i++ {
			exec.Command(pub, "-h", host, "-p", port, "-V", v, "-t", "cli/x", "-q", "1", "-m", fmt.Sprint("m", i)).Run()
			if strings.Count(out.String(), "\n") >= 3 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err := s.Wait(); err != nil {
			t.Fatalf("%s: mosquitto_sub: %v (output %q)", v, err, out.String())
		}
		if !strings.HasPrefix(out.String(), "cli/x m") {
			t.Fatalf("%s: mosquitto_sub printed %q", v, out.String())
		}
	}
}

// applyEndpoint applies ts's configuration with change made to a copy of
// DemoEndpoint.
func applyEndpoint(t *testing.T, ts *testServer, change func(ep *config.Endpoint)) error {
	t.Helper()
	next := *ts.cfg
	next.Endpoints = map[string]*config.Endpoint{}
	for k, v := range ts.cfg.Endpoints {
		next.Endpoints[k] = v
	}
	ep := *ts.cfg.Endpoints["DemoEndpoint"]
	change(&ep)
	next.Endpoints["DemoEndpoint"] = &ep
	ts.cfg = &next
	return ts.e.Apply(&next)
}

// pingOK reports whether c still answers PINGREQ.
func pingOK(c *mqtttest.Conn) bool {
	if err := c.Send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}}); err != nil {
		return false
	}
	_, err := c.AwaitType(packets.Pingresp, 2*time.Second)
	return err == nil
}

// An endpoint whose port is taken is retried until it listens, without
// another configuration change; meanwhile ListenerError says why.
func TestEndpointRetriesTakenPort(t *testing.T) {
	ts := startServer(t)
	holder, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := holder.Addr().(*net.TCPAddr).Port
	if err := applyEndpoint(t, ts, func(ep *config.Endpoint) { ep.Port = port }); err == nil {
		t.Fatal("Apply reported no error for a taken port")
	}
	if err := ts.e.ListenerError("DemoEndpoint"); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("ListenerError: %v", err)
	}
	holder.Close()
	deadline := time.Now().Add(waitLong)
	for ts.e.ListenerAddr("DemoEndpoint") == nil {
		if time.Now().After(deadline) {
			t.Fatal("the endpoint never listened after its port was freed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := ts.e.ListenerError("DemoEndpoint"); err != nil {
		t.Fatalf("ListenerError after it listens: %v", err)
	}
	c := mqtttest.Dial(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 4)
	c.MustConnect(mqtttest.ConnectOptions{ClientID: "retried", Clean: true})
}

// A new size limit or a renewed server certificate applies to new
// connections and leaves established ones alone; a change to who may
// connect (here: client certificates required) closes them.
func TestEndpointChangesThatKeepConnections(t *testing.T) {
	certDir := ""
	ts := startServer(t, func(ts *testServer) {
		certDir = filepath.Join(ts.dir, "certificates")
		selfSigned(t, certDir)
		c := ts.cfg
		c.CertificateProfiles["CP"] = &config.CertificateProfile{Name: "CP", Certificate: "server.crt", Key: "server.key"}
		c.SecurityProfiles["SP"] = &config.SecurityProfile{Name: "SP", TLSEnabled: true, MinimumProtocolMethod: "TLSv1.2", CertificateProfile: "CP"}
		c.Endpoints["DemoEndpoint"].SecurityProfile = "SP"
	})
	dialTLS := func() (*tls.Conn, error) {
		return tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", ts.addr, &tls.Config{InsecureSkipVerify: true})
	}
	connect := func() *mqtttest.Conn {
		nc, err := dialTLS()
		if err != nil {
			t.Fatal(err)
		}
		c := mqtttest.Wrap(t, nc, 4)
		c.MustConnect(mqtttest.ConnectOptions{ClientID: mqtttest.ClientID(t), Clean: true})
		return c
	}
	served := func() []byte {
		nc, err := dialTLS()
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		return nc.ConnectionState().PeerCertificates[0].Raw
	}

	old := connect()
	if err := applyEndpoint(t, ts, func(ep *config.Endpoint) { ep.MaxMessageSize = "2048KB" }); err != nil {
		t.Fatal(err)
	}
	if !pingOK(old) {
		t.Fatal("a new MaxMessageSize closed an established connection")
	}

	first := served()
	selfSigned(t, certDir) // renewed under the same names
	if err := ts.e.Apply(ts.cfg); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(served(), first) {
		t.Fatal("new connections still get the old certificate")
	}
	if !pingOK(old) {
		t.Fatal("a renewed certificate closed an established connection")
	}

	// A trusted certificate for a profile that checks no client
	// certificate decides nothing: no restart.
	withTrust := *ts.cfg
	withTrust.TrustedCertificates = []config.TrustedCertificate{{SecurityProfileName: "SP", TrustedCertificate: "server.crt"}}
	if err := ts.e.Apply(&withTrust); err != nil {
		t.Fatal(err)
	}
	if !pingOK(old) {
		t.Fatal("a trusted certificate that checks nothing closed an established connection")
	}

	next := *ts.cfg
	next.SecurityProfiles = map[string]*config.SecurityProfile{}
	for k, v := range ts.cfg.SecurityProfiles {
		next.SecurityProfiles[k] = v
	}
	sp := *ts.cfg.SecurityProfiles["SP"]
	sp.UseClientCertificate = true
	next.SecurityProfiles["SP"] = &sp
	next.TrustedCertificates = []config.TrustedCertificate{{SecurityProfileName: "SP", TrustedCertificate: "server.crt"}}
	if err := ts.e.Apply(&next); err != nil {
		t.Fatal(err)
	}
	if pingOK(old) {
		t.Fatal("a connection admitted without a client certificate survived requiring one")
	}
}
