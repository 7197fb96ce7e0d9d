package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the mqsight command line with args in-process and returns
// its standard output and error, and the error main would print after
// "mqsight: ".
func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

// writeFile writes data to a new file in a test directory.
func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Each layer names its own step once: `mqsight: verify: verify: ...`
// repeated the operation.
func TestVerifyErrorNamesTheOperationOnce(t *testing.T) {
	pw := writeFile(t, "pw", "a backup password\n")
	missing := filepath.Join(t.TempDir(), "imaBackup.101010-11272026")
	_, _, err := runCLI(t, "backup", "verify", missing, "--password-file", pw)
	if err == nil || strings.Count(err.Error(), "verify:") != 1 || !strings.HasPrefix(err.Error(), "verify: ") {
		t.Fatalf("err %v, want one leading \"verify: \"", err)
	}
}
