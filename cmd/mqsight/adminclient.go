package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// adminFlags are the connection flags of the commands that talk to a
// running server's REST admin API.
type adminFlags struct {
	server      string
	user        string
	password    string
	caFile      string
	fingerprint string
	timeout     time.Duration
}

func (f *adminFlags) register(cmd *cobra.Command) {
	def := os.Getenv("MQSIGHT_SERVER")
	if def == "" {
		def = "https://127.0.0.1:9089"
	}
	user := os.Getenv("MQSIGHT_ADMIN_USER")
	if user == "" {
		user = "admin"
	}
	fl := cmd.PersistentFlags()
	fl.StringVar(&f.server, "server", def, "admin API URL (env MQSIGHT_SERVER)")
	fl.StringVar(&f.user, "user", user, "admin user (env MQSIGHT_ADMIN_USER)")
	fl.StringVar(&f.password, "password", "", "admin password of --user for the admin API (env MQSIGHT_ADMIN_PASSWORD; prompted when unset)")
	fl.StringVar(&f.caFile, "ca-file", "", "PEM file of the CA (or self-signed certificate) to trust")
	fl.StringVar(&f.fingerprint, "fingerprint", "", "SHA-256 fingerprint (hex) of the server certificate to pin, as the server logs it (certSHA256)")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, "timeout of each request")
}

// adminClient is a REST admin API client.
type adminClient struct {
	base       string
	user, pass string
	http       *http.Client
	reconnect  time.Duration // how long pollJob rides out an unreachable server
}

// client builds the client: credentials from flags, the environment or a
// prompt; TLS trusting the system roots, --ca-file, or only the pinned
// --fingerprint.
func (f *adminFlags) client(cmd *cobra.Command) (*adminClient, error) {
	pass := f.password
	if pass == "" {
		pass = os.Getenv("MQSIGHT_ADMIN_PASSWORD")
	}
	if pass == "" {
		if !term.IsTerminal(int(os.Stdin.Fd())) {
			return nil, errors.New("no admin password: use --password, MQSIGHT_ADMIN_PASSWORD or a terminal")
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "Password for %s: ", f.user)
		b, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return nil, fmt.Errorf("read password: %w", err)
		}
		pass = string(b)
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.caFile != "" {
		pem, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificate", f.caFile)
		}
		tlsConf.RootCAs = pool
	}
	if f.fingerprint != "" {
		pin, err := hex.DecodeString(strings.ReplaceAll(strings.ToLower(f.fingerprint), ":", ""))
		if err != nil || len(pin) != sha256.Size {
			return nil, errors.New("--fingerprint must be 64 hex digits (SHA-256)")
		}
		// The pin replaces chain and name verification: the connection is
		// accepted only when the server's leaf certificate has exactly this
		// SHA-256, which is what an operator of a self-signed server checks.
		tlsConf.InsecureSkipVerify = true
		tlsConf.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server sent no certificate")
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if !bytes.Equal(sum[:], pin) {
				return fmt.Errorf("server certificate SHA-256 %x does not match --fingerprint", sum)
			}
			return nil
		}
	}
	return &adminClient{
		base: strings.TrimRight(f.server, "/"), user: f.user, pass: pass,
		http:      &http.Client{Timeout: f.timeout, Transport: &http.Transport{TLSClientConfig: tlsConf}},
		reconnect: jobReconnect,
	}, nil
}

// apiReply is the admin API's reply to a non-GET or an error.
type apiReply struct {
	Version   string
	Code      string
	Message   string
	RequestID string
}

// do sends a request and returns the body of a 2xx reply; any other reply
// becomes an error carrying its code and message.
func (c *adminClient) do(method, path string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(c.user, c.pass)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := send(c.http, req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, c.replyError(method, path, resp.StatusCode, data)
	}
	return data, nil
}

// send sends req with hc (an adminClient's, or a copy with other
// timeouts). An error that the operator fixes with this command's own
// flags says so.
func send(hc *http.Client, req *http.Request) (*http.Response, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return nil, explainTransport(err)
	}
	return resp, nil
}

// explainTransport puts in front of a failed request's error what to do
// about it, when that is one of the connection flags: a certificate the
// client does not trust is a bare x509 error otherwise.
func explainTransport(err error) error {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("the server's certificate is not trusted: give --ca-file with its CA certificate (for the "+
			"self-signed one, the server's <datadir>/config/certificates/mqsight-admin-selfsigned.crt), or pin it with "+
			"--fingerprint and the certSHA256 the server logs at start: %w", err)
	case errors.As(err, &hostname):
		return fmt.Errorf("the server's certificate is not valid for %s: use a --server host name the certificate holds, "+
			"or pin it with --fingerprint and the certSHA256 the server logs at start: %w", hostname.Host, err)
	case errors.As(err, &invalid):
		return fmt.Errorf("the server's certificate is not valid (expired, or not for TLS servers): renew it, or pin it "+
			"with --fingerprint and the certSHA256 the server logs at start: %w", err)
	}
	return err
}

// plainHTTPOnTLS is what Go's HTTPS server answers, with status 400, to a
// request in plain HTTP.
const plainHTTPOnTLS = "Client sent an HTTP request to an HTTPS server"

// replyError is the error for a reply of the given status with body data
// (the admin API's JSON error, if it is one).
func (c *adminClient) replyError(method, path string, status int, data []byte) *replyError {
	e := &replyError{method: method, path: path, status: status}
	var r apiReply
	switch {
	case json.Unmarshal(data, &r) == nil && r.Code != "":
		e.code, e.message = r.Code, r.Message
	case status == http.StatusBadRequest && bytes.Contains(data, []byte(plainHTTPOnTLS)):
		e.message = "the admin endpoint speaks HTTPS, not plain HTTP: use --server " +
			"https://" + strings.TrimPrefix(c.base, "http://")
	}
	return e
}

// replyError is a reply other than 2xx: the server answered, and refused.
type replyError struct {
	method, path  string
	status        int
	code, message string
}

func (e *replyError) Error() string {
	if e.code == "" && e.message == "" {
		return fmt.Sprintf("%s %s: HTTP %d", e.method, e.path, e.status)
	}
	if e.code == "" {
		return fmt.Sprintf("%s %s: HTTP %d: %s", e.method, e.path, e.status, e.message)
	}
	return fmt.Sprintf("%s %s: HTTP %d %s: %s", e.method, e.path, e.status, e.code, e.message)
}

// printJSON writes a JSON reply indented.
func printJSON(w io.Writer, data []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(data), "", "  "); err != nil {
		_, err = w.Write(data)
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}
