package destinationtest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
)

// OpenSSH describes the real OpenSSH test server that tests/sshd/start.sh
// runs on 127.0.0.1 (a system user with password authentication and an
// upload directory).
type OpenSSH struct {
	Addr       string // host:port
	User       string
	Password   string
	KnownHosts string // known_hosts file naming the server's host keys
	HostKey    string // SHA-256 fingerprint of its ed25519 host key
	Dir        string // writable upload directory, absolute
}

// DefaultOpenSSHEnv is where tests/sshd/start.sh writes its env file;
// MQSIGHT_SSHD_ENV names another.
const DefaultOpenSSHEnv = "/tmp/mqsight-sshd/env"

// ReadOpenSSH reads the env file of the OpenSSH test server.
func ReadOpenSSH() (OpenSSH, error) {
	path := os.Getenv("MQSIGHT_SSHD_ENV")
	if path == "" {
		path = DefaultOpenSSHEnv
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return OpenSSH{}, err
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			vars[k] = v
		}
	}
	pw, err := os.ReadFile(vars["MQSIGHT_SSHD_PASSWORD_FILE"])
	if err != nil {
		return OpenSSH{}, fmt.Errorf("OpenSSH test server password: %w", err)
	}
	o := OpenSSH{
		Addr: vars["MQSIGHT_SSHD_ADDR"], User: vars["MQSIGHT_SSHD_USER"], Password: strings.TrimSpace(string(pw)),
		KnownHosts: vars["MQSIGHT_SSHD_KNOWN_HOSTS"], HostKey: vars["MQSIGHT_SSHD_HOST_KEY"], Dir: vars["MQSIGHT_SSHD_PATH"],
	}
	if o.Addr == "" || o.User == "" || o.Dir == "" || o.KnownHosts == "" || o.HostKey == "" {
		return OpenSSH{}, fmt.Errorf("env file %s is incomplete", path)
	}
	return o, nil
}

// RequireOpenSSH returns the OpenSSH test server. Without it the test is
// skipped with a message, except under CI=true, where it fails: CI sets the
// server up (.ci/run runs tests/sshd/start.sh).
func RequireOpenSSH(t testing.TB) OpenSSH {
	t.Helper()
	o, err := ReadOpenSSH()
	if err != nil {
		msg := "no OpenSSH test server (" + err.Error() + "); run `sudo tests/sshd/start.sh` to start it"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return o
}
