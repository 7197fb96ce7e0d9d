package archive

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"unicode/utf8"

	"filippo.io/age"
)

// scrypt work factors (log2 of N) accepted by this package.
const (
	// DefaultWorkFactor is used when WriterOptions.WorkFactor is zero
	// (age's own default; about a second and 256 MiB on a server).
	DefaultWorkFactor = 18
	// MinWorkFactor is the lowest accepted work factor; values below
	// DefaultWorkFactor are meant for tests.
	MinWorkFactor = 10
	// MaxWorkFactor is the highest work factor written or read (1 GiB of
	// scrypt memory); a reader refuses files that demand more.
	MaxWorkFactor = 20
	// MinPassphraseLen is the minimum passphrase length in characters.
	MinPassphraseLen = 8
)

// WriterOptions tunes a Writer. The zero value is the production setting.
type WriterOptions struct {
	// WorkFactor is the scrypt work factor (log2 N), MinWorkFactor to
	// MaxWorkFactor; zero means DefaultWorkFactor.
	WorkFactor int
	// Go starts the Writer's two helper goroutines, which hash and write a
	// large archive while the caller encrypts; nil means a go statement. A
	// caller that runs its own work at a lowered priority passes a function
	// that starts them the same way.
	Go func(func())
	// Key, when set, encrypts the archive to this key instead of the
	// passphrase (no scrypt; see Key). The passphrase is then not used
	// and may be empty. It needs format version 2 or later.
	Key *Key
	// Version is the format version to write, 1 to FormatVersion; zero
	// means FormatVersion. A caller writes an older version when nothing
	// in the archive needs a newer one, so that older servers read it.
	Version uint16
}

// Writer writes one archive to an io.Writer in a single streaming pass:
// NewWriter, WriteManifest, then CreateEntry and the entry's data for each
// entry, then Close. It never buffers an entry: data goes through age's 64 KiB
// chunk buffer straight to the destination.
//
// A Writer is used by one goroutine, except BytesWritten, which may be called
// concurrently (job progress). The first error is sticky: every later call
// returns it, and Close then does not write the end record or trailer, so the
// output never looks complete (a reader reports ErrTruncated). The caller owns
// w and closes it; Close does not.
type Writer struct {
	env     *envelopeWriter
	age     io.WriteCloser // age plaintext in (env.age)
	kind    Kind
	version uint16
	err     error
	state   writerState

	manifestDone bool
	cur          *entryWriter // entry being written, or nil
	names        map[string]struct{}
	count        uint64 // entries written, manifest included
	total        uint64 // entry data bytes written
}

type writerState int

const (
	writerOpen writerState = iota
	writerClosed
)

// ageSink receives age's ciphertext. Until streaming is set it captures the
// age header (age writes header and nonce inside age.Encrypt); afterwards it
// forwards to out.
type ageSink struct {
	captured  []byte
	streaming bool
	out       io.Writer
}

func (s *ageSink) Write(p []byte) (int, error) {
	if !s.streaming {
		s.captured = append(s.captured, p...)
		return len(p), nil
	}
	return s.out.Write(p)
}

// NewWriter starts an archive of kind on w, encrypted with passphrase (or
// with opts.Key). It writes the envelope header and age header before
// returning. The passphrase must have at least MinPassphraseLen characters;
// it never appears in errors.
func NewWriter(w io.Writer, passphrase string, kind Kind, opts WriterOptions) (*Writer, error) {
	if opts.Key == nil && utf8.RuneCountInString(passphrase) < MinPassphraseLen {
		return nil, ErrShortPassword
	}
	code, err := kind.code()
	if err != nil {
		return nil, err
	}
	wf := opts.WorkFactor
	if wf == 0 {
		wf = DefaultWorkFactor
	}
	if wf < MinWorkFactor || wf > MaxWorkFactor {
		return nil, fmt.Errorf("scrypt work factor %d out of range %d..%d", wf, MinWorkFactor, MaxWorkFactor)
	}
	version := opts.Version
	if version == 0 {
		version = FormatVersion
	}
	if version > FormatVersion || (opts.Key != nil && version < 2) {
		return nil, fmt.Errorf("archive format version %d cannot be written (1..%d; 2 or later with a key)", version, FormatVersion)
	}
	var rcp age.Recipient
	if opts.Key != nil {
		rcp = opts.Key.id.Recipient()
	} else {
		sr, err := age.NewScryptRecipient(passphrase)
		if err != nil {
			return nil, errors.New("backup password rejected by age")
		}
		sr.SetWorkFactor(wf)
		rcp = sr
	}
	env, err := openEnvelope(w, rcp, version, opts.Go)
	if err != nil {
		return nil, err
	}
	wr := &Writer{env: env, age: env.age, kind: kind, version: version, names: make(map[string]struct{})}
	if _, err := env.age.Write(marshalInnerHeader(code)); err != nil {
		return nil, fmt.Errorf("write backup: %w", err)
	}
	return wr, nil
}

