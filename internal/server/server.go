package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/failpoint"
	"github.com/mqsight/mqsight/internal/mqtt"
	"github.com/mqsight/mqsight/internal/store"
)

// Options configure a Server. The zero value of every field but DataDir is
// usable.
type Options struct {
	// DataDir holds config/ and store/; it is created if missing.
	DataDir string
	// Version is the server version reported by status and written into
	// backups.
	Version string
	// Logger receives structured logs; no secret is ever passed to it.
	Logger *slog.Logger
	// AdminPassword is the initial password of the admin user, used only
	// when the configuration is created at first start. Empty means
	// generate one and print it once to Console.
	AdminPassword string
	// Console receives the one-time generated admin password (default
	// os.Stdout). It is deliberately not the logger.
	Console io.Writer
	// Failpoints arms fault injection (inert without the failpoints tag).
	Failpoints *failpoint.Set
}

// Server is one running mqsight instance. Its components are created by New
// and released by Close; it is not safe to call Close concurrently with New.
type Server struct {
	opts   Options
	log    *slog.Logger
	dir    *dataDir
	config *config.Manager
	store  *store.Store
	mqtt   *mqtt.Engine
	unsub  func()
}

// New opens the data directory, the configuration (creating the embedded
// default at first start) and the store.
func New(opts Options) (s *Server, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Console == nil {
		opts.Console = os.Stdout
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	srv := &Server{opts: opts, log: opts.Logger}
	s = srv
	defer func() {
		if err != nil {
			srv.Close() // s is nil here: every error path returns nil, err
		}
	}()

	if s.dir, err = openDataDir(opts.DataDir); err != nil {
		return nil, err
	}
	s.log.Info("opened data directory", "path", s.dir.path)

	var generated string
	m, created, err := config.Open(s.dir.configDir(), func() (*config.Config, error) {
		c := config.Default()
		password := opts.AdminPassword
		if password == "" {
			password, generated = newPassword(), "yes"
		}
		admin, err := config.NewAdminUser("admin", password, "SystemAdministrator")
		if err != nil {
			return nil, err
		}
		c.AdminUsers["admin"] = admin
		if generated != "" {
			generated = password
		}
		return c, nil
	}, config.WithBeforeRename(func(string) error { return opts.Failpoints.Eval(failpoint.ConfigBeforeRename) }))
	if err != nil {
		return nil, fmt.Errorf("open configuration: %w", err)
	}
	s.config = m
	cur := m.Current()
	s.log.Info("opened configuration", "path", s.dir.configDir(), "created", created,
		"generation", cur.Generation, "serverName", cur.ServerName, "serverUID", cur.ServerUID)
	if created && generated != "" {
		fmt.Fprintf(opts.Console, "\n  mqsight: first start. Admin user %q, generated password: %s\n"+
			"  (shown once; set MQSIGHT_ADMIN_PASSWORD before the first start to choose it)\n\n", "admin", generated)
	}

	s.store, err = store.Open(s.dir.storeDir(), store.Options{
		Logger:     s.log,
		BeforeSync: func() error { return opts.Failpoints.Eval(failpoint.StoreBeforeSync) },
	})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s.log.Info("opened store", "path", s.dir.storeDir(), "storeUID", s.store.UID(), "lsn", s.store.LastLSN())

	s.mqtt, err = mqtt.New(mqtt.Options{Store: s.store, Logger: s.log})
	if err != nil {
		return nil, err
	}
	s.mqtt.SetCertificateDir(m.CertificateDir())
	return s, nil
}

// Start starts the listeners of the configuration in force and follows
// configuration changes. Listener errors are logged, not fatal: an endpoint
// whose port is taken must not keep the admin API down.
func (s *Server) Start() {
	if err := s.mqtt.Apply(s.config.Current()); err != nil {
		s.log.Error("some endpoints did not start", "err", err)
	}
	s.unsub = s.config.Subscribe(func(_, c *config.Config) {
		if err := s.mqtt.Apply(c); err != nil {
			s.log.Error("some endpoints did not start", "err", err)
		}
	})
}

// MQTT returns the MQTT engine.
func (s *Server) MQTT() *mqtt.Engine { return s.mqtt }

// Config returns the configuration manager.
func (s *Server) Config() *config.Manager { return s.config }

// Store returns the store.
func (s *Server) Store() *store.Store { return s.store }

// Close stops every component in reverse order of start. It is idempotent.
func (s *Server) Close() error {
	var errs []error
	if s.unsub != nil {
		s.unsub()
		s.unsub = nil
	}
	if s.mqtt != nil {
		if err := s.mqtt.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close mqtt engine: %w", err))
		}
		s.mqtt = nil
	}
	if s.store != nil {
		if err := s.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
		s.store = nil
	}
	if s.dir != nil {
		if err := s.dir.close(); err != nil {
			errs = append(errs, err)
		}
		s.dir = nil
	}
	return errors.Join(errs...)
}

// Run starts a server and serves until ctx is done, then shuts it down.
func Run(ctx context.Context, opts Options) error {
	s, err := New(opts)
	if err != nil {
		return err
	}
	s.Start()
	s.log.Info("mqsight started", "version", opts.Version)
	<-ctx.Done()
	s.log.Info("shutting down")
	if err := s.Close(); err != nil {
		return err
	}
	s.log.Info("stopped cleanly")
	return nil
}

// newPassword returns a random password of 26 base32 characters (130 bits).
func newPassword() string { return rand.Text() }
