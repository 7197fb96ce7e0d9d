//go:build !failpoints

package failpoint

// Set is empty without the failpoints build tag.
type Set struct{}

// FromEnv returns an empty Set; failpoints are compiled out.
func FromEnv() (*Set, error) { return &Set{}, nil }

// Enabled reports whether failpoints are compiled in.
func Enabled() bool { return false }

// Eval does nothing without the failpoints build tag.
func (*Set) Eval(string) error { return nil }