// envelopeWriter writes the envelope around an age stream: header and age
// header in openEnvelope, plaintext into age, trailer in close.
type envelopeWriter struct {
	out  *output
	sink *ageSink
	age  io.WriteCloser
}

func openEnvelope(w io.Writer, rcp age.Recipient, version uint16, spawn func(func())) (*envelopeWriter, error) {
	out := newOutput(w, spawn)
	sink := &ageSink{out: out}
	aw, err := age.Encrypt(sink, rcp)
	if err != nil {
		return nil, fmt.Errorf("start encryption: %w", err)
	}
	if len(sink.captured) == 0 || len(sink.captured) > maxAgeHdr {
		return nil, fmt.Errorf("start encryption: age header is %d bytes, want 1..%d", len(sink.captured), maxAgeHdr)
	}
	hdr := envelopeHeader{version: version, ageHdrLen: uint32(len(sink.captured)), ageHdrSum: sha256.Sum256(sink.captured)}
	if _, err := out.Write(hdr.marshal()); err != nil {
		return nil, fmt.Errorf("write backup header: %w", err)
	}
	sink.streaming = true
	if _, err := sink.Write(sink.captured); err != nil {
		return nil, fmt.Errorf("write backup header: %w", err)
	}
	sink.captured = nil
	return &envelopeWriter{out: out, sink: sink, age: aw}, nil
}

// close flushes the final age chunk and writes the trailer.
func (e *envelopeWriter) close() error {
	if err := e.age.Close(); err != nil {
		return fmt.Errorf("write backup: %w", err)
	}
	if err := e.out.flush(); err != nil {
		return fmt.Errorf("write backup: %w", err)
	}
	// One hash serves both digests: its sum here is the trailer's (all bytes
	// so far); continued over the trailer it is the whole file's.
	t := envelopeTrailer{bodyLen: uint64(e.out.written())}
	copy(t.bodySum[:], e.out.sum())
	if _, err := e.out.Write(t.marshal()); err != nil {
		return fmt.Errorf("write backup trailer: %w", err)
	}
	if err := e.out.flush(); err != nil {
		return fmt.Errorf("write backup trailer: %w", err)
	}
	return nil
}

// fail records the first error and returns it.
func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return w.err
}

func (w *Writer) usable() error {
	if w.err != nil {
		return w.err
	}
	if w.state == writerClosed {
		return errors.New("archive writer is closed")
	}
	return nil
}

// WriteManifest writes m as the first entry. It must be called exactly once,
// before CreateEntry. FormatVersion and Kind are filled in when zero and must
// match otherwise; Created is stored in UTC; BackupID must be set. m is not
// modified or retained.
func (w *Writer) WriteManifest(m *Manifest) error {
	if err := w.usable(); err != nil {
		return err
	}
	if w.manifestDone {
		return errors.New("archive manifest already written")
	}
	b, err := encodeManifest(m, w.kind, w.version)
	if err != nil {
		return err // caller error; the writer stays usable
	}
	ew, err := w.createEntry(&EntryHeader{Name: ManifestName, Mode: 0o644, Size: int64(len(b))})
	if err != nil {
		return err
	}
	if _, err := ew.Write(b); err != nil {
		return err
	}
	w.manifestDone = true
	return nil
}

