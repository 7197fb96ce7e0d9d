package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/job"
	"github.com/mqsight/mqsight/internal/mqtt"
	"github.com/mqsight/mqsight/internal/store"
)

// Components are the server parts a request works on. They are valid until
// the release function returned with them by Service.Acquire is called.
type Components struct {
	Config *config.Manager
	Engine *mqtt.Engine
	Store  *store.Store
}

// Service is what the admin API needs from the server that hosts it. It is
// declared here, by its consumer; internal/server implements it.
type Service interface {
	// Config returns the configuration manager in force. It is available
	// at all times, restarts included (authentication needs it).
	Config() *config.Manager
	// Acquire returns the running components. Until release is called the
	// server does not restart, so a request never sees components closed
	// under it. While the server is restarting Acquire fails with an
	// error wrapping ErrNotRunning.
	Acquire() (c Components, release func(), err error)
	// Status reports the server's identity and state.
	Status() ServerStatus
	// Restart validates nothing (the API has) and starts the restart as a
	// job; it returns that job's first status or job.ErrBusy.
	Restart(req RestartRequest) (job.Status, error)
	// QueueMessages returns how many messages a queue holds, and
	// DiscardQueue deletes them; both are called with the components
	// acquired. They are the hook through which queue deletion learns
	// about messages once queues carry them.
	QueueMessages(c Components, queue string) (int, error)
	DiscardQueue(c Components, queue string) error
}

// ErrNotRunning is wrapped by Service.Acquire while the server restarts.
var ErrNotRunning = errors.New("server is not running")

// ServerStatus is the state of the server as GET /ima/v1/service/status
// reports it.
type ServerStatus struct {
	Name             string
	UID              string
	Status           string // "Running", "Stopping", "Starting"
	State            int    // MessageSight state number (see docs/admin-api.md)
	StateDescription string
	Started          time.Time // for UpTimeSeconds
	Version          string
	ErrorCode        int
	ErrorMessage     string
	HAEnabled        bool
	HARole           string
}

// RestartRequest is a validated POST /ima/v1/service/restart.
type RestartRequest struct {
	Maintenance string // "", "start" or "stop"
	CleanStore  bool   // also true when ResetConfig is
	ResetConfig bool
}

// Options configure an API.
type Options struct {
	// Service is the hosting server. Required.
	Service Service
	// Jobs reports long-running requests at
	// /ima/v1/service/status/{op}/{RequestID}. Required.
	Jobs *job.Registry
	// UserFilesDir is <datadir>/userfiles, where PUT /ima/v1/file/{name}
	// writes. Required.
	UserFilesDir string
	// Logger receives request failures and authentication failures;
	// never a password, key or file content.
	Logger *slog.Logger
	// MaxBodyBytes bounds JSON request bodies (default 1 MiB).
	MaxBodyBytes int64
	// MaxFileBytes bounds uploaded files (default 1 GiB).
	MaxFileBytes int64
	// AuthBurst and AuthRefill shape the per-address limit on failed
	// logins: AuthBurst failures at once, then one per AuthRefill
	// (defaults 10 and 6s).
	AuthBurst  int
	AuthRefill time.Duration
	// Passwords runs the password hashes of basic authentication, bounded
	// process-wide; the server shares one with the MQTT policy. Nil means
	// a checker of this API's own with the default limit.
	Passwords *config.PasswordChecker
	// Now returns the current time (tests); nil means time.Now.
	Now func() time.Time
}

// API is the REST administration API: an http.Handler with its routes,
// authentication and metrics registry. Create it with New; it holds no
// listener (the server serves it over HTTPS with TLSConfig).
type API struct {
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
	routes  []string
	auth    *authenticator
	metrics *prometheus.Registry

	// changeMu serializes configuration POSTs, so that the certificate
	// files one stages are never overwritten or rolled back by another.
	changeMu sync.Mutex
}

// New builds the API and registers every route.
func New(opts Options) (*API, error) {
	if opts.Service == nil || opts.Jobs == nil || opts.UserFilesDir == "" {
		return nil, errors.New("admin: Service, Jobs and UserFilesDir are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.MaxFileBytes <= 0 {
		opts.MaxFileBytes = 1 << 30
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if abs, err := filepath.Abs(opts.UserFilesDir); err == nil {
		opts.UserFilesDir = abs
	}
	a := &API{opts: opts, log: opts.Logger, mux: http.NewServeMux()}
	if opts.Passwords == nil {
		opts.Passwords = config.NewPasswordChecker(0)
	}
	a.auth = newAuthenticator(opts.Service.Config, newRateLimiter(opts.AuthBurst, opts.AuthRefill, opts.Now), opts.Passwords,
		opts.Now, opts.Logger)
	a.metrics = newMetricsRegistry(opts.Service)
	a.registerConfiguration()
	a.registerFiles()
	a.registerService()
	a.registerMonitor()
	a.registerBackup()
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		renderError(w, apiError(CodeBadRequest, r.Method+" "+r.URL.Path))
	})
	sort.Strings(a.routes)
	return a, nil
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// Routes returns the registered route patterns ("GET /ima/v1/...").
func (a *API) Routes() []string { return append([]string(nil), a.routes...) }

// handlerFunc is a route handler: it writes a reply, or returns an error
// that renderError turns into one.
type handlerFunc func(w http.ResponseWriter, r *http.Request, who *caller) error

// route registers pattern with the access level a caller needs; the
// handler runs only for an authenticated caller with that access.
// Families of routes register themselves from their own files
// (configuration.go, files.go, service.go, monitor.go; backup and
// restore later), each through this one function.
func (a *API) route(pattern string, need access, h handlerFunc) {
	a.routes = append(a.routes, pattern)
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		who, err := a.auth.authenticate(r)
		if err == nil {
			err = who.require(need)
		}
		if err == nil {
			err = h(w, r, who)
		}
		if _, ok := err.(*Error); !ok && errors.Is(err, ErrNotRunning) {
			err = a.unavailable() // e.g. a backup that acquired the components itself
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status() >= 500 {
				a.log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			renderError(w, err)
		}
	})
}

// readObject reads a JSON object body (at most MaxBodyBytes) into a map
// whose numbers are json.Number. It refuses a body that is not exactly one
// JSON object.
func (a *API) readObject(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.opts.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, apiError(CodeTooLarge, tooBig.Limit)
		}
		return nil, apiError(CodeBadRequest, "read body: "+err.Error())
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, apiError(CodeNotJSONObject, jsonProblem(err))
	}
	if dec.More() {
		return nil, apiError(CodeNotJSONObject, "trailing data after the object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, apiError(CodeNotJSONObject, "trailing data after the object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, apiError(CodeNotJSONObject, "the body is not an object")
	}
	if dup := DuplicateName(body); dup != "" {
		return nil, apiError(CodeNotJSONObject, "the name "+strconv.Quote(dup)+" occurs twice in one object")
	}
	return obj, nil
}

// jsonProblem describes a JSON syntax error without quoting the body (it
// may hold a password).
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return "invalid JSON at byte " + strconv.FormatInt(syn.Offset, 10)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "the body is empty or truncated"
	}
	return "invalid JSON"
}

// queryFlag reports whether the query parameter is "true" (any case).
func queryFlag(r *http.Request, name string) bool {
	return strings.EqualFold(r.URL.Query().Get(name), "true")
}
