package store

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// idSamples are identifiers chosen to break naive encodings: empty, the
// escape and terminator bytes, and identifiers that are prefixes of others.
var idSamples = []string{
	"", "a", "ab", "a\x00", "a\x00b", "a\x00\x01", "a\x01", "a\xff", "\x00", "\x00\x00", "\x00\x01",
	"\x00\xff", "\x01", "\xff", "a/b", "a/b/c", "client-1", "client-10", strings.Repeat("x", 300),
}

func randomIDs(n int) []string {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{0x00, 0x01, 0xff, 'a', 'b'}
	ids := append([]string(nil), idSamples...)
	for range n {
		b := make([]byte, rng.IntN(6))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		ids = append(ids, string(b))
	}
	return ids
}

// TestEncodedIDsArePrefixFreeAndOrdered: no encoded identifier is a prefix of
// another, and encoded order is string order, so a prefix scan for one
// client, owner or queue never returns another's keys.
func TestEncodedIDsArePrefixFreeAndOrdered(t *testing.T) {
	ids := randomIDs(400)
	for _, a := range ids {
		ea := appendID(nil, a)
		for _, b := range ids {
			eb := appendID(nil, b)
			if a != b && bytes.HasPrefix(eb, ea) {
				t.Fatalf("esc(%q)=%x is a prefix of esc(%q)=%x", a, ea, b, eb)
			}
			if got, want := bytes.Compare(ea, eb), strings.Compare(a, b); got != want {
				t.Fatalf("compare esc(%q), esc(%q) = %d, want %d", a, b, got, want)
			}
		}
	}
}

func TestPrefixScansDoNotMix(t *testing.T) {
	for _, a := range idSamples {
		for _, b := range idSamples {
			if a == b {
				continue
			}
			checks := []struct {
				prefix, key []byte
			}{
				{RefPrefix(a), RefKey(b, 0)},
				{RefPrefix(a), RefKey(b, 1<<63)},
				{QueuePrefix(a), QueueEntryKey(b, 7)},
				{SubscriptionPrefix(a), SubscriptionKey(b, a)},
				{ClientStateKey(a), ClientStateKey(b)},
				{RetainedKey(a), RetainedKey(b)},
			}
			for _, c := range checks {
				if bytes.HasPrefix(c.key, c.prefix) {
					t.Fatalf("key %x of %q falls under the prefix %x of %q", c.key, b, c.prefix, a)
				}
			}
		}
	}
}

func TestKeysRoundTrip(t *testing.T) {
	for _, id := range randomIDs(100) {
		for _, seq := range []uint64{0, 1, 255, 1 << 63, ^uint64(0)} {
			if o, s, err := ParseRefKey(RefKey(id, seq)); err != nil || o != id || s != seq {
				t.Fatalf("ref %q %d -> %q %d %v", id, seq, o, s, err)
			}
			if q, s, err := ParseQueueEntryKey(QueueEntryKey(id, seq)); err != nil || q != id || s != seq {
				t.Fatalf("queue %q %d -> %q %d %v", id, seq, q, s, err)
			}
			if m, err := ParseMessageKey(MessageKey(seq)); err != nil || m != seq {
				t.Fatalf("message %d -> %d %v", seq, m, err)
			}
		}
		if c, n, err := ParseSubscriptionKey(SubscriptionKey(id, id+"/n")); err != nil || c != id || n != id+"/n" {
			t.Fatalf("subscription %q -> %q %q %v", id, c, n, err)
		}
		if c, err := ParseClientStateKey(ClientStateKey(id)); err != nil || c != id {
			t.Fatalf("client %q -> %q %v", id, c, err)
		}
		if r, err := ParseRetainedKey(RetainedKey(id)); err != nil || r != id {
			t.Fatalf("retained %q -> %q %v", id, r, err)
		}
	}
}

