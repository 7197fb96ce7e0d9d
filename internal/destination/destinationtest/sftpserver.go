package destinationtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/pkg/sftp"
	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
)

// SFTPServer is an in-process SSH server on 127.0.0.1 that offers only the
// SFTP subsystem (github.com/pkg/sftp) over the real filesystem, with
// password authentication and a freshly generated ed25519 host key. Paths
// are the real filesystem's; relative paths resolve against Root (the
// "login directory"). It advertises hardlink@openssh.com and
// posix-rename@openssh.com but not fsync@openssh.com, like some real
// servers.
//
// Close (registered with t.Cleanup) stops the listener, closes every
// connection and waits for all server goroutines; mu guards conns.
type SFTPServer struct {
	// Addr is "127.0.0.1:port".
	Addr string
	// HostKey is the host key's fingerprint, "SHA256:<base64>".
	HostKey string
	// PublicKey is the host's public key.
	PublicKey ssh.PublicKey
	// User and Password are the only accepted credentials.
	User, Password string
	// Root is the login directory.
	Root string

	ln  net.Listener
	cfg *ssh.ServerConfig
	wg  sync.WaitGroup
	mu  struct {
		sync.Mutex
		conns  map[net.Conn]struct{}
		closed bool
	}
}

// StartSFTPServer starts an SFTPServer serving root and stops it when the
// test ends.
func StartSFTPServer(t testing.TB, root string) *SFTPServer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	var pw [12]byte
	rand.Read(pw[:])
	s := &SFTPServer{
		HostKey:   ssh.FingerprintSHA256(signer.PublicKey()),
		PublicKey: signer.PublicKey(),
		User:      "backup",
		Password:  hex.EncodeToString(pw[:]),
		Root:      root,
	}
	s.mu.conns = make(map[net.Conn]struct{})
	s.cfg = &ssh.ServerConfig{
		PasswordCallback: func(c ssh.ConnMetadata, p []byte) (*ssh.Permissions, error) {
			userOK := subtle.ConstantTimeCompare([]byte(c.User()), []byte(s.User))
			passOK := subtle.ConstantTimeCompare(p, []byte(s.Password))
			if userOK&passOK == 1 {
				return nil, nil
			}
			return nil, errors.New("wrong user or password")
		},
	}
	s.cfg.AddHostKey(signer)
	s.ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = s.ln.Addr().String()
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

// KnownHosts writes a known_hosts file holding the server's key under its
// address and returns its path.
func (s *SFTPServer) KnownHosts(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{s.Addr}, s.PublicKey) + "\n"
	if err := os.WriteFile(p, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// DropConnections closes every open connection, as a network failure would.
func (s *SFTPServer) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.mu.conns {
		c.Close()
	}
}

// Close stops the server and waits for its goroutines. It is idempotent.
func (s *SFTPServer) Close() {
	s.mu.Lock()
	if !s.mu.closed {
		s.mu.closed = true
		s.ln.Close()
		for c := range s.mu.conns {
			c.Close()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *SFTPServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.mu.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.mu.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serveConn(c)
			s.mu.Lock()
			delete(s.mu.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

func (s *SFTPServer) serveConn(c net.Conn) {
	sc, chans, reqs, err := ssh.NewServerConn(c, s.cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { ssh.DiscardRequests(reqs) })
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		wg.Go(func() { s.serveSession(ch, chReqs) })
	}
}

// serveSession answers the session's requests: only "subsystem sftp" is
// accepted, and it is served until the client closes the channel.
func (s *SFTPServer) serveSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	started := false
	for req := range reqs {
		ok := req.Type == "subsystem" && !started && len(req.Payload) >= 4 && string(req.Payload[4:]) == "sftp"
		req.Reply(ok, nil)
		if !ok {
			continue
		}
		started = true
		srv, err := sftp.NewServer(ch, sftp.WithServerWorkingDirectory(s.Root))
		if err != nil {
			return
		}
		wg.Go(func() {
			srv.Serve()
			srv.Close()
			ch.Close()
		})
	}
}
