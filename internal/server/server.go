package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqsight/mqsight/internal/admin"
	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/failpoint"
	"github.com/mqsight/mqsight/internal/job"
	"github.com/mqsight/mqsight/internal/mqtt"
	"github.com/mqsight/mqsight/internal/store"
)

// Options configure a Server. The zero value of every field but DataDir is
// usable.
type Options struct {
	// DataDir holds config/, store/ and userfiles/; it is created if
	// missing.
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
	// Initial adjusts the embedded default configuration wherever the
	// server builds it: at first start and for a restart with Reset
	// "config". Tests use it to put endpoints on free loopback ports.
	Initial func(*config.Config) error
	// AdminAddr overrides the admin endpoint's listen address (host:port;
	// port 0 picks a free one). Empty means the configuration's
	// AdminEndpoint Interface and Port.
	AdminAddr string
	// AdminInsecureHTTP serves the admin API over plain HTTP. For local
	// development only: credentials then cross the network in clear, and
	// the server says so loudly in its log.
	AdminInsecureHTTP bool
	// LogLevel, when set, is the level of Logger's handler, which the
	// server sets from the configuration's LogLevel (MIN: warnings and
	// errors; NORMAL: information too; MAX: debug too) and keeps in step
	// with its changes. Nil leaves the logger's level alone (a level the
	// operator fixed on the command line).
	LogLevel *slog.LevelVar
}

// Server is one running mqsight instance. New builds it, Start starts its
// listeners, Close releases everything. In between, POST
// /ima/v1/service/restart re-initialises the components in-process (see
// restart).
//
// Locking: mu guards comps and maintenance. Admin requests hold it for
// reading while they use the components (adminService.Acquire); a restart
// holds it for writing while it closes and reopens them. stateMu guards
// state and started, so that status never waits for a restart. adminSrv is
// set by Start and cleared by Close, which must not run concurrently.
type Server struct {
	opts Options
	log  *slog.Logger
	dir  *dataDir
	jobs *job.Registry
	api  *admin.API
	// passwords bounds the password hashes of the admin API and of every
	// MQTT engine this server builds (restarts included): one bound for
	// the process.
	passwords *config.PasswordChecker

	// cfg is the configuration manager in force; a restart replaces it
	// while holding mu for writing.
	cfg atomic.Pointer[config.Manager]

	mu          sync.RWMutex
	comps       *components // nil after a failed restart
	maintenance bool

	stateMu sync.Mutex
	state   runState
	started time.Time

	adminSrv *adminListener
}

