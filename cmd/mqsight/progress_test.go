package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Standard error that is no terminal gets one line as a step starts and
// one as it ends, and never a bar redrawn with carriage returns.
func TestProgressWithoutTerminal(t *testing.T) {
	var out bytes.Buffer
	cmd := &cobra.Command{}
	cmd.SetErr(&out)

	up := newProgress(cmd, 3<<20, "upload x", true)
	up.Write(make([]byte, 1<<20))
	up.Write(make([]byte, 2<<20))
	up.Finish()
	up.Finish() // once only

	steps := newProgress(cmd, 0, "restore: apply", false)
	steps.SetTotal(4)
	steps.Set(1)
	steps.Stop()
	steps.Finish() // already ended

	got := out.String()
	want := regexp.MustCompile(`^upload x: started, 3\.0 MiB\n` +
		`upload x: done, 3\.0 MiB in [0-9.]+[mµn]?s\n` +
		`restore: apply: started\n` +
		`restore: apply: stopped at 1 step of 4 steps\n$`)
	if !want.MatchString(got) || strings.Contains(got, "\r") {
		t.Fatalf("progress lines:\n%s", got)
	}
}
