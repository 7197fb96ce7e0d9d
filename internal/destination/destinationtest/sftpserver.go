package destinationtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
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
		conns     map[net.Conn]struct{}
		closed    bool
		dropAfter string // see DropAfterNext
	}
}

// DropAfterNext arms the server to carry out the next request op ("rename"
// for SSH_FXP_RENAME, or an extension name such as "hardlink@openssh.com")
// and then drop that connection instead of answering, as a network failure
// at the worst moment would: the client cannot know whether it happened.
// The reply is taken to be the session's next write after the request,
// which holds while the client has no other request out (as when an
// upload is committed).
func (s *SFTPServer) DropAfterNext(op string) {
	s.mu.Lock()
	s.mu.dropAfter = op
	s.mu.Unlock()
}

// takeDrop reports, and disarms, a DropAfterNext for op.
func (s *SFTPServer) takeDrop(op string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.dropAfter == "" || s.mu.dropAfter != op {
		return false
	}
	s.mu.dropAfter = ""
	return true
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
		wg.Go(func() { s.serveSession(&droppingChannel{Channel: ch, s: s, conn: c}, chReqs) })
	}
}

// serveSession answers the session's requests: only "subsystem sftp" is
// accepted, and it is served until the client closes the channel.
func (s *SFTPServer) serveSession(ch *droppingChannel, reqs <-chan *ssh.Request) {
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

// droppingChannel is a session channel that watches the SFTP requests it
// reads for the one armed by DropAfterNext, and then closes the connection
// in place of the next write (the request's reply).
type droppingChannel struct {
	ssh.Channel
	s    *SFTPServer
	conn net.Conn

	in   sftpPackets // read side; only the reading goroutine touches it
	mu   sync.Mutex
	drop bool
}

func (c *droppingChannel) Read(p []byte) (int, error) {
	n, err := c.Channel.Read(p)
	c.in.feed(p[:n], func(op string) {
		if c.s.takeDrop(op) {
			c.mu.Lock()
			c.drop = true
			c.mu.Unlock()
		}
	})
	return n, err
}

func (c *droppingChannel) Write(p []byte) (int, error) {
	c.mu.Lock()
	drop := c.drop
	c.mu.Unlock()
	if drop {
		c.conn.Close()
		return 0, net.ErrClosed
	}
	return c.Channel.Write(p)
}

// sftpPackets finds the SFTP packets in a byte stream (uint32 length, then
// the packet) and names each request's operation: "rename" for
// SSH_FXP_RENAME, the extension name for SSH_FXP_EXTENDED, "" otherwise.
// Only a packet's first bytes are kept.
type sftpPackets struct {
	hdr         []byte
	want, total int // header bytes wanted, packet bytes with the length
	skip        int // bytes of the current packet still to pass
}

const (
	sshFxpRename   = 18
	sshFxpExtended = 200
)

func (p *sftpPackets) feed(b []byte, op func(string)) {
	for len(b) > 0 {
		if p.skip > 0 {
			k := min(p.skip, len(b))
			p.skip -= k
			b = b[k:]
			continue
		}
		if len(p.hdr) < 4 {
			k := min(4-len(p.hdr), len(b))
			p.hdr = append(p.hdr, b[:k]...)
			b = b[k:]
			if len(p.hdr) == 4 {
				length := int(binary.BigEndian.Uint32(p.hdr))
				p.total, p.want = 4+length, 4+min(length, 128)
			}
			continue
		}
		k := min(p.want-len(p.hdr), len(b))
		p.hdr = append(p.hdr, b[:k]...)
		b = b[k:]
		if len(p.hdr) == p.want {
			op(requestOp(p.hdr[4:]))
			p.skip, p.hdr = p.total-p.want, p.hdr[:0]
		}
	}
}

// requestOp names the operation of a packet's first bytes (see sftpPackets).
func requestOp(pkt []byte) string {
	switch {
	case len(pkt) >= 1 && pkt[0] == sshFxpRename:
		return "rename"
	case len(pkt) >= 9 && pkt[0] == sshFxpExtended:
		n := int(binary.BigEndian.Uint32(pkt[5:9]))
		if 9+n <= len(pkt) {
			return string(pkt[9 : 9+n])
		}
	}
	return ""
}
