package testport

import (
	"net"
	"strconv"
	"testing"
)

func TestPickNeverRepeatsAndStaysBelowEphemeral(t *testing.T) {
	hi := ephemeralLow()
	seen := map[int]bool{}
	for range 300 {
		p := Free(t)
		if seen[p] {
			t.Fatalf("port %d returned twice", p)
		}
		seen[p] = true
		if p < lowest || p >= hi {
			t.Fatalf("port %d outside [%d, %d)", p, lowest, hi)
		}
	}
}

func TestPickSkipsPortsInUseAndGiven(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	inUse := busy.Addr().(*net.TCPAddr).Port
	old := Free(t)

	free := Free(t)
	given[free] = false // pretend it was never handed out (under no lock: no other Pick runs)
	seq := []int{inUse, old, free}
	defer func(d func(int) int) { draw = d }(draw)
	draw = func(int) int {
		p := seq[0]
		seq = seq[1:]
		return p - lowest
	}
	got, err := Pick()
	if err != nil || got != free {
		t.Fatalf("Pick() = %d, %v; want %d after skipping %d (in use) and %d (given)", got, err, free, inUse, old)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(got)))
	if err != nil {
		t.Fatalf("port %d from Pick cannot be listened on: %v", got, err)
	}
	ln.Close()
}

func TestParseRangeLow(t *testing.T) {
	for in, want := range map[string]int{"32768\t60999\n": 32768, "1024 65535": 1024} {
		got, err := parseRangeLow(in)
		if err != nil || got != want {
			t.Errorf("parseRangeLow(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "32768", "a b", "1 2 3"} {
		if _, err := parseRangeLow(in); err == nil {
			t.Errorf("parseRangeLow(%q) accepted", in)
		}
	}
}