// CreateEntry starts an entry of exactly size bytes and returns the writer
// for its data, valid until the next CreateEntry or Close. Writing more than
// size bytes, or calling CreateEntry or Close before size bytes were written,
// fails the Writer. name must be a clean relative slash-separated path
// (fs.ValidPath), unique in the archive and not ManifestName; mode holds
// permission bits only.
func (w *Writer) CreateEntry(name string, mode fs.FileMode, size int64) (io.Writer, error) {
	if err := w.usable(); err != nil {
		return nil, err
	}
	if !w.manifestDone {
		return nil, errors.New("archive: WriteManifest must come before CreateEntry")
	}
	if name == ManifestName {
		return nil, fmt.Errorf("archive: entry name %q is reserved", ManifestName)
	}
	return w.createEntry(&EntryHeader{Name: name, Mode: mode, Size: size})
}

func (w *Writer) createEntry(h *EntryHeader) (io.Writer, error) {
	if err := w.finishEntry(); err != nil {
		return nil, err
	}
	if err := validateEntry(h); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	if _, dup := w.names[h.Name]; dup {
		return nil, fmt.Errorf("archive: duplicate entry %q", h.Name)
	}
	if w.count >= MaxEntries { // the count includes the manifest
		return nil, fmt.Errorf("archive: more than %d entries", MaxEntries)
	}
	if _, err := w.age.Write(marshalEntryHeader(h)); err != nil {
		return nil, w.fail(fmt.Errorf("write backup: %w", err))
	}
	w.names[h.Name] = struct{}{}
	w.count++
	w.cur = &entryWriter{w: w, name: h.Name, size: h.Size}
	return w.cur, nil
}

// finishEntry checks that the current entry got all its bytes.
func (w *Writer) finishEntry() error {
	if w.cur == nil {
		return nil
	}
	if e := w.cur; e.written != e.size {
		return w.fail(fmt.Errorf("archive entry %q: %d of %d bytes written", e.name, e.written, e.size))
	}
	w.cur.done = true
	w.cur = nil
	return nil
}

// Close writes the end record, the final age chunk and the trailer. After a
// successful Close, Size and SHA256 describe the whole output. Close (or
// Abort) must be called also after an error: it ends the goroutines that
// hash and write a large archive.
func (w *Writer) Close() error {
	defer w.env.out.stop()
	if err := w.usable(); err != nil {
		return err
	}
	if !w.manifestDone {
		return w.fail(errors.New("archive: closed without a manifest"))
	}
	if err := w.finishEntry(); err != nil {
		return err
	}
	if _, err := w.age.Write(marshalEndRecord(w.count, w.total)); err != nil {
		return w.fail(fmt.Errorf("write backup: %w", err))
	}
	if err := w.env.close(); err != nil {
		return w.fail(err)
	}
	w.state = writerClosed
	return nil
}

// Abort fails the Writer, if Close has not succeeded, without writing the
// end record or trailer, so the output never looks complete, and ends its
// goroutines. It may be called at any time, also after Close (deferred).
func (w *Writer) Abort() {
	if w.state != writerClosed {
		w.fail(errAborted)
	}
	w.env.out.stop()
}

// BytesWritten is the number of bytes written to the destination so far. It
// is safe to call from any goroutine at any time.
func (w *Writer) BytesWritten() int64 { return w.env.out.written() }

// Size is the size of the whole output file; valid after Close returned nil.
func (w *Writer) Size() int64 { return w.env.out.written() }

// SHA256 is the SHA-256 of the whole output file as written; nil unless Close
// returned nil.
func (w *Writer) SHA256() []byte {
	if w.state != writerClosed || w.err != nil {
		return nil
	}
	return w.env.out.sum()
}

// entryWriter accepts exactly size bytes of one entry.
type entryWriter struct {
	w       *Writer
	name    string
	size    int64
	written int64
	done    bool
}

func (e *entryWriter) Write(p []byte) (int, error) {
	if err := e.w.usable(); err != nil {
		return 0, err
	}
	if e.done {
		return 0, fmt.Errorf("archive entry %q: write after the next entry started", e.name)
	}
	if int64(len(p)) > e.size-e.written {
		return 0, e.w.fail(fmt.Errorf("archive entry %q: write of %d bytes exceeds declared size %d (%d written)", e.name, len(p), e.size, e.written))
	}
	n, err := e.w.age.Write(p)
	e.written += int64(n)
	e.w.total += uint64(n)
	if err != nil {
		return n, e.w.fail(fmt.Errorf("write backup: %w", err))
	}
	return n, nil
}
