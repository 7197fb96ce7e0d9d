// Package configtest holds test doubles for package config.
package configtest

import (
	"context"
	"sync/atomic"

	"github.com/mqsight/mqsight/internal/config"
)

// Checker stands in for config.PasswordChecker: it counts checks, can hold
// each until Release is closed, and answers Result (nil: the real
// config.VerifyPassword).
type Checker struct {
	Checks  atomic.Int32
	Entered chan struct{} // one element per check started; nil: not signalled
	Release chan struct{} // nil: do not block
	Result  func(hash, plain string) (bool, error)
}

// Check implements the password checker interface.
func (f *Checker) Check(_ context.Context, hash, plain string) (bool, error) {
	f.Checks.Add(1)
	if f.Entered != nil {
		f.Entered <- struct{}{}
	}
	if f.Release != nil {
		<-f.Release
	}
	if f.Result == nil {
		return config.VerifyPassword(hash, plain), nil
	}
	return f.Result(hash, plain)
}
