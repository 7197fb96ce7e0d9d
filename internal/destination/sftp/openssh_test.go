package sftp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/destination"
	"github.com/mqsight/mqsight/internal/destination/destinationtest"
	"github.com/mqsight/mqsight/internal/testport"
)

// defaultSSHDEnv is where tests/sshd/start.sh writes its env file.
const defaultSSHDEnv = "/tmp/mqsight-sshd/env"

// opensshEnv is the real OpenSSH server started by tests/sshd/start.sh.
type opensshEnv struct {
	addr, user, password, knownHosts, hostKey, dir string
}

// loadOpenSSH returns the OpenSSH test server (destinationtest.RequireOpenSSH).
func loadOpenSSH(t *testing.T) opensshEnv {
	o := destinationtest.RequireOpenSSH(t)
	return opensshEnv{addr: o.Addr, user: o.User, password: o.Password, knownHosts: o.KnownHosts, hostKey: o.HostKey, dir: o.Dir}
}

func (e opensshEnv) cred() destination.Credentials {
	return destination.Credentials{UserID: e.user, Password: e.password}
}

func (e opensshEnv) dial(t *testing.T, dir string, cred destination.Credentials, opts Options) (*Destination, error) {
	t.Helper()
	loc, err := destination.Parse("sftp://" + e.addr + dir + "/x")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := Dial(ctx, loc, cred, opts)
	if err == nil {
		t.Cleanup(func() { d.Close() })
	}
	return d, err
}

// scratchDir makes a fresh directory on the server for one test and removes
// it, with whatever is left in it, when the test ends. It returns a
// Destination over that directory sharing base's connection (one password
// authentication for many tests: OpenSSH's password hashing is slow).
func scratchDir(t *testing.T, base *Destination) *Destination {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	dir := path.Join(base.dir, "t-"+hex.EncodeToString(b[:]))
	if err := base.client.Mkdir(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := base.client.RemoveAll(dir); err != nil {
			t.Errorf("clean up %s: %v", dir, err)
		}
	})
	sub := *base
	sub.dir = dir
	return &sub
}

func TestOpenSSHConformance(t *testing.T) {
	e := loadOpenSSH(t)
	base, err := e.dial(t, e.dir, e.cred(), Options{KnownHostsFile: e.knownHosts})
	if err != nil {
		t.Fatal(err)
	}
	destinationtest.Run(t, func(t *testing.T) destination.Destination {
		return scratchDir(t, base)
	})
}

// TestOpenSSHSyncedAndTemp: OpenSSH offers fsync@openssh.com, so commits
// report Synced; an upload in flight is only a temporary name.
func TestOpenSSHSyncedAndTemp(t *testing.T) {
	e := loadOpenSSH(t)
	cred := e.cred()
	cred.HostKey = e.hostKey
	base, err := e.dial(t, e.dir, cred, Options{})
	if err != nil {
		t.Fatalf("dial with pinned fingerprint: %v", err)
	}
	d := scratchDir(t, base)
	dir := d.dir
	if !d.SupportsFsync() {
		t.Errorf("OpenSSH server does not offer fsync@openssh.com")
	}
	up, err := d.Create(context.Background(), "store.age")
	if err != nil {
		t.Fatal(err)
	}
	up.Write(make([]byte, 3<<20))
	names, err := d.client.ReadDir(dir)
	if err != nil || len(names) != 1 {
		t.Fatalf("server directory during upload: %v, %v", names, err)
	}
	if final, ok := destination.IsTempName(names[0].Name()); !ok || final != "store.age" {
		t.Errorf("upload in flight is named %q", names[0].Name())
	}
	ci, err := up.Commit()
	if err != nil || !ci.Synced || ci.Size != 3<<20 {
		t.Fatalf("Commit = %+v, %v; want Synced", ci, err)
	}
	names, _ = d.client.ReadDir(dir)
	if len(names) != 1 || names[0].Name() != "store.age" {
		t.Errorf("after commit the directory holds %v", names)
	}
}

func TestOpenSSHRefusals(t *testing.T) {
	e := loadOpenSSH(t)
	other := destinationtest.StartSFTPServer(t, t.TempDir())

	wrongKey := e.cred()
	wrongKey.HostKey = other.HostKey
	if _, err := e.dial(t, e.dir, wrongKey, Options{}); !errors.Is(err, destination.ErrHostKey) {
		t.Errorf("wrong fingerprint: %v, want ErrHostKey", err)
	}

	empty := path.Join(t.TempDir(), "known_hosts")
	os.WriteFile(empty, nil, 0o600)
	if _, err := e.dial(t, e.dir, e.cred(), Options{KnownHostsFile: empty}); !errors.Is(err, destination.ErrHostKey) {
		t.Errorf("empty known_hosts: %v, want ErrHostKey", err)
	}

	bad := e.cred()
	bad.Password = "not-" + e.password
	bad.HostKey = e.hostKey
	_, err := e.dial(t, e.dir, bad, Options{})
	if !errors.Is(err, destination.ErrAuth) {
		t.Errorf("wrong password: %v, want ErrAuth", err)
	} else if strings.Contains(err.Error(), bad.Password) || strings.Contains(err.Error(), e.password) {
		t.Errorf("error quotes a password: %v", err)
	}

	closed := net.JoinHostPort("127.0.0.1", strconv.Itoa(testport.Free(t)))
	loc, _ := destination.Parse("sftp://" + closed + e.dir + "/x")
	start := time.Now()
	if _, err := Dial(context.Background(), loc, destination.Credentials{UserID: e.user, Password: e.password, HostKey: e.hostKey}, Options{}); !errors.Is(err, destination.ErrUnreachable) {
		t.Errorf("closed port: %v, want ErrUnreachable", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("closed port took %v", el)
	}
}
