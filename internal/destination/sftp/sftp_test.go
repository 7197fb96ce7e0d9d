package sftp

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/destination"
	"github.com/mqsight/mqsight/internal/destination/destinationtest"
	"github.com/mqsight/mqsight/internal/testport"
)

func dialTest(t *testing.T, srv *destinationtest.SFTPServer, url string, cred destination.Credentials, opts Options) (*Destination, error) {
	t.Helper()
	loc, err := destination.Parse(url)
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

func creds(srv *destinationtest.SFTPServer) destination.Credentials {
	return destination.Credentials{UserID: srv.User, Password: srv.Password, HostKey: srv.HostKey}
}

func TestConformance(t *testing.T) {
	destinationtest.Run(t, func(t *testing.T) destination.Destination {
		root := t.TempDir()
		srv := destinationtest.StartSFTPServer(t, root)
		d, err := dialTest(t, srv, "sftp://"+srv.Addr+root+"/name", creds(srv), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

// TestSCPAndLoginDir: scp:// is served by SFTP too, and ~/ paths resolve
// against the login directory.
func TestSCPAndLoginDir(t *testing.T) {
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "sub"), 0o700)
	srv := destinationtest.StartSFTPServer(t, root)
	d, err := dialTest(t, srv, "scp://"+srv.Addr+"/~/sub/store.age", creds(srv), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ci := destinationtest.Put(t, d, "store.age", []byte("via scp"))
	if ci.Synced {
		t.Errorf("Synced = true, but the in-process server has no fsync@openssh.com")
	}
	got, err := os.ReadFile(filepath.Join(root, "sub", "store.age"))
	if err != nil || string(got) != "via scp" {
		t.Errorf("file on server = %q, %v", got, err)
	}
}

// TestTemporaryName checks the name an upload in flight has on the server,
// and that Abort removes it.
func TestTemporaryName(t *testing.T) {
	root := t.TempDir()
	srv := destinationtest.StartSFTPServer(t, root)
	d, err := dialTest(t, srv, "sftp://"+srv.Addr+root+"/x", creds(srv), Options{})
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	up, err := d.Create(context.Background(), "store.age")
	if err != nil {
		t.Fatal(err)
	}
	up.Write(make([]byte, 3<<20))
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 {
		t.Fatalf("server directory holds %v during an upload", entries)
	}
	if final, ok := destination.IsTempName(entries[0].Name()); !ok || final != "store.age" {
		t.Errorf("temporary file %q is not clearly temporary", entries[0].Name())
	}
	if fi, _ := entries[0].Info(); fi.Mode().Perm() != 0o600 {
		t.Errorf("temporary file mode %v, want 0600", fi.Mode().Perm())
	}
	if err := up.Abort(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("after Abort the server directory holds %v", entries)
	}
	waitGoroutines(t, before)
}

// waitGoroutines fails t unless the number of goroutines falls to at most
// n within a few seconds: an upload's goroutines end with it.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after the upload ended, %d before it began", runtime.NumGoroutine(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHostKeyVerification(t *testing.T) {
	root := t.TempDir()
	srv := destinationtest.StartSFTPServer(t, root)
	other := destinationtest.StartSFTPServer(t, t.TempDir())
	url := "sftp://" + srv.Addr + root + "/x"
	base := destination.Credentials{UserID: srv.User, Password: srv.Password}

	// Pinned fingerprint of another server.
	wrong := base
	wrong.HostKey = other.HostKey
	if _, err := dialTest(t, srv, url, wrong, Options{}); !errors.Is(err, destination.ErrHostKey) {
		t.Errorf("wrong pinned fingerprint: %v, want ErrHostKey", err)
	} else if !strings.Contains(err.Error(), srv.HostKey) {
		t.Errorf("error does not name the presented key: %v", err)
	}

	// known_hosts that lists the server.
	if _, err := dialTest(t, srv, url, base, Options{KnownHostsFile: srv.KnownHosts(t)}); err != nil {
		t.Errorf("known_hosts with the server: %v", err)
	}
	// known_hosts that lists another key for the same address.
	mismatch := filepath.Join(t.TempDir(), "known_hosts")
	line, _ := os.ReadFile(other.KnownHosts(t))
	os.WriteFile(mismatch, []byte(strings.Replace(string(line), other.Addr, srv.Addr, 1)), 0o600)
	if _, err := dialTest(t, srv, url, base, Options{KnownHostsFile: mismatch}); !errors.Is(err, destination.ErrHostKey) {
		t.Errorf("known_hosts mismatch: %v, want ErrHostKey", err)
	}
	// Empty known_hosts: unknown host.
	empty := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(empty, nil, 0o600)
	if _, err := dialTest(t, srv, url, base, Options{KnownHostsFile: empty}); !errors.Is(err, destination.ErrHostKey) {
		t.Errorf("empty known_hosts: %v, want ErrHostKey", err)
	}
	// Missing known_hosts file.
	if _, err := dialTest(t, srv, url, base, Options{KnownHostsFile: filepath.Join(t.TempDir(), "absent")}); !errors.Is(err, destination.ErrHostKey) {
		t.Errorf("missing known_hosts: %v, want ErrHostKey", err)
	}
	// Default path: $HOME/.ssh/known_hosts.
	home := t.TempDir()
	os.Mkdir(filepath.Join(home, ".ssh"), 0o700)
	kh, _ := os.ReadFile(srv.KnownHosts(t))
	os.WriteFile(filepath.Join(home, ".ssh", "known_hosts"), kh, 0o600)
	t.Setenv("HOME", home)
	if _, err := dialTest(t, srv, url, base, Options{}); err != nil {
		t.Errorf("default known_hosts: %v", err)
	}
}

func TestWrongPassword(t *testing.T) {
	root := t.TempDir()
	srv := destinationtest.StartSFTPServer(t, root)
	cred := creds(srv)
	cred.Password = "Not-The-Password-42"
	_, err := dialTest(t, srv, "sftp://"+srv.Addr+root+"/x", cred, Options{})
	if !errors.Is(err, destination.ErrAuth) {
		t.Fatalf("wrong password: %v, want ErrAuth", err)
	}
	if strings.Contains(err.Error(), cred.Password) || strings.Contains(err.Error(), srv.Password) {
		t.Errorf("error quotes a password: %v", err)
	}
	cred = creds(srv)
	cred.UserID = "nobody"
	if _, err := dialTest(t, srv, "sftp://"+srv.Addr+root+"/x", cred, Options{}); !errors.Is(err, destination.ErrAuth) {
		t.Errorf("wrong user: %v, want ErrAuth", err)
	}
}

func TestUnreachable(t *testing.T) {
	// A port that was just free: nothing listens there.
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(testport.Free(t)))
	start := time.Now()
	_, err := dialTest(t, nil, "sftp://"+addr+"/tmp/x", destination.Credentials{UserID: "u", Password: "p", HostKey: "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"}, Options{})
	if !errors.Is(err, destination.ErrUnreachable) {
		t.Errorf("closed port: %v, want ErrUnreachable", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("closed port took %v", el)
	}
}

// TestHandshakeTimeout: a server that accepts but never speaks SSH is
// abandoned after DialTimeout, and a cancelled context ends the wait too.
func TestHandshakeTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	cred := destination.Credentials{UserID: "u", Password: "p", HostKey: "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"}
	loc, _ := destination.Parse("sftp://" + ln.Addr().String() + "/tmp/x")
	start := time.Now()
	_, err = Dial(context.Background(), loc, cred, Options{DialTimeout: 300 * time.Millisecond})
	if !errors.Is(err, destination.ErrUnreachable) || time.Since(start) > 5*time.Second {
		t.Errorf("silent server: %v after %v, want ErrUnreachable quickly", err, time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = Dial(ctx, loc, cred, Options{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled dial: %v, want context.Canceled", err)
	}
}

func TestMissingDirectory(t *testing.T) {
	root := t.TempDir()
	srv := destinationtest.StartSFTPServer(t, root)
	if _, err := dialTest(t, srv, "sftp://"+srv.Addr+root+"/missing/x", creds(srv), Options{}); !errors.Is(err, destination.ErrNotFound) {
		t.Errorf("missing directory: %v, want ErrNotFound", err)
	}
}

// TestConnectionLost: a dropped connection fails the upload with
// ErrUnreachable, and no final file appears.
func TestConnectionLost(t *testing.T) {
	root := t.TempDir()
	srv := destinationtest.StartSFTPServer(t, root)
	d, err := dialTest(t, srv, "sftp://"+srv.Addr+root+"/x", creds(srv), Options{})
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	up, err := d.Create(context.Background(), "store.age")
	if err != nil {
		t.Fatal(err)
	}
	up.Write(make([]byte, 2<<20))
	srv.DropConnections()
	_, werr := up.Write(make([]byte, 2<<20))
	_, cerr := up.Commit()
	if cerr == nil {
		t.Fatalf("Commit after the connection dropped succeeded")
	}
	if !errors.Is(cerr, destination.ErrUnreachable) && !errors.Is(werr, destination.ErrUnreachable) {
		t.Errorf("errors after drop do not say unreachable: write %v, commit %v", werr, cerr)
	}
	if _, err := os.Stat(filepath.Join(root, "store.age")); !os.IsNotExist(err) {
		t.Errorf("final file exists after a dropped upload: %v", err)
	}
	waitGoroutines(t, before)
}

func TestDialRefusesBadInput(t *testing.T) {
	loc, _ := destination.Parse("file:///tmp/x")
	if _, err := Dial(context.Background(), loc, destination.Credentials{}, Options{}); !errors.Is(err, destination.ErrBadURL) {
		t.Errorf("file location: %v", err)
	}
	loc, _ = destination.Parse("sftp://127.0.0.1:1/tmp/x")
	if _, err := Dial(context.Background(), loc, destination.Credentials{UserID: "u"}, Options{}); !errors.Is(err, destination.ErrCredentials) {
		t.Errorf("missing password: %v", err)
	}
}

// TestLostLinkIsUncertain drops the real SSH connection right after the
// server made the hard link that publishes an upload, before it answered:
// the object is there under its final name, and Commit says it cannot know
// (ErrUncertain), never that it failed.
func TestLostLinkIsUncertain(t *testing.T) {
	root := t.TempDir()
	srv := destinationtest.StartSFTPServer(t, root)
	d, err := dialTest(t, srv, "sftp://"+srv.Addr+root+"/store.age", creds(srv), Options{})
	if err != nil {
		t.Fatal(err)
	}
	up, err := d.Create(context.Background(), "store.age")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.Write([]byte("published, answer lost")); err != nil {
		t.Fatal(err)
	}
	srv.DropAfterNext("hardlink@openssh.com")
	_, err = up.Commit()
	if !errors.Is(err, destination.ErrUncertain) || !errors.Is(err, destination.ErrUnreachable) {
		t.Fatalf("Commit with its link's answer lost: %v, want ErrUncertain (and ErrUnreachable)", err)
	}
	if got, err := os.ReadFile(filepath.Join(root, "store.age")); err != nil || string(got) != "published, answer lost" {
		t.Fatalf("the link did not happen in this test: %q, %v", got, err)
	}
}
