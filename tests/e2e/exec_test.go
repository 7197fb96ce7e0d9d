package e2e

import (
	"context"
	"os/exec"
	"testing"
	"time"
)

// execBinary runs the binary to completion (bounded) and returns its
// combined output.
func execBinary(t testing.TB, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, args...).CombinedOutput()
	return string(out), err
}
