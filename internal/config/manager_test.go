package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTemp(t *testing.T, opts ...Option) (*Manager, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "config")
	m, created, err := Open(dir, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Fatal("fresh directory: created = false")
	}
	return m, dir
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func addQueue(name string) func(c *Config) error {
	return func(c *Config) error { return SetProperties(c, "Queue", name, nil) }
}

func TestOpenCreatesAndReopens(t *testing.T) {
	m, dir := openTemp(t)
	c := m.Current()
	if c.Generation != 1 || !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(c.ServerUID) {
		t.Fatalf("generation %d, ServerUID %q", c.Generation, c.ServerUID)
	}
	if c.Endpoints["DemoEndpoint"] == nil {
		t.Fatal("nil initial did not give Default()")
	}
	if m.Path() != filepath.Join(dir, "server.json") || m.CertificateDir() != filepath.Join(dir, "certificates") {
		t.Fatalf("paths %s %s", m.Path(), m.CertificateDir())
	}
	for path, mode := range map[string]os.FileMode{m.CertificateDir(): 0o700 | os.ModeDir, m.Path(): 0o600} {
		st, err := os.Stat(path)
		if err != nil || st.Mode() != mode {
			t.Fatalf("%s: %v %v, want mode %v", path, st.Mode(), err, mode)
		}
	}
	disk, _ := Marshal(c)
	if !bytes.Equal(readFile(t, m.Path()), disk) {
		t.Fatal("server.json is not the canonical form of Current()")
	}

	m2, created, err := Open(dir, func() (*Config, error) { t.Fatal("initial called for an existing file"); return nil, nil })
	if err != nil || created {
		t.Fatalf("reopen: created=%v err=%v", created, err)
	}
	if !reflect.DeepEqual(m2.Current(), c) {
		t.Fatal("reopened document differs")
	}
}

func TestOpenWithInitial(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "config")
	admin, err := NewAdminUser("admin", "pw", "SystemAdministrator")
	if err != nil {
		t.Fatal(err)
	}
	m, created, err := Open(dir, func() (*Config, error) {
		c := Default()
		c.ServerUID = "presetuid"
		c.Generation = 99
		c.AdminUsers["admin"] = admin
		return c, nil
	})
	if err != nil || !created {
		t.Fatal(created, err)
	}
	if c := m.Current(); c.ServerUID != "presetuid" || c.Generation != 1 || c.AdminUsers["admin"] == nil {
		t.Fatalf("%+v", c)
	}

	// An initial document that fails validation, or an initial error,
	// writes nothing.
	for _, initial := range []func() (*Config, error){
		func() (*Config, error) { c := Default(); c.AdminEndpoint.Port = 0; return c, nil },
		func() (*Config, error) { return nil, errors.New("no entropy") },
	} {
		dir := filepath.Join(t.TempDir(), "config")
		if _, _, err := Open(dir, initial); err == nil {
			t.Fatal("bad initial document accepted")
		}
		if _, err := os.Stat(filepath.Join(dir, "server.json")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("server.json written for a refused initial document: %v", err)
		}
	}
}

func TestOpenRefusesCorruptFileAndKeepsIt(t *testing.T) {
	m, dir := openTemp(t)
	good := readFile(t, m.Path())
	for _, bad := range [][]byte{
		good[:len(good)/2],
		good[:len(good)-1],
		[]byte{},
		[]byte("\x00\x00\x00\x00"),
	} {
		if err := os.WriteFile(m.Path(), bad, 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := Open(dir, nil)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), m.Path()) {
			t.Fatalf("corrupt file (%d bytes): %v, want ErrCorrupt naming %s", len(bad), err, m.Path())
		}
		if !bytes.Equal(readFile(t, m.Path()), bad) {
			t.Fatal("corrupt server.json was replaced")
		}
	}
	// Well-formed but invalid: a validation error naming the path.
	invalid := bytes.Replace(good, []byte(`"Port": 1883`), []byte(`"Port": 70000`), 1)
	os.WriteFile(m.Path(), invalid, 0o600)
	_, _, err := Open(dir, nil)
	var ve *ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), m.Path()) || !strings.Contains(err.Error(), "Port 70000 is out of range") {
		t.Fatalf("invalid document: %v", err)
	}
}