func TestKeyLayout(t *testing.T) {
	cases := map[string]struct{ got, want []byte }{
		"message":      {MessageKey(0x0102), []byte{2, 0, 0, 0, 0, 0, 0, 1, 2}},
		"reference":    {RefKey("a\x00", 1), []byte{3, 'a', 0, 0xff, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}},
		"subscription": {SubscriptionKey("c", "s"), []byte{4, 'c', 0, 1, 's', 0, 1}},
		"client":       {ClientStateKey("c"), []byte{5, 'c', 0, 1}},
		"retained":     {RetainedKey("t/x"), []byte{6, 't', '/', 'x', 0, 1}},
		"queue":        {QueueEntryKey("q", 2), []byte{7, 'q', 0, 1, 0, 0, 0, 0, 0, 0, 0, 2}},
	}
	for name, c := range cases {
		if !bytes.Equal(c.got, c.want) {
			t.Errorf("%s key %x, want %x", name, c.got, c.want)
		}
	}
	// Sequences sort numerically.
	if bytes.Compare(QueueEntryKey("q", 255), QueueEntryKey("q", 256)) >= 0 {
		t.Error("queue sequences do not sort numerically")
	}
}

func TestParseRejectsMalformedKeys(t *testing.T) {
	bad := map[string]func() error{
		"wrong kind":          func() error { _, err := ParseMessageKey(RetainedKey("x")); return err },
		"short message":       func() error { _, err := ParseMessageKey([]byte{2, 1}); return err },
		"unterminated id":     func() error { _, err := ParseClientStateKey([]byte{5, 'a'}); return err },
		"escape at end":       func() error { _, err := ParseClientStateKey([]byte{5, 'a', 0}); return err },
		"invalid escape":      func() error { _, err := ParseRetainedKey([]byte{6, 'a', 0, 7, 0, 1}); return err },
		"trailing after id":   func() error { _, err := ParseRetainedKey([]byte{6, 'a', 0, 1, 'x'}); return err },
		"ref without seq":     func() error { _, _, err := ParseRefKey(RefPrefix("o")); return err },
		"queue long seq":      func() error { _, _, err := ParseQueueEntryKey(append(QueueEntryKey("q", 1), 0)); return err },
		"sub missing name":    func() error { _, _, err := ParseSubscriptionKey(SubscriptionPrefix("c")); return err },
		"sub trailing":        func() error { _, _, err := ParseSubscriptionKey(append(SubscriptionKey("c", "n"), 1)); return err },
		"empty key":           func() error { _, err := ParseClientStateKey(nil); return err },
		"meta is not message": func() error { _, err := ParseMessageKey([]byte(metaLSNKey)); return err },
	}
	for name, f := range bad {
		if err := f(); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}

func TestPrefixEnd(t *testing.T) {
	cases := []struct{ in, want []byte }{
		{[]byte{1}, []byte{2}},
		{[]byte{1, 0xff}, []byte{2}},
		{[]byte{0xff, 0xff}, nil},
		{nil, nil},
	}
	for _, c := range cases {
		if got := PrefixEnd(c.in); !bytes.Equal(got, c.want) {
			t.Errorf("PrefixEnd(%x) = %x, want %x", c.in, got, c.want)
		}
	}
}

// FuzzParseKeys: parsers never panic, and a parsed key rebuilds to itself.
func FuzzParseKeys(f *testing.F) {
	for _, id := range idSamples {
		f.Add(RefKey(id, 3))
		f.Add(SubscriptionKey(id, "n"))
		f.Add(RetainedKey(id))
	}
	f.Fuzz(func(t *testing.T, key []byte) {
		if o, s, err := ParseRefKey(key); err == nil && !bytes.Equal(RefKey(o, s), key) {
			t.Fatalf("ref key %x rebuilds to %x", key, RefKey(o, s))
		}
		if o, s, err := ParseQueueEntryKey(key); err == nil && !bytes.Equal(QueueEntryKey(o, s), key) {
			t.Fatalf("queue key %x does not rebuild", key)
		}
		if c, n, err := ParseSubscriptionKey(key); err == nil && !bytes.Equal(SubscriptionKey(c, n), key) {
			t.Fatalf("subscription key %x does not rebuild", key)
		}
		if c, err := ParseClientStateKey(key); err == nil && !bytes.Equal(ClientStateKey(c), key) {
			t.Fatalf("client key %x does not rebuild", key)
		}
		if r, err := ParseRetainedKey(key); err == nil && !bytes.Equal(RetainedKey(r), key) {
			t.Fatalf("retained key %x does not rebuild", key)
		}
		if m, err := ParseMessageKey(key); err == nil && !bytes.Equal(MessageKey(m), key) {
			t.Fatalf("message key %x does not rebuild", key)
		}
	})
}
