package admin

import (
	"strings"
	"testing"
	"time"
)

func TestParseRestart(t *testing.T) {
	tests := []struct {
		body map[string]any
		want RestartRequest
		code Code // "" for success
	}{
		{map[string]any{"Service": "Server"}, RestartRequest{}, ""},
		{map[string]any{"Service": "Server", "Maintenance": "start"}, RestartRequest{Maintenance: "start"}, ""},
		{map[string]any{"Service": "Server", "Maintenance": "STOP"}, RestartRequest{Maintenance: "stop"}, ""},
		{map[string]any{"Service": "Server", "CleanStore": true}, RestartRequest{CleanStore: true}, ""},
		{map[string]any{"Service": "Server", "CleanStore": false}, RestartRequest{}, ""},
		{map[string]any{"Service": "Server", "Reset": "config"}, RestartRequest{ResetConfig: true, CleanStore: true}, ""},
		{map[string]any{"Service": "Server", "Reset": "config", "CleanStore": true}, RestartRequest{ResetConfig: true, CleanStore: true}, ""},
		{map[string]any{}, RestartRequest{}, CodeBadRequest},
		{map[string]any{"Maintenance": "start"}, RestartRequest{}, CodeBadRequest},
		{map[string]any{"Service": "Server", "Maintenance": "start", "CleanStore": true}, RestartRequest{}, CodeBadRequest},
		{map[string]any{"Service": "Server", "Maintenance": "stop", "Reset": "config"}, RestartRequest{}, CodeBadRequest},
		{map[string]any{"Service": "Plugin"}, RestartRequest{}, CodeBadValue},
		{map[string]any{"Service": "server"}, RestartRequest{}, CodeBadValue}, // case-sensitive, a value like any other
		{map[string]any{"Service": "Server", "Maintenance": true}, RestartRequest{}, CodeBadValue},
		{map[string]any{"Service": "Server", "CleanStore": "yes"}, RestartRequest{}, CodeBadValue},
		{map[string]any{"Service": "Server", "Reset": "store"}, RestartRequest{}, CodeBadValue},
		{map[string]any{"Service": "Server", "Force": true}, RestartRequest{}, CodeBadArgument},
	}
	for _, tc := range tests {
		got, err := parseRestart(tc.body)
		if tc.code == "" {
			if err != nil || got != tc.want {
				t.Errorf("%v: got %+v %v, want %+v", tc.body, got, err, tc.want)
			}
			continue
		}
		e, ok := err.(*Error)
		if !ok || e.Code != tc.code {
			t.Errorf("%v: error %v, want code %s", tc.body, err, tc.code)
		}
	}
}

func TestCheckFileName(t *testing.T) {
	for name, ok := range map[string]bool{
		"server.pem": true, "backup-2026.mqsbak": true, "ünïcode.crt": true, strings.Repeat("a", 255): true,
		"": false, ".": false, "..": false, ".hidden": false, "a/b": false, `a\b`: false, "a\x00b": false,
		"tab\tname": false, "del\x7f": false, strings.Repeat("a", 256): false, "\xff\xfe": false,
		// Names that read as something they are not.
		"invoice\u202Egpj.exe": false, // RIGHT-TO-LEFT OVERRIDE: shown as invoiceexe.jpg
		"a\u2066b\u2069":       false, // LEFT-TO-RIGHT ISOLATE, POP DIRECTIONAL ISOLATE
		"zero\u200Bwidth":      false, "\uFEFFbom.crt": false, "soft\u00ADhyphen": false,
		"etc\u2215passwd": false, "a\u2044b": false, "a\uFF0Fb": false, "a\uFF3Cb": false, "a\u29F8b": false,
		"next\u0085line": false, "line\u2028sep": false, "para\u2029sep": false,
		"trailing ": false, " leading": false, "nbsp\u00A0": false, "\u3000ideographic": false, "tab\t": false,
		// Spaces inside, and scripts and symbols that are not separators.
		"my server.pem": true, "日本語.crt": true, "Ελληνικά.key": true, "half½.txt": true, "a-b_c+d=e.bin": true,
	} {
		if err := checkFileName(name); (err == nil) != ok {
			t.Errorf("checkFileName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}

func TestRateLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newRateLimiter(3, 10*time.Second, func() time.Time { return now })
	steps := []struct {
		advance time.Duration
		fail    bool
		addr    string
		wait    time.Duration
	}{
		{0, false, "a", 0},               // unknown address: no wait
		{0, true, "a", 0},                // 2 tokens left
		{0, true, "a", 0},                // 1 left
		{0, true, "a", 10 * time.Second}, // 0 left: wait a full refill
		{4 * time.Second, false, "a", 6 * time.Second},
		{0, false, "b", 0},                // other addresses are not affected
		{6 * time.Second, false, "a", 0},  // one token back
		{0, true, "a", 10 * time.Second},  // spent again
		{60 * time.Second, false, "a", 0}, // refilled (capped at burst)
		{0, true, "a", 0},
		{0, true, "a", 0},
		{0, true, "a", 10 * time.Second}, // the cap held: only 3 at once
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		if s.fail {
			l.fail(s.addr)
		}
		if got := l.wait(s.addr); got != s.wait {
			t.Fatalf("step %d: wait %v, want %v", i, got, s.wait)
		}
	}
}

func TestRateLimiterIsBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newRateLimiter(2, time.Second, func() time.Time { return now })
	for i := 0; i < maxRateEntries+100; i++ {
		l.fail(strings.Repeat("x", i%7) + time.Duration(i).String())
	}
	if n := len(l.buckets); n > maxRateEntries {
		t.Fatalf("%d buckets, bound %d", n, maxRateEntries)
	}
}