func TestUpdateIncrementsGenerationAndPersists(t *testing.T) {
	m, dir := openTemp(t)
	for i, q := range []string{"Q1", "Q2", "Q3"} {
		c, err := m.Update(addQueue(q))
		if err != nil {
			t.Fatal(err)
		}
		if c.Generation != uint64(i+2) || m.Current() != c {
			t.Fatalf("generation %d after update %d", c.Generation, i+1)
		}
	}
	// An update that changes nothing writes nothing.
	before := readFile(t, m.Path())
	c, err := m.Update(func(c *Config) error { c.Generation = 1000; return nil })
	if err != nil || c.Generation != 4 || !bytes.Equal(before, readFile(t, m.Path())) {
		t.Fatalf("no-op update: generation %d err %v", c.Generation, err)
	}
	m2, _, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m2.Current(), m.Current()) || m2.Current().Generation != 4 {
		t.Fatal("reopen does not load the updated document")
	}
}

func TestUpdateIsAllOrNothing(t *testing.T) {
	m, _ := openTemp(t)
	notified := 0
	m.Subscribe(func(old, new *Config) { notified++ })
	cur := m.Current()
	disk := readFile(t, m.Path())
	fnErr := errors.New("handler refused")
	cases := []struct {
		name string
		fn   func(c *Config) error
		want func(err error) bool
	}{
		{"validation fails", func(c *Config) error {
			c.Queues["Q"] = &Queue{Name: "Q", MaxMessages: 1} // partly applied ...
			c.Endpoints["DemoEndpoint"].MessageHub = "Gone"   // ... then an unresolved reference
			return nil
		}, func(err error) bool {
			var ve *ValidationError
			return errors.As(err, &ve) && ve.Kind == Reference
		}},
		{"fn fails", func(c *Config) error { c.ServerName = "x"; return fnErr }, func(err error) bool { return errors.Is(err, fnErr) }},
		{"ServerUID is read-only", func(c *Config) error { c.ServerUID = "other"; return nil }, func(err error) bool {
			var ve *ValidationError
			return errors.As(err, &ve) && ve.Kind == ReadOnly
		}},
		{"delete referenced", func(c *Config) error { return Delete(c, "MessageHub", "DemoHub") }, func(err error) bool {
			var ve *ValidationError
			return errors.As(err, &ve) && ve.Kind == InUse && strings.Contains(err.Error(), `Endpoint "DemoEndpoint"`)
		}},
	}
	for _, c := range cases {
		_, err := m.Update(c.fn)
		if !c.want(err) {
			t.Fatalf("%s: unexpected error %v", c.name, err)
		}
		if m.Current() != cur || !bytes.Equal(disk, readFile(t, m.Path())) || notified != 0 {
			t.Fatalf("%s: state changed", c.name)
		}
	}
	if cur.Queues["Q"] != nil || cur.ServerName != "mqsight" {
		t.Fatal("a failed update mutated the current snapshot")
	}
}

func TestInjectedWriteFailureLeavesOldFile(t *testing.T) {
	var fail error
	var sawTemp string
	m, dir := openTemp(t, WithBeforeRename(func(tmp string) error {
		if fail == nil {
			return nil
		}
		sawTemp = tmp
		if b, err := os.ReadFile(tmp); err != nil || !bytes.Contains(b, []byte(`"Q1"`)) {
			t.Errorf("temporary file does not hold the new document: %v", err)
		}
		return fail
	}))
	old := readFile(t, m.Path())
	cur := m.Current()
	fail = errors.New("injected: disk full")
	if _, err := m.Update(addQueue("Q1")); !errors.Is(err, fail) {
		t.Fatalf("Update: %v, want the injected error", err)
	}
	if m.Current() != cur {
		t.Fatal("Current changed after a failed write")
	}
	if !bytes.Equal(old, readFile(t, m.Path())) {
		t.Fatal("server.json changed after a failed write")
	}
	if _, err := Unmarshal(readFile(t, m.Path())); err != nil {
		t.Fatalf("old server.json unreadable: %v", err)
	}
	if _, err := os.Stat(sawTemp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left behind: %v", err)
	}
	fail = nil
	c, err := m.Update(addQueue("Q1"))
	if err != nil || c.Generation != 2 {
		t.Fatalf("update after a failure: %v", err)
	}
	// A temporary file left by a crash is removed at the next Open.
	stale := filepath.Join(dir, ".server.json.tmp-crashed")
	os.WriteFile(stale, []byte("partial"), 0o600)
	if _, _, err := Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("stale temporary file not removed")
	}
}

