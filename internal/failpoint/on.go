//go:build failpoints

package failpoint

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Set holds the failpoints armed for one process. It is safe for concurrent
// use; mu guards the remaining trigger counts.
type Set struct {
	mu      sync.Mutex
	actions map[string]*action
}

type action struct {
	verb   string // error, panic, kill, sleep
	arg    int    // sleep milliseconds
	count  int    // remaining triggers; -1 = unlimited
	chance int    // percent, 100 = always
}

// Enabled reports whether failpoints are compiled in.
func Enabled() bool { return true }

// FromEnv parses MQSIGHT_FAILPOINTS.
func FromEnv() (*Set, error) { return Parse(os.Getenv("MQSIGHT_FAILPOINTS")) }

// Parse parses a failpoint specification (see the package documentation).
func Parse(spec string) (*Set, error) {
	s := &Set{actions: map[string]*action{}}
	for _, part := range strings.Split(spec, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, act, ok := strings.Cut(part, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("failpoint %q: want name=action", part)
		}
		a := &action{count: -1, chance: 100}
		if n, rest, ok := strings.Cut(act, "*"); ok {
			c, err := strconv.Atoi(n)
			if err != nil || c < 1 {
				return nil, fmt.Errorf("failpoint %q: bad count %q", name, n)
			}
			a.count, act = c, rest
		}
		if p, rest, ok := strings.Cut(act, "%"); ok {
			c, err := strconv.Atoi(p)
			if err != nil || c < 0 || c > 100 {
				return nil, fmt.Errorf("failpoint %q: bad percentage %q", name, p)
			}
			a.chance, act = c, rest
		}
		switch {
		case act == "error" || act == "panic" || act == "kill":
			a.verb = act
		case strings.HasPrefix(act, "sleep(") && strings.HasSuffix(act, ")"):
			ms, err := strconv.Atoi(act[len("sleep(") : len(act)-1])
			if err != nil || ms < 0 {
				return nil, fmt.Errorf("failpoint %q: bad sleep %q", name, act)
			}
			a.verb, a.arg = "sleep", ms
		default:
			return nil, fmt.Errorf("failpoint %q: unknown action %q", name, act)
		}
		s.actions[name] = a
	}
	return s, nil
}

// Eval runs the action armed for name, if any.
func (s *Set) Eval(name string) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	a := s.actions[name]
	if a == nil || a.count == 0 || (a.chance < 100 && rand.IntN(100) >= a.chance) {
		s.mu.Unlock()
		return nil
	}
	if a.count > 0 {
		a.count--
	}
	verb, arg := a.verb, a.arg
	s.mu.Unlock()
	switch verb {
	case "error":
		return fmt.Errorf("%s: %w", name, ErrInjected)
	case "panic":
		panic("failpoint " + name)
	case "kill":
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is delivered asynchronously
	case "sleep":
		time.Sleep(time.Duration(arg) * time.Millisecond)
	}
	return nil
}
