//go:build !failpoints

package failpoint

import "testing"

func TestCompiledOut(t *testing.T) {
	t.Setenv("MQSIGHT_FAILPOINTS", "storeBeforeSync=error")
	s, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if Enabled() || s.Eval(StoreBeforeSync) != nil {
		t.Fatal("failpoints must be inert without the failpoints build tag")
	}
}
