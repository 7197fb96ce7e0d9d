package backup

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// runCrashChild re-runs this test binary as a child that runs only test,
// with spec as JSON in the environment variable env. If killWithin > 0 the
// child first prints "ready" and is then SIGKILLed at a random moment
// within killWithin; otherwise it runs until it ends (or SIGKILLs itself at
// a step). It reports whether the child died of SIGKILL and fails the test
// if it ended any other way than SIGKILL or success.
func runCrashChild(t *testing.T, test, env string, spec any, killWithin time.Duration) (killed bool) {
	t.Helper()
	raw, _ := json.Marshal(spec)
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"="+string(raw))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewReader(stdout)
	if killWithin > 0 {
		if line, err := out.ReadString('\n'); err != nil || line != "ready\n" {
			t.Fatalf("child said %q, %v", line, err)
		}
		time.Sleep(time.Duration(rand.Int64N(int64(killWithin))))
		cmd.Process.Kill()
	}
	rest, _ := io.ReadAll(out)
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws := ee.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("child failed: %v\n%s", err, rest)
		}
		return true
	} else if err != nil {
		t.Fatal(err)
	}
	return false
}
