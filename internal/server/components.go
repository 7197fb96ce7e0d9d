package server

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/failpoint"
	"github.com/mqsight/mqsight/internal/mqtt"
	"github.com/mqsight/mqsight/internal/policy"
	"github.com/mqsight/mqsight/internal/store"
)

// components are the parts of a server that a restart closes and opens
// again: the configuration manager, the store and the MQTT engine. The
// data directory lock, the job registry and the admin endpoint outlive
// them.
type components struct {
	config   *config.Manager
	store    *store.Store
	mqtt     *mqtt.Engine
	unsub    func() // follows configuration changes; nil until started
	unsubLog func() // keeps the log level in step; nil until started
}

// logLevel maps the configuration's LogLevel to a slog level.
func logLevel(l string) slog.Level {
	switch l {
	case "MIN":
		return slog.LevelWarn
	case "MAX":
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// followLogLevel sets Options.LogLevel from the configuration in force and
// from each change of it (also in maintenance mode).
func (c *components) followLogLevel(s *Server) {
	lv := s.opts.LogLevel
	if lv == nil {
		return
	}
	set := func(cfg *config.Config) {
		l := logLevel(cfg.LogLevel)
		if l == lv.Level() {
			return
		}
		// Said at INFO while INFO lines are still (or already) shown.
		if l > slog.LevelInfo {
			s.log.Info("log level set from the configuration", "LogLevel", cfg.LogLevel, "level", l.String())
		}
		lv.Set(l)
		if l <= slog.LevelInfo {
			s.log.Info("log level set from the configuration", "LogLevel", cfg.LogLevel, "level", l.String())
		}
	}
	set(c.config.Current())
	c.unsubLog = c.config.Subscribe(func(_, cfg *config.Config) { set(cfg) })
}

// openConfig opens (or at first start creates) the configuration.
// created reports a first start; generated is the admin password made up
// for it ("" when Options.AdminPassword was set or the file existed).
func (s *Server) openConfig() (m *config.Manager, created bool, generated string, err error) {
	m, created, err = config.Open(s.dir.configDir(), func() (*config.Config, error) {
		c, err := s.defaultConfig()
		if err != nil {
			return nil, err
		}
		password := s.opts.AdminPassword
		if password == "" {
			password = newPassword()
			generated = password
		}
		admin, err := config.NewAdminUser("admin", password, "SystemAdministrator")
		if err != nil {
			return nil, err
		}
		c.AdminUsers["admin"] = admin
		return c, nil
	}, config.WithBeforeRename(func(string) error { return s.opts.Failpoints.Eval(failpoint.ConfigBeforeRename) }))
	if err != nil {
		return nil, false, "", fmt.Errorf("open configuration: %w", err)
	}
	return m, created, generated, nil
}

// defaultConfig is the embedded default as Options.Initial adjusts it.
func (s *Server) defaultConfig() (*config.Config, error) {
	c := config.Default()
	if s.opts.Initial != nil {
		if err := s.opts.Initial(c); err != nil {
			return nil, fmt.Errorf("adjust initial configuration: %w", err)
		}
	}
	return c, nil
}

// openStore opens the store.
func (s *Server) openStore() (*store.Store, error) {
	st, err := store.Open(s.dir.storeDir(), store.Options{
		Logger:     s.log,
		BeforeSync: func() error { return s.opts.Failpoints.Eval(failpoint.StoreBeforeSync) },
	})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s.log.Info("opened store", "path", s.dir.storeDir(), "storeUID", st.UID(), "lsn", st.LastLSN())
	return st, nil
}

// openEngine builds the MQTT engine on st; it recovers the store's
// sessions but starts no listener (start does).
func (s *Server) openEngine(st *store.Store, m *config.Manager) (*mqtt.Engine, error) {
	e, err := mqtt.New(mqtt.Options{Store: st, Logger: s.log, Policy: policy.New(policy.Options{Logger: s.log, Passwords: s.passwords})})
	if err != nil {
		return nil, err
	}
	e.SetCertificateDir(m.CertificateDir())
	return e, nil
}

// start starts the MQTT listeners of the configuration in force and
// follows its changes; in maintenance mode it starts none. Listener errors
// are logged, not fatal: an endpoint whose port is taken must not keep the
// admin API down. It returns the error of the endpoints that did not start
// now, for a caller that reports it (a restore's result).
func (c *components) start(s *Server, maintenance bool) error {
	c.followLogLevel(s)
	if maintenance {
		s.log.Warn("maintenance mode: MQTT endpoints are closed; the admin API is up")
		return nil
	}
	err := c.mqtt.Apply(c.config.Current())
	if err != nil {
		s.log.Error("some endpoints did not start", "err", err)
	}
	c.unsub = c.config.Subscribe(func(_, cfg *config.Config) {
		if err := c.mqtt.Apply(cfg); err != nil {
			s.log.Error("some endpoints did not start", "err", err)
		}
	})
	return err
}

// close stops the engine (listeners, connections, pending commits) and
// closes the store. The configuration manager holds no resource.
func (c *components) close() error {
	var errs []error
	if c.unsub != nil {
		c.unsub()
		c.unsub = nil
	}
	if c.unsubLog != nil {
		c.unsubLog()
		c.unsubLog = nil
	}
	if c.mqtt != nil {
		if err := c.mqtt.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close mqtt engine: %w", err))
		}
		c.mqtt = nil
	}
	if c.store != nil {
		if err := c.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
		c.store = nil
	}
	return errors.Join(errs...)
}
