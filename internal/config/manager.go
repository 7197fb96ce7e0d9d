package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

// File names inside the configuration directory.
const (
	documentFile   = "server.json"
	certificateDir = "certificates"
	tempPrefix     = ".server.json.tmp-"
)

// Option configures a Manager.
type Option func(*options)

type options struct {
	beforeRename func(tempPath string) error
}

// WithBeforeRename installs a hook called after the new document has been
// written and synced to its temporary file and before that file is renamed
// over server.json. If the hook returns an error the write is abandoned (the
// temporary file removed) and the change fails with it. Tests and the
// server's failpoints use it to inject failures at that boundary.
func WithBeforeRename(hook func(tempPath string) error) Option {
	return func(o *options) { o.beforeRename = hook }
}

// Manager owns the configuration directory <datadir>/config: the document
// server.json and the certificates directory beside it. It holds the current
// document as an immutable snapshot and applies changes all or nothing:
// clone, mutate, validate the whole candidate, write it durably, swap,
// notify.
//
// Locking: mu serializes Update and Replace, including their disk I/O.
// Current never blocks (it reads an atomic pointer). Notifications are
// queued under mu and delivered outside it, in generation order, by
// whichever updating goroutine finds no delivery in progress; a subscriber
// may therefore call Current, Update or Subscribe without deadlock (an Update
// made from inside a subscriber is delivered after that subscriber returns,
// and in that case the nested Update returns before its own notification).
type Manager struct {
	dir     string
	certDir string
	opts    options

	current atomic.Pointer[Config]

	mu struct {
		sync.Mutex
		bytes  []byte // canonical form of current, as on disk
		frozen int    // Freeze calls not yet thawed: Update and Replace refuse
	}

	notify struct {
		sync.Mutex
		subs       []subscriber
		nextID     uint64
		queue      []change
		delivering bool
	}
}

type subscriber struct {
	id uint64
	fn func(old, new *Config)
}

type change struct{ old, new *Config }

// Open opens the configuration directory dir (normally
// <datadir>/config), creating it and its certificates directory (mode 0700)
// if needed. If server.json exists it is loaded and validated: a truncated or
// corrupt file gives an error wrapping ErrCorrupt that names the path and is
// never replaced. If it is absent, initial builds the first document (nil
// means Default); a ServerUID is generated if it has none, Generation is set to
// 1, and the document is validated and written (created is true).
func Open(dir string, initial func() (*Config, error), opts ...Option) (m *Manager, created bool, err error) {
	m = &Manager{dir: dir, certDir: filepath.Join(dir, certificateDir)}
	for _, o := range opts {
		o(&m.opts)
	}
	if err := os.MkdirAll(m.certDir, 0o700); err != nil {
		return nil, false, fmt.Errorf("open configuration: %w", err)
	}
	if err := m.removeTemps(); err != nil {
		return nil, false, err
	}
	path := m.Path()
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		c, err := Unmarshal(data)
		if err != nil {
			return nil, false, fmt.Errorf("load %s: %w", path, err)
		}
		if err := c.Validate(); err != nil {
			return nil, false, fmt.Errorf("load %s: %w", path, err)
		}
		if c.ServerUID == "" {
			return nil, false, fmt.Errorf("load %s: %w: ServerUID is missing", path, ErrCorrupt)
		}
		canon, err := Marshal(c)
		if err != nil {
			return nil, false, err
		}
		m.mu.bytes = canon
		m.current.Store(c)
		return m, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, false, fmt.Errorf("open configuration: %w", err)
	}
	if initial == nil {
		initial = func() (*Config, error) { return Default(), nil }
	}
	c, err := initial()
	if err != nil {
		return nil, false, fmt.Errorf("build initial configuration: %w", err)
	}
	c = c.Clone()
	if c.ServerUID == "" {
		c.ServerUID = GenerateServerUID()
	}
	c.Generation = 1
	if err := c.Validate(); err != nil {
		return nil, false, fmt.Errorf("initial configuration: %w", err)
	}
	canon, err := Marshal(c)
	if err != nil {
		return nil, false, err
	}
	if err := m.write(canon); err != nil {
		return nil, false, err
	}
	m.mu.bytes = canon
	m.current.Store(c)
	return m, true, nil
}

// Path returns the path of server.json.
func (m *Manager) Path() string { return filepath.Join(m.dir, documentFile) }

// CertificateDir returns <dir>/certificates, where the files named by
// CertificateProfile and TrustedCertificate live.
func (m *Manager) CertificateDir() string { return m.certDir }

// Current returns the current document. It is shared and immutable: callers
// must not modify it (Clone it to build a changed copy).
func (m *Manager) Current() *Config { return m.current.Load() }

// Update applies fn to a clone of the current document, validates the whole
// result, writes it durably and makes it current, then notifies subscribers
// with (old, new). Generation becomes the old generation plus one (whatever
// fn set). If fn changes nothing, nothing is written, no one is notified and
// the current document is returned. Changing ServerUID is refused (Kind
// ReadOnly). All or nothing: on any error neither server.json nor Current
// changes.
func (m *Manager) Update(fn func(c *Config) error) (*Config, error) {
	c, changed, err := m.update(fn)
	if changed {
		m.deliver()
	}
	return c, err
}

func (m *Manager) update(fn func(c *Config) error) (c *Config, changed bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.frozen > 0 {
		return nil, false, ErrFrozen
	}
	old := m.current.Load()
	cand := old.Clone()
	if err := fn(cand); err != nil {
		return nil, false, err
	}
	if cand.ServerUID != old.ServerUID {
		return nil, false, &ValidationError{Type: "ServerUID", Property: "ServerUID", Kind: ReadOnly, Msg: "ServerUID is read-only"}
	}
	cand.Generation = old.Generation
	if canon, err := Marshal(cand); err == nil && bytes.Equal(canon, m.mu.bytes) {
		return old, false, nil
	}
	cand.Generation = old.Generation + 1
	if err := m.commitLocked(old, cand); err != nil {
		return nil, false, err
	}
	return cand, true, nil
}