// New opens the data directory, the configuration (creating the embedded
// default at first start), the store and the engine, and builds the admin
// API. Nothing listens until Start.
func New(opts Options) (s *Server, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Console == nil {
		opts.Console = os.Stdout
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	srv := &Server{opts: opts, log: opts.Logger, state: stateStarting(), passwords: config.NewPasswordChecker(0)}
	s = srv
	defer func() {
		if err != nil {
			srv.Close() // s is nil here: every error path returns nil, err
		}
	}()

	if srv.dir, err = openDataDir(opts.DataDir); err != nil {
		return nil, err
	}
	srv.log.Info("opened data directory", "path", srv.dir.path)
	if err = srv.recoverRestore(); err != nil { // before config and store are opened
		return nil, err
	}

	m, created, generated, err := srv.openConfig()
	if err != nil {
		return nil, err
	}
	srv.cfg.Store(m)
	if err = srv.dir.removeTemporaries(m.CertificateDir()); err != nil {
		return nil, err
	}
	cur := m.Current()
	srv.log.Info("opened configuration", "path", srv.dir.configDir(), "created", created,
		"generation", cur.Generation, "serverName", cur.ServerName, "serverUID", cur.ServerUID)
	if created && generated != "" {
		fmt.Fprintf(opts.Console, "\n  mqsight: first start. Admin user %q, generated password: %s\n"+
			"  (shown once; set MQSIGHT_ADMIN_PASSWORD before the first start to choose it)\n\n", "admin", generated)
	}
	if srv.maintenance, err = srv.dir.inMaintenance(); err != nil {
		return nil, err
	}

	comps := &components{config: m}
	srv.comps = comps
	if comps.store, err = srv.openStore(); err != nil {
		return nil, err
	}
	if comps.mqtt, err = srv.openEngine(comps.store, m); err != nil {
		return nil, err
	}

	srv.jobs = job.NewRegistry(job.Options{
		Exclusive: map[string]string{"restart": "server", "backup": "server", "restore": "server"},
		Finished:  srv.logJob,
	})
	srv.api, err = admin.New(admin.Options{
		Service:      adminService{srv},
		Jobs:         srv.jobs,
		UserFilesDir: srv.dir.userFilesDir(),
		Logger:       srv.log,
		Passwords:    srv.passwords,
	})
	if err != nil {
		return nil, err
	}
	return srv, nil
}

// Start starts the MQTT listeners (none in maintenance mode) and the admin
// endpoint. MQTT listener errors are logged; an admin endpoint that cannot
// listen is an error, since the server could not be administered.
func (s *Server) Start() error {
	s.mu.Lock()
	s.comps.start(s, s.maintenance)
	s.setRunning(s.maintenance)
	s.mu.Unlock()
	l, err := s.startAdmin()
	if err != nil {
		return err
	}
	s.adminSrv = l
	return nil
}

// MQTT returns the MQTT engine in force (nil after a failed restart).
func (s *Server) MQTT() *mqtt.Engine {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.comps == nil {
		return nil
	}
	return s.comps.mqtt
}

// Config returns the configuration manager in force.
func (s *Server) Config() *config.Manager { return s.cfg.Load() }

// Store returns the store in force (nil after a failed restart).
func (s *Server) Store() *store.Store {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.comps == nil {
		return nil
	}
	return s.comps.store
}

// Admin returns the admin API handler (for tests that serve it themselves).
func (s *Server) Admin() *admin.API { return s.api }

// Jobs returns the registry of long-running admin operations.
func (s *Server) Jobs() *job.Registry { return s.jobs }

// Close stops the admin endpoint, cancels running jobs and stops every
// component in reverse order of start. It is idempotent.
func (s *Server) Close() error {
	var errs []error
	if s.adminSrv != nil {
		if err := s.adminSrv.close(); err != nil {
			errs = append(errs, err)
		}
		s.adminSrv = nil
	}
	if s.jobs != nil {
		s.jobs.Close()
	}
	s.mu.Lock()
	if s.comps != nil {
		if err := s.comps.close(); err != nil {
			errs = append(errs, err)
		}
		s.comps = nil
	}
	s.mu.Unlock()
	if s.dir != nil {
		if err := s.dir.close(); err != nil {
			errs = append(errs, err)
		}
		s.dir = nil
	}
	return errors.Join(errs...)
}

// Run starts a server and serves until ctx is done, then shuts it down.
//
// Neither end waits without bound for the store: a start that ctx ends
// (an operator's Ctrl-C while a large WAL is replayed) returns at once, and
// a shutdown that has not finished within stopTimeout (the store stalled
// by its disk) returns an error. The process then exits as a crash would,
// which the store and a restore in progress recover from at the next start.
func Run(ctx context.Context, opts Options) error {
	s, err := within(ctx.Done(), func(s *Server) { s.Close() }, func() (*Server, error) {
		s, err := New(opts)
		if err != nil {
			return nil, err
		}
		if err := s.Start(); err != nil {
			s.Close()
			return nil, err
		}
		return s, nil
	})
	if errors.Is(err, errGaveUp) {
		return errors.New("stopped while starting; the next start recovers the data directory")
	}
	if err != nil {
		return err
	}
	s.log.Info("mqsight started", "version", opts.Version)
	<-ctx.Done()
	s.log.Info("shutting down")
	_, err = within(time.After(stopTimeout), nil, func() (struct{}, error) { return struct{}{}, s.Close() })
	if errors.Is(err, errGaveUp) {
		return fmt.Errorf("the shutdown did not finish within %v; exiting without a clean stop: acknowledged messages are on disk and the next start recovers the store", stopTimeout)
	}
	if err != nil {
		return err
	}
	s.log.Info("stopped cleanly")
	return nil
}

// stopTimeout bounds a clean shutdown.
const stopTimeout = 30 * time.Second

// errGaveUp is returned by within when it stopped waiting.
var errGaveUp = errors.New("gave up waiting")

// within runs f and returns its result, or errGaveUp as soon as stop is
// closed (or receives) first; f then goes on alone, and abandon (if not
// nil) gets what it returns without an error: a server started after all
// is closed, not left holding the data directory and its ports.
func within[T, S any](stop <-chan S, abandon func(T), f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-stop:
		if abandon != nil {
			go func() {
				if r := <-done; r.err == nil {
					abandon(r.v)
				}
			}()
		}
		var zero T
		return zero, errGaveUp
	}
}

// newPassword returns a random password of 26 base32 characters (130 bits).
func newPassword() string { return rand.Text() }

// logJob records how a backup, restore or restart job ended: a failure
// is on record in the log after the job has left the status history, or
// the process restarted. Successes are logged by the operations
// themselves ("backup written", "restore applied").
func (s *Server) logJob(st job.Status) {
	attrs := []any{"op", st.Op, "requestID", st.RequestID, "step", st.Step, "err", st.Error}
	switch st.State {
	case job.Failed:
		s.log.Warn("job failed", attrs...)
	case job.Cancelled:
		s.log.Warn("job cancelled", attrs...)
	default:
		s.log.Debug("job succeeded", "op", st.Op, "requestID", st.RequestID)
	}
}
