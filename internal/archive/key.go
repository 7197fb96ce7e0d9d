package archive

import (
	"fmt"

	"filippo.io/age"
)

// Key is a random X25519 key that encrypts one store archive in place of
// the passphrase (format version 2). A store backup used to be encrypted
// with the passphrase like its configuration backup, which cost a second
// scrypt derivation (about a second of CPU and 256 MiB) on every backup and
// every restore. Instead, each store backup gets a fresh Key; the key's
// secret travels inside the configuration backup, which the passphrase
// protects. The store backup is then readable only together with its own
// configuration backup, which a restore needs anyway.
//
// A Key is a secret: String returns it, nothing else prints it.
type Key struct {
	id *age.X25519Identity
}

// NewKey returns a new random Key.
func NewKey() (*Key, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("generate backup key: %w", err)
	}
	return &Key{id: id}, nil
}

// ParseKey parses a Key from its String form.
func ParseKey(s string) (*Key, error) {
	id, err := age.ParseX25519Identity(s)
	if err != nil {
		// age's message may quote characters of the key: not passed on.
		return nil, corruptf("backup key is malformed")
	}
	return &Key{id: id}, nil
}

// String returns the secret key (AGE-SECRET-KEY-1...). fmt never calls
// it (see Format).
func (k *Key) String() string { return k.id.String() }

// Format prints a placeholder for every verb, so that a Key inside a
// logged or formatted value never shows its secret.
func (k *Key) Format(f fmt.State, _ rune) { fmt.Fprint(f, "<backup key>") }