// Replace makes c the current document, as a restore does; c may change
// ServerUID. Its generation becomes max(current, c.Generation)+1 so
// generations never go back. c is validated first and not retained (a clone
// is stored). All or nothing, as Update.
func (m *Manager) Replace(c *Config) error {
	if err := m.replace(c); err != nil {
		return err
	}
	m.deliver()
	return nil
}

func (m *Manager) replace(c *Config) error {
	cand := c.Clone()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.frozen > 0 {
		return ErrFrozen
	}
	old := m.current.Load()
	if cand.ServerUID == "" {
		cand.ServerUID = old.ServerUID
	}
	cand.Generation = max(old.Generation, c.Generation) + 1
	return m.commitLocked(old, cand)
}

// FilesChanged tells subscribers that files the current document names
// (certificate files) changed under the same names, as a renewal does:
// they are called with (current, current) and re-read what they derive
// from those files. Nothing is written; the generation stays.
func (m *Manager) FilesChanged() {
	// Queued under m.mu, as commitLocked queues a change: a change
	// committed meanwhile is queued before or after this one, never
	// between the read and the queueing, so the last delivery is the
	// current document.
	m.mu.Lock()
	cur := m.current.Load()
	m.notify.Lock()
	m.notify.queue = append(m.notify.queue, change{cur, cur})
	m.notify.Unlock()
	m.mu.Unlock()
	m.deliver()
}

// Freeze makes every Update and Replace fail with ErrFrozen until the
// returned thaw is called (once; later calls do nothing). A restore freezes
// the configuration it was planned against: a change made while it stages
// would be undone by the switch without a word, and could reuse the
// generation the restored document gets.
func (m *Manager) Freeze() (thaw func()) {
	m.mu.Lock()
	m.mu.frozen++
	m.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			m.mu.frozen--
			m.mu.Unlock()
		})
	}
}

// Frozen reports whether Update and Replace refuse now (Freeze).
func (m *Manager) Frozen() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.frozen > 0
}

// commitLocked validates cand, writes it and makes it current, and queues
// the notification. m.mu must be held.
func (m *Manager) commitLocked(old, cand *Config) error {
	if err := cand.ValidateChange(old); err != nil {
		return err
	}
	canon, err := Marshal(cand)
	if err != nil {
		return err
	}
	if err := m.write(canon); err != nil {
		return err
	}
	m.mu.bytes = canon
	m.current.Store(cand)
	m.notify.Lock()
	m.notify.queue = append(m.notify.queue, change{old, cand})
	m.notify.Unlock()
	return nil
}

// deliver hands queued changes to subscribers unless another goroutine is
// already doing so (it will deliver ours too, in order).
func (m *Manager) deliver() {
	m.notify.Lock()
	if m.notify.delivering {
		m.notify.Unlock()
		return
	}
	m.notify.delivering = true
	finished := false
	defer func() {
		if !finished { // a subscriber panicked: let the next change deliver the rest
			m.notify.Lock()
			m.notify.delivering = false
			m.notify.Unlock()
		}
	}()
	for len(m.notify.queue) > 0 {
		ch := m.notify.queue[0]
		m.notify.queue = m.notify.queue[1:]
		subs := append([]subscriber(nil), m.notify.subs...)
		m.notify.Unlock()
		for _, s := range subs {
			s.fn(ch.old, ch.new)
		}
		m.notify.Lock()
	}
	m.notify.delivering = false
	finished = true
	m.notify.Unlock()
}

// Subscribe registers fn to be called with (old, new) after every change,
// in subscription order and generation order. fn must not modify either
// document. cancel removes the subscription; after it returns, fn is not
// called for changes made later (a delivery already in progress may still
// complete).
func (m *Manager) Subscribe(fn func(old, new *Config)) (cancel func()) {
	m.notify.Lock()
	defer m.notify.Unlock()
	m.notify.nextID++
	id := m.notify.nextID
	m.notify.subs = append(m.notify.subs, subscriber{id, fn})
	return func() {
		m.notify.Lock()
		defer m.notify.Unlock()
		for i, s := range m.notify.subs {
			if s.id == id {
				m.notify.subs = append(m.notify.subs[:i:i], m.notify.subs[i+1:]...)
				return
			}
		}
	}
}

// write replaces server.json with data durably: write a temporary file in
// the same directory, fsync it, rename it over server.json, fsync the
// directory. On failure the temporary file is removed and server.json is
// untouched.
func (m *Manager) write(data []byte) (err error) {
	f, err := os.CreateTemp(m.dir, tempPrefix+"*")
	if err != nil {
		return fmt.Errorf("write configuration: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("write configuration: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write configuration: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write configuration: sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write configuration: %w", err)
	}
	if m.opts.beforeRename != nil {
		if err := m.opts.beforeRename(tmp); err != nil {
			return fmt.Errorf("write configuration: %w", err)
		}
	}
	if err := os.Rename(tmp, m.Path()); err != nil {
		return fmt.Errorf("write configuration: %w", err)
	}
	return syncDir(m.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// removeTemps deletes temporary files left by a write that was interrupted
// before its rename; they never hold the current document.
func (m *Manager) removeTemps() error {
	entries, err := os.ReadDir(m.dir)
	if err != nil {
		return fmt.Errorf("open configuration: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			if err := os.Remove(filepath.Join(m.dir, e.Name())); err != nil {
				return fmt.Errorf("open configuration: %w", err)
			}
		}
	}
	return nil
}
