package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/rclone/gofakes3"
	"github.com/rclone/gofakes3/s3mem"

	"github.com/mqsight/mqsight/internal/archive"
	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/destination"
	"github.com/mqsight/mqsight/internal/destination/destinationtest"
	"github.com/mqsight/mqsight/internal/destination/file"
	"github.com/mqsight/mqsight/internal/destination/s3"
	"github.com/mqsight/mqsight/internal/destination/sftp"
	"github.com/mqsight/mqsight/internal/store"
)

const (
	testPassword = "correct horse battery staple"
	testWF       = archive.MinWorkFactor
	s3Access     = "AKIAMQSIGHTBACKUP"
	s3Secret     = "s3cr3t/Backup+Key-42"
)

// testServer is a data directory with an open configuration Manager and
// Store, and the Components a restore stops and starts.
type testServer struct {
	t      *testing.T
	dir    string
	cfg    *config.Manager
	st     *store.Store
	stops  int
	starts int
}

// newTestServer creates a data directory whose configuration is Default
// with ServerName name, changed by mutate.
func newTestServer(t *testing.T, name string, mutate func(c *config.Config)) *testServer {
	t.Helper()
	s := &testServer{t: t, dir: t.TempDir()}
	m, _, err := config.Open(filepath.Join(s.dir, "config"), func() (*config.Config, error) {
		c := config.Default()
		c.ServerName = name
		if mutate != nil {
			mutate(c)
		}
		return c, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.cfg = m
	if s.st, err = store.Open(filepath.Join(s.dir, "store"), store.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(s.userfiles(), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.st != nil {
			s.st.Close()
		}
	})
	return s
}

func (s *testServer) userfiles() string { return filepath.Join(s.dir, "userfiles") }

func (s *testServer) Stop(context.Context) error {
	s.stops++
	if s.st == nil {
		return nil
	}
	err := s.st.Close()
	s.st, s.cfg = nil, nil
	return err
}

func (s *testServer) Start(context.Context) error {
	s.starts++
	if _, err := Recover(s.dir); err != nil {
		return err
	}
	m, _, err := config.Open(filepath.Join(s.dir, "config"), nil)
	if err != nil {
		return err
	}
	st, err := store.Open(filepath.Join(s.dir, "store"), store.Options{})
	if err != nil {
		return err
	}
	s.cfg, s.st = m, st
	return nil
}

func (s *testServer) deps(open Opener) BackupDeps {
	return BackupDeps{Config: s.cfg, Store: s.st, ScratchDir: s.dir, Open: open}
}

// backupWithStore backs s up with its store to a file:// destination of
// its own and returns the result and the store URL.
func (s *testServer) backupWithStore(t *testing.T) (*BackupResult, string) {
	t.Helper()
	storeURL := "file://" + t.TempDir() + "/s.bak"
	b, err := Backup(context.Background(), BackupRequest{Password: testPassword, Dir: s.userfiles(), Store: StoreParams{URL: storeURL}, WorkFactor: testWF}, s.deps(testOpener("")))
	if err != nil {
		t.Fatal(err)
	}
	return b, storeURL
}

func (s *testServer) restorer(open Opener) *Restorer {
	return NewRestorer(s.dir, RestorerOptions{Open: open})
}

// update changes the configuration through SetProperties.
func (s *testServer) update(typ, name string, props map[string]any) {
	s.t.Helper()
	if _, err := s.cfg.Update(func(c *config.Config) error { return config.SetProperties(c, typ, name, props) }); err != nil {
		s.t.Fatal(err)
	}
}

// putMessage stores a message referenced by a durable subscription of
// clientID, and as the retained message of its topic when retain is set.
func putMessage(t testing.TB, st *store.Store, id uint64, topic, payload string, retain bool) {
	t.Helper()
	b := st.NewBatch()
	m := store.Message{ID: id, Topic: topic, Payload: []byte(payload), QoS: 1, Retain: retain}
	b.Put(store.MessageKey(id), m.Encode())
	ref := store.Reference{MessageID: id}
	b.Put(store.RefKey(string(store.SubscriptionKey("client", "sub")), id), ref.Encode())
	if retain {
		r := store.Retained{MessageID: id}
		b.Put(store.RetainedKey(topic), r.Encode())
	}
	if _, err := st.Commit(b); err != nil {
		t.Fatal(err)
	}
}

// contents returns every non-meta record of an open store; messages are
// decoded and shown with their flags so tests can mask or check them.
func contents(t testing.TB, st *store.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k := store.KindMessage; k <= store.KindQueueEntry; k++ {
		err := st.Scan(store.KindPrefix(k), func(key, value []byte) error {
			out[hex.EncodeToString(key)] = hex.EncodeToString(value)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// messages decodes every message of an open store by id.
func messages(t testing.TB, st *store.Store) map[uint64]store.Message {
	t.Helper()
	out := map[uint64]store.Message{}
	err := st.Scan(store.KindPrefix(store.KindMessage), func(key, value []byte) error {
		m, err := store.DecodeMessage(value)
		if err != nil {
			return err
		}
		out[m.ID] = m
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// treeHash lists every file and directory under root with the SHA-256 of
// file contents; two equal listings mean nothing was created, removed or
// changed.
func treeHash(t testing.TB, root string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			lines = append(lines, "d "+rel)
			return nil
		}
		if rel == ".lock" {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		lines = append(lines, fmt.Sprintf("f %s %x", rel, h.Sum(nil)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// testOpener is the scheme table a server would write, for tests:
// file, sftp/scp (known_hosts file given), s3 (plain HTTP allowed).
func testOpener(knownHosts string) Opener {
	return func(ctx context.Context, loc *destination.Location, cred destination.Credentials) (destination.Destination, error) {
		switch loc.Scheme {
		case destination.SchemeFile:
			return file.FromLocation(loc)
		case destination.SchemeSFTP, destination.SchemeSCP:
			return sftp.Dial(ctx, loc, cred, sftp.Options{KnownHostsFile: knownHosts})
		case destination.SchemeS3:
			return s3.New(loc, cred, s3.Options{PartSize: s3.MinPartSize, MaxRetries: 1})
		}
		return nil, fmt.Errorf("%w: scheme %s", destination.ErrBadURL, loc.Scheme)
	}
}

// startS3 runs gofakes3 on 127.0.0.1 with signature checking and a bucket
// "bucket"; it returns the host:port.
func startS3(t *testing.T) string {
	t.Helper()
	backend := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithV4Auth(map[string]string{s3Access: s3Secret})).Server())
	t.Cleanup(srv.Close)
	if err := backend.CreateBucket(context.Background(), "bucket"); err != nil {
		t.Fatal(err)
	}
	return srv.Listener.Addr().String()
}

// opensshEnv is the real OpenSSH server of tests/sshd/start.sh.
type opensshEnv struct {
	addr, user, password, knownHosts, dir string
}

// loadOpenSSH reads /tmp/mqsight-sshd/env (MQSIGHT_SSHD_ENV overrides);
// skips without it, fails without it under CI=true.
func loadOpenSSH(t *testing.T) opensshEnv {
	o := destinationtest.RequireOpenSSH(t)
	return opensshEnv{addr: o.Addr, user: o.User, password: o.Password, knownHosts: o.KnownHosts, dir: o.Dir}
}

// mustErr fails unless err wraps want.
func mustErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}

func sha256hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
