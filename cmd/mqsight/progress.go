package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// progress shows how far one step of a long operation is, on standard
// error: a bar redrawn in place on a terminal; anywhere else (a log file,
// a pipe) one line as the step starts and one as it ends, so that the
// output reads as a log. Counts are bytes or steps. Safe for concurrent
// use (an HTTP transport reads an upload's body in its own goroutine).
type progress struct {
	bar *progressbar.ProgressBar // nil when standard error is no terminal

	mu    sync.Mutex
	w     io.Writer
	desc  string
	bytes bool
	max   int64 // <= 0: unknown
	done  int64
	start time.Time
	ended bool
}

func newProgress(cmd *cobra.Command, total int64, desc string, bytes bool) *progress {
	w := cmd.ErrOrStderr()
	p := &progress{w: w, desc: desc, bytes: bytes, max: total, start: time.Now()}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if total <= 0 {
			total = -1 // spinner until the size is known
		}
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionShowBytes(bytes),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionShowCount(),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
			progressbar.OptionSetRenderBlankState(true),
		)
		return p
	}
	if total > 0 {
		fmt.Fprintf(w, "%s: started, %s\n", desc, p.amount(total))
	} else {
		fmt.Fprintf(w, "%s: started\n", desc)
	}
	return p
}

// Set records that n of the total are done.
func (p *progress) Set(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.set(n)
}

func (p *progress) set(n int64) {
	p.done = n
	if p.bar != nil {
		p.bar.Set64(n)
	}
}

// SetTotal changes the total, once it is known or when it changed.
func (p *progress) SetTotal(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n <= 0 || n == p.max {
		return
	}
	p.max = n
	if p.bar != nil {
		p.bar.ChangeMax64(n)
	}
}

// Write counts len(b) more bytes done (for io.MultiWriter, io.TeeReader).
func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.set(p.done + int64(len(b)))
	return len(b), nil
}

// Finish ends the step as complete.
func (p *progress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended {
		return
	}
	p.ended = true
	if p.bar != nil {
		p.bar.Finish()
		return
	}
	done := p.done
	if p.max > 0 {
		done = p.max
	}
	fmt.Fprintf(p.w, "%s: done, %s in %s\n", p.desc, p.amount(done), time.Since(p.start).Round(time.Millisecond))
}

// Stop ends the step where it is, incomplete (the operation failed).
func (p *progress) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended {
		return
	}
	p.ended = true
	if p.bar != nil {
		p.bar.Exit()
		return
	}
	of := ""
	if p.max > 0 {
		of = " of " + p.amount(p.max)
	}
	fmt.Fprintf(p.w, "%s: stopped at %s%s\n", p.desc, p.amount(p.done), of)
}

// amount formats n bytes (KiB, MiB, GiB) or n steps.
func (p *progress) amount(n int64) string {
	if !p.bytes {
		if n == 1 {
			return "1 step"
		}
		return fmt.Sprintf("%d steps", n)
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n)/unit, 0
	for ; f >= unit && i < 3; i++ {
		f /= unit
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGT"[i])
}
