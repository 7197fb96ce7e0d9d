package archive

import (
	"crypto/sha256"
	"hash"
	"io"
	"sync"
	"sync/atomic"
)

// Output pipeline sizes: bytes are gathered into blocks of outBlockSize, at
// most outBlocks of them in flight between the encrypting caller, the
// hasher and the writer.
const (
	outBlockSize = 1 << 20
	outBlocks    = 4
)

// output hashes (SHA-256), counts and writes an archive's bytes, in order.
//
// Encryption, hashing and the destination's write each cost about as much
// CPU as the others; done one after the other on the caller's goroutine
// they use one core. output overlaps them: the caller's bytes are gathered
// into blocks, and each full block goes to a hasher goroutine and then to a
// writer goroutine, so a large archive is encrypted, hashed and written at
// the same time. The goroutines start with the first full block (a small
// archive never has one and is hashed and written by flush on the caller's
// goroutine) and end with stop.
//
// A write error is sticky: it is returned by the next write or flush, and
// the blocks still queued are dropped unwritten. One goroutine calls write,
// flush, sum and stop; written may be called from any goroutine.
type output struct {
	w     io.Writer
	hash  hash.Hash
	spawn func(func()) // starts the goroutines

	cur  []byte // block being gathered
	made int    // blocks allocated so far, at most outBlocks
	free chan []byte

	started  bool
	toHash   chan []byte
	toWrite  chan []byte
	pending  sync.WaitGroup // blocks handed to the goroutines, not yet done
	finished chan struct{}  // closed when the writer goroutine returned

	n   atomic.Int64 // bytes written to w
	err atomic.Pointer[error]
}

func newOutput(w io.Writer, spawn func(func())) *output {
	if spawn == nil {
		spawn = func(f func()) { go f() }
	}
	return &output{w: w, hash: sha256.New(), spawn: spawn, free: make(chan []byte, outBlocks)}
}

func (o *output) failed() error {
	if p := o.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Write gathers p; it reports an error the hasher or writer met before.
func (o *output) Write(p []byte) (int, error) {
	if err := o.failed(); err != nil {
		return 0, err
	}
	total := len(p)
	for len(p) > 0 {
		if o.cur == nil {
			o.cur = o.block()
		}
		n := copy(o.cur[len(o.cur):cap(o.cur)], p)
		o.cur = o.cur[:len(o.cur)+n]
		p = p[n:]
		if len(o.cur) == cap(o.cur) {
			o.dispatch()
			if err := o.failed(); err != nil {
				return total - len(p), err
			}
		}
	}
	return total, nil
}

// block returns an empty block: a new one while fewer than outBlocks
// exist, else the next one the writer gives back.
func (o *output) block() []byte {
	select {
	case b := <-o.free:
		return b[:0]
	default:
	}
	if o.made < outBlocks {
		o.made++
		return make([]byte, 0, outBlockSize)
	}
	return (<-o.free)[:0]
}

// dispatch hands the current block to the goroutines, starting them first
// if needed.
func (o *output) dispatch() {
	if !o.started {
		o.started = true
		o.toHash = make(chan []byte, outBlocks)
		o.toWrite = make(chan []byte, outBlocks)
		o.finished = make(chan struct{})
		o.spawn(o.hasher)
		o.spawn(o.writer)
	}
	o.pending.Add(1)
	o.toHash <- o.cur
	o.cur = nil
}

func (o *output) hasher() {
	defer close(o.toWrite)
	for b := range o.toHash {
		if o.failed() == nil {
			o.hash.Write(b)
		}
		o.toWrite <- b
	}
}

func (o *output) writer() {
	defer close(o.finished)
	for b := range o.toWrite {
		if o.failed() == nil {
			o.writeOut(b)
		}
		o.free <- b
		o.pending.Done()
	}
}

// writeOut writes b to w and counts it; a short write is an error.
func (o *output) writeOut(b []byte) {
	n, err := o.w.Write(b)
	o.n.Add(int64(n))
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		o.err.CompareAndSwap(nil, &err)
	}
}

// flush writes everything gathered so far and waits until it is written;
// afterwards the hash covers every byte written.
func (o *output) flush() error {
	if o.started {
		if len(o.cur) > 0 {
			o.dispatch()
		}
		o.pending.Wait()
	} else if len(o.cur) > 0 && o.failed() == nil {
		o.hash.Write(o.cur)
		o.writeOut(o.cur)
		o.cur = o.cur[:0]
	}
	return o.failed()
}

// sum is the SHA-256 of the bytes written so far; call it after flush.
func (o *output) sum() []byte { return o.hash.Sum(nil) }

// written is the number of bytes written to w so far.
func (o *output) written() int64 { return o.n.Load() }

// stop ends the goroutines, dropping any block not yet written. It may be
// called more than once.
func (o *output) stop() {
	if o.toHash == nil { // never started, or stopped already
		return
	}
	err := error(errStopped)
	o.err.CompareAndSwap(nil, &err)
	close(o.toHash)
	o.toHash = nil
	<-o.finished
}
