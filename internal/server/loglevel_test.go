package server

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/mqsight/mqsight/internal/config"
)

// The configuration's LogLevel sets the log level (MIN: warnings and
// errors, NORMAL: information, MAX: debug), at start and on each change.
func TestLogLevelFollowsConfiguration(t *testing.T) {
	logs := &logBuffer{}
	level := new(slog.LevelVar)
	ts := startTestServer(t, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level}))
		o.LogLevel = level
		prev := o.Initial
		o.Initial = func(c *config.Config) error {
			c.LogLevel = "MAX"
			return prev(c)
		}
	})
	if level.Level() != slog.LevelDebug {
		t.Fatalf("level %v at start with LogLevel MAX", level.Level())
	}
	for _, tc := range []struct {
		logLevel string
		want     slog.Level
	}{{"MIN", slog.LevelWarn}, {"NORMAL", slog.LevelInfo}, {"MAX", slog.LevelDebug}} {
		ts.admin.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{"LogLevel": tc.logLevel})
		if level.Level() != tc.want {
			t.Fatalf("LogLevel %s: level %v, want %v", tc.logLevel, level.Level(), tc.want)
		}
	}
	if !strings.Contains(logs.String(), "log level set from the configuration") {
		t.Fatalf("level changes not logged:\n%s", logs.String())
	}
	// At MIN an informational line is not written.
	ts.admin.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{"LogLevel": "MIN"})
	before := len(logs.String())
	ts.s.log.Info("an informational line")
	if len(logs.String()) != before {
		t.Fatal("an INFO line was written at LogLevel MIN")
	}
}
