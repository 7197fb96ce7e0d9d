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
	// Each step reserves a token (wait 0: reserved; else refused with that
	// wait), then refunds it if refund is set (a success, or not checked).
	steps := []struct {
		advance time.Duration
		addr    string
		wait    time.Duration
		refund  bool
	}{
		{0, "a", 0, true},                 // a success costs nothing
		{0, "a", 0, true},                 // ... however often
		{0, "a", 0, true},                 //
		{0, "a", 0, true},                 //
		{0, "a", 0, false},                // a failure: 2 tokens left
		{0, "a", 0, false},                // 1 left
		{0, "a", 0, false},                // 0 left
		{0, "a", 10 * time.Second, false}, // refused (never refunded): wait a full refill
		{0, "a", 10 * time.Second, false},
		{4 * time.Second, "a", 6 * time.Second, false},
		{0, "b", 0, false},                // other addresses are not affected
		{6 * time.Second, "a", 0, false},  // one token back, spent
		{0, "a", 10 * time.Second, false}, // spent again
		{60 * time.Second, "a", 0, false}, // refilled (capped at burst)
		{0, "a", 0, false},                //
		{0, "a", 0, false},                //
		{0, "a", 10 * time.Second, false}, // the cap held: only 3 at once
		{100 * time.Second, "a", 0, true}, // refunds cap at the burst too
		{0, "a", 0, false},                //
		{0, "a", 0, false},                //
		{0, "a", 0, false},                //
		{0, "a", 10 * time.Second, false}, //
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		if got := l.reserve(s.addr); got != s.wait {
			t.Fatalf("step %d: wait %v, want %v", i, got, s.wait)
		}
		if s.refund {
			l.refund(s.addr)
		}
	}
}

func TestRateLimiterIsBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newRateLimiter(2, time.Second, func() time.Time { return now })
	for i := 0; i < maxRateEntries+100; i++ {
		l.reserve(strings.Repeat("x", i%7) + time.Duration(i).String())
	}
	if n := len(l.buckets); n > maxRateEntries {
		t.Fatalf("%d buckets, bound %d", n, maxRateEntries)
	}
}