func TestSubscribersSeeOldAndNewInOrder(t *testing.T) {
	m, _ := openTemp(t)
	type seen struct{ old, new uint64 }
	var a, b []seen
	aActive := true
	cancelA := m.Subscribe(func(old, new *Config) { a = append(a, seen{old.Generation, new.Generation}) })
	m.Subscribe(func(old, new *Config) {
		if m.Current() != new { // Current is already the new document, and does not deadlock
			t.Error("Current() in a subscriber is not the new document")
		}
		if aActive && len(a) != len(b)+1 {
			t.Error("subscribers not called in subscription order")
		}
		b = append(b, seen{old.Generation, new.Generation})
	})
	m.Update(addQueue("Q1"))
	m.Update(addQueue("Q2"))
	cancelA()
	aActive = false
	m.Update(addQueue("Q3"))
	if !reflect.DeepEqual(a, []seen{{1, 2}, {2, 3}}) {
		t.Fatalf("a saw %v", a)
	}
	if !reflect.DeepEqual(b, []seen{{1, 2}, {2, 3}, {3, 4}}) {
		t.Fatalf("b saw %v", b)
	}
}

// TestSubscriberMayUpdate: a subscriber that itself calls Update neither
// deadlocks nor reorders notifications.
func TestSubscriberMayUpdate(t *testing.T) {
	m, _ := openTemp(t)
	var gens []uint64
	m.Subscribe(func(old, new *Config) {
		gens = append(gens, new.Generation)
		if new.Queues["Q1"] != nil && new.Queues["Q2"] == nil {
			if _, err := m.Update(addQueue("Q2")); err != nil {
				t.Error(err)
			}
		}
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Update(addQueue("Q1"))
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Update from a subscriber deadlocked")
	}
	if !reflect.DeepEqual(gens, []uint64{2, 3}) {
		t.Fatalf("notifications %v, want [2 3]", gens)
	}
}

func TestConcurrentUpdates(t *testing.T) {
	m, dir := openTemp(t)
	var mu sync.Mutex
	var gens []uint64
	m.Subscribe(func(old, new *Config) {
		mu.Lock()
		defer mu.Unlock()
		if new.Generation != old.Generation+1 {
			t.Errorf("old %d new %d", old.Generation, new.Generation)
		}
		gens = append(gens, new.Generation)
	})
	const workers, each = 8, 5
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := m.Update(addQueue(string(rune('a'+w)) + string(rune('0'+i)))); err != nil {
					t.Error(err)
				}
				_ = m.Current().Generation
			}
		}()
	}
	wg.Wait()
	if got := m.Current().Generation; got != 1+workers*each {
		t.Fatalf("generation %d", got)
	}
	for i, g := range gens {
		if g != uint64(i+2) {
			t.Fatalf("notifications out of order: %v", gens)
		}
	}
	m2, _, err := Open(dir, nil)
	if err != nil || len(m2.Current().Queues) != workers*each {
		t.Fatalf("reopen: %v", err)
	}
}

