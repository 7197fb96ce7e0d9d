package mqtttest

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
)

// clientSeq numbers generated client identifiers within the test binary.
var clientSeq atomic.Uint64

// ClientID returns a client identifier unique within the test binary,
// derived from the test's name, at most 23 characters of [0-9a-zA-Z] so
// that every conformant broker must accept it ([MQTT-3.1.3-5]).
func ClientID(tb testing.TB) string {
	name := tb.Name()
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	for _, r := range name {
		if ('0' <= r && r <= '9') || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') {
			b.WriteRune(r)
		}
	}
	suffix := fmt.Sprintf("x%d", clientSeq.Add(1))
	base := b.String()
	if max := 23 - len(suffix); len(base) > max {
		base = base[len(base)-max:]
	}
	return base + suffix
}
