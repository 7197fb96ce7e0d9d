// Package testport hands tests loopback TCP ports that nothing listens on.
//
// A port found by listening on port 0 and closing the listener is free
// only for a moment: the kernel may give the same port to the next such
// listener in this process (two endpoints of one test server then get the
// same port) or in a test binary of another package running beside it, or
// to an outgoing connection as its local port. Pick avoids all three: it
// never returns a port twice in one process, and it draws ports at random
// from below the kernel's ephemeral range, where neither port-0 listeners
// nor outgoing connections are given ports.
package testport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// lowest is the lowest port Pick returns; ports below it are left to
// well-known services (the test sshd listens on 2222).
const lowest = 10000

// attempts bounds the random draws of one Pick.
const attempts = 200

var (
	mu    sync.Mutex
	given = map[int]bool{}
	draw  = rand.IntN // draw(n) is in [0, n); tests replace it
)

// Pick returns a port on 127.0.0.1 that nothing listened on a moment ago
// and that no earlier Pick of this process returned.
func Pick() (int, error) {
	hi := ephemeralLow() - 1
	mu.Lock()
	defer mu.Unlock()
	for range attempts {
		port := lowest + draw(hi-lowest+1)
		if given[port] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // in use; draw again
		}
		ln.Close()
		given[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("no free loopback port in %d-%d after %d attempts", lowest, hi, attempts)
}

// Free is Pick for tests: it fails t when no port can be found.
func Free(t testing.TB) int {
	t.Helper()
	port, err := Pick()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// ephemeralLow is the lowest port of the kernel's ephemeral range, or
// Linux's default (32768) where the range cannot be read or leaves too
// little room below it (then Pick may draw ephemeral ports, and only its
// promise not to repeat itself holds).
func ephemeralLow() int {
	const fallback = 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return fallback
	}
	lo, err := parseRangeLow(string(b))
	if err != nil || lo < lowest+1000 {
		return fallback
	}
	return lo
}

// parseRangeLow reads the first number of "32768\t60999\n".
func parseRangeLow(s string) (int, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, errors.New("want two numbers")
	}
	return strconv.Atoi(f[0])
}