func TestReplace(t *testing.T) {
	m, dir := openTemp(t)
	m.Update(addQueue("Q1")) // generation 2
	var got [][2]uint64
	m.Subscribe(func(old, new *Config) { got = append(got, [2]uint64{old.Generation, new.Generation}) })

	restored := fixture(t)
	restored.Generation = 10
	if err := m.Replace(restored); err != nil {
		t.Fatal(err)
	}
	c := m.Current()
	if c.Generation != 11 || c.ServerUID != restored.ServerUID || c.Endpoints["E1"] == nil {
		t.Fatalf("after replace: generation %d uid %s", c.Generation, c.ServerUID)
	}
	restored.Queues["X"] = &Queue{Name: "X", MaxMessages: 1}
	if m.Current().Queues["X"] != nil {
		t.Fatal("Replace kept its argument")
	}

	older := fixture(t)
	older.Generation = 3
	older.ServerUID = ""
	if err := m.Replace(older); err != nil {
		t.Fatal(err)
	}
	if c := m.Current(); c.Generation != 12 || c.ServerUID != "0123456789abcdef" {
		t.Fatalf("replace with older generation: %d %s", c.Generation, c.ServerUID)
	}
	if !reflect.DeepEqual(got, [][2]uint64{{2, 11}, {11, 12}}) {
		t.Fatalf("notifications %v", got)
	}

	bad := fixture(t)
	bad.Endpoints["E1"].Port = 0
	disk := readFile(t, m.Path())
	if err := m.Replace(bad); err == nil {
		t.Fatal("invalid document replaced")
	}
	if m.Current().Generation != 12 || !bytes.Equal(disk, readFile(t, m.Path())) {
		t.Fatal("failed Replace changed state")
	}
	m2, _, err := Open(dir, nil)
	if err != nil || m2.Current().Generation != 12 {
		t.Fatalf("reopen after replace: %v", err)
	}
}

func TestOpenRefusesNewerFormat(t *testing.T) {
	m, dir := openTemp(t)
	newer := bytes.Replace(readFile(t, m.Path()), []byte(`"FormatVersion": 1`), []byte(`"FormatVersion": 7`), 1)
	os.WriteFile(m.Path(), newer, 0o600)
	_, _, err := Open(dir, nil)
	if !errors.Is(err, ErrNewerFormat) || !strings.Contains(err.Error(), m.Path()) {
		t.Fatalf("newer format: %v", err)
	}
	if !bytes.Equal(readFile(t, m.Path()), newer) {
		t.Fatal("newer-format server.json was replaced")
	}
}

func TestPanicsDoNotWedgeTheManager(t *testing.T) {
	m, _ := openTemp(t)
	func() {
		defer func() { recover() }()
		m.Update(func(c *Config) error { panic("mutation bug") })
	}()
	boom := true
	var seen []uint64
	m.Subscribe(func(old, new *Config) {
		if boom {
			boom = false
			panic("subscriber bug")
		}
		seen = append(seen, new.Generation)
	})
	func() {
		defer func() { recover() }()
		m.Update(addQueue("Q1"))
	}()
	if _, err := m.Update(addQueue("Q2")); err != nil { // would deadlock if the lock were held
		t.Fatal(err)
	}
	if !reflect.DeepEqual(seen, []uint64{3}) {
		t.Fatalf("after a subscriber panic, notifications %v, want [3]", seen)
	}
}

// TestFreeze: while frozen, Update and Replace refuse with ErrFrozen and
// change nothing; each thaw counts once; after the last one changes go
// through again.
func TestFreeze(t *testing.T) {
	m, _ := openTemp(t)
	before := readFile(t, m.Path())
	gen := m.Current().Generation
	thaw1 := m.Freeze()
	thaw2 := m.Freeze()
	if !m.Frozen() {
		t.Fatal("not frozen")
	}
	if _, err := m.Update(addQueue("Q1")); !errors.Is(err, ErrFrozen) {
		t.Fatalf("Update while frozen: %v", err)
	}
	if err := m.Replace(fixture(t)); !errors.Is(err, ErrFrozen) {
		t.Fatalf("Replace while frozen: %v", err)
	}
	thaw1()
	thaw1() // a second call does nothing
	if _, err := m.Update(addQueue("Q1")); !errors.Is(err, ErrFrozen) {
		t.Fatalf("Update with one freeze left: %v", err)
	}
	if m.Current().Generation != gen || !bytes.Equal(before, readFile(t, m.Path())) {
		t.Fatal("a refused change changed the configuration")
	}
	thaw2()
	if m.Frozen() {
		t.Fatal("frozen after every thaw")
	}
	if c, err := m.Update(addQueue("Q1")); err != nil || c.Queues["Q1"] == nil || c.Generation != gen+1 {
		t.Fatalf("Update after thaw: %v", err)
	}
}
