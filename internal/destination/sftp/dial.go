package sftp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	pkgsftp "github.com/pkg/sftp"
	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"

	"github.com/mqsight/mqsight/internal/destination"
)

// DefaultDialTimeout bounds TCP connect, SSH handshake and authentication
// when Options.DialTimeout is zero.
const DefaultDialTimeout = 15 * time.Second

// Options tune Dial. The zero value is ready to use.
type Options struct {
	// KnownHostsFile is the known_hosts file used when no fingerprint is
	// pinned. Empty: ~/.ssh/known_hosts.
	KnownHostsFile string
	// DialTimeout bounds connect + handshake + authentication. Zero:
	// DefaultDialTimeout.
	DialTimeout time.Duration
}

// pinnedHostKeyAlgos is the host key preference when a fingerprint is
// pinned: ed25519 first, the key `ssh-keygen -lf` users most often pin.
var pinnedHostKeyAlgos = []string{
	ssh.KeyAlgoED25519,
	ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
}

// Dial connects to loc's host, verifies its host key, authenticates with
// cred and checks that loc's directory exists. The Destination owns the
// connection: Close it.
func Dial(ctx context.Context, loc *destination.Location, cred destination.Credentials, opts Options) (*Destination, error) {
	if loc.Scheme != destination.SchemeSFTP && loc.Scheme != destination.SchemeSCP {
		return nil, fmt.Errorf("sftp destination: %w: scheme %q", destination.ErrBadURL, loc.Scheme)
	}
	if err := loc.CheckCredentials(cred); err != nil {
		return nil, fmt.Errorf("sftp %s: %w", loc.Host, err)
	}
	timeout := opts.DialTimeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	cfg := &ssh.ClientConfig{
		User: cred.UserID,
		Auth: []ssh.AuthMethod{
			ssh.Password(cred.Password),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, echos []bool) ([]string, error) {
				if len(questions) == 0 {
					return nil, nil
				}
				if len(questions) != 1 || echos[0] {
					return nil, errors.New("keyboard-interactive challenge is not a single password prompt")
				}
				return []string{cred.Password}, nil
			}),
		},
		Timeout: timeout,
	}
	var hostKeyErr error
	if cred.HostKey != "" {
		want := destination.NormalizeFingerprint(cred.HostKey)
		cfg.HostKeyAlgorithms = pinnedHostKeyAlgos
		cfg.HostKeyCallback = func(host string, _ net.Addr, key ssh.PublicKey) error {
			if got := ssh.FingerprintSHA256(key); got != want {
				hostKeyErr = fmt.Errorf("%w: %s presented %s key %s, pinned %s", destination.ErrHostKey, loc.Host, key.Type(), got, want)
				return hostKeyErr
			}
			return nil
		}
	} else {
		path := opts.KnownHostsFile
		if path == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return nil, fmt.Errorf("sftp %s: %w: no pinned host key and no home directory for known_hosts: %v", loc.Host, destination.ErrHostKey, err)
			}
			path = filepath.Join(home, ".ssh", "known_hosts")
		}
		db, err := knownhosts.NewDB(path)
		if err != nil {
			return nil, fmt.Errorf("sftp %s: %w: no pinned host key fingerprint and known_hosts unusable: %v", loc.Host, destination.ErrHostKey, err)
		}
		cb := db.HostKeyCallback()
		cfg.HostKeyAlgorithms = db.HostKeyAlgorithms(loc.Host)
		cfg.HostKeyCallback = func(host string, remote net.Addr, key ssh.PublicKey) error {
			err := cb(host, remote, key)
			switch {
			case err == nil:
				return nil
			case knownhosts.IsHostUnknown(err):
				hostKeyErr = fmt.Errorf("%w: %s is not in %s (its %s key is %s)", destination.ErrHostKey, loc.Host, path, key.Type(), ssh.FingerprintSHA256(key))
			case knownhosts.IsHostKeyChanged(err):
				hostKeyErr = fmt.Errorf("%w: %s presented %s key %s, which does not match %s", destination.ErrHostKey, loc.Host, key.Type(), ssh.FingerprintSHA256(key), path)
			default:
				hostKeyErr = fmt.Errorf("%w: %s: %v", destination.ErrHostKey, loc.Host, err)
			}
			return hostKeyErr
		}
	}

	dialCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dialCtx, "tcp", loc.Host)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("sftp %s: connect: %w", loc.Host, ctx.Err())
		}
		return nil, fmt.Errorf("sftp %s: %w: %v", loc.Host, destination.ErrUnreachable, err)
	}
	// The handshake has no context: a deadline bounds it, and cancelling
	// ctx moves the deadline to the past.
	deadline, _ := dialCtx.Deadline()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(dialCtx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	c, chans, reqs, err := ssh.NewClientConn(conn, loc.Host, cfg)
	stopped := stop()
	if err != nil {
		conn.Close()
		switch {
		case hostKeyErr != nil:
			return nil, fmt.Errorf("sftp: %w", hostKeyErr)
		case strings.Contains(err.Error(), "unable to authenticate"):
			return nil, fmt.Errorf("sftp %s: %w: the server refused the password of user %q", loc.Host, destination.ErrAuth, cred.UserID)
		case ctx.Err() != nil:
			return nil, fmt.Errorf("sftp %s: handshake: %w", loc.Host, ctx.Err())
		default:
			return nil, fmt.Errorf("sftp %s: %w: ssh handshake: %v", loc.Host, destination.ErrUnreachable, err)
		}
	}
	if !stopped {
		c.Close()
		return nil, fmt.Errorf("sftp %s: handshake: %w", loc.Host, context.Cause(dialCtx))
	}
	conn.SetDeadline(time.Time{})
	sshClient := ssh.NewClient(c, chans, reqs)
	client, err := pkgsftp.NewClient(sshClient, pkgsftp.UseConcurrentWrites(true))
	if err != nil {
		sshClient.Close()
		return nil, fmt.Errorf("sftp %s: start SFTP subsystem: %w", loc.Host, mapErr(err))
	}
	dest := &Destination{
		host:   loc.Host,
		dir:    remoteDir(loc.Dir),
		ssh:    sshClient,
		client: client,
	}
	_, dest.hasFsync = hasExt(client, "fsync@openssh.com")
	_, dest.hasLink = hasExt(client, "hardlink@openssh.com")
	fi, err := client.Stat(dest.dir)
	if err != nil {
		dest.Close()
		return nil, fmt.Errorf("sftp %s: directory %s: %w", loc.Host, loc.Dir, mapErr(err))
	}
	if !fi.IsDir() {
		dest.Close()
		return nil, fmt.Errorf("sftp %s: %s: %w: not a directory", loc.Host, loc.Dir, destination.ErrNotFound)
	}
	return dest, nil
}

// hasExt reports whether the server advertised extension name version "1".
func hasExt(c *pkgsftp.Client, name string) (string, bool) {
	v, ok := c.HasExtension(name)
	return v, ok && v == "1"
}

// remoteDir maps a Location directory to an SFTP path: "~" and "~/rel" are
// relative to the login directory, others absolute.
func remoteDir(dir string) string {
	if dir == "~" {
		return "."
	}
	if rel, ok := strings.CutPrefix(dir, "~/"); ok {
		return rel
	}
	return dir
}
