package config

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Password hashing parameters for new hashes: argon2id with 19 MiB of memory,
// 2 passes and 1 lane (the OWASP password storage cheat sheet's minimum
// recommendation), a 16-byte random salt and a 32-byte key. Hashing costs
// roughly 20-50 ms, which keeps tests fast and brute force slow. The
// parameters travel in each PHC string, so they can be raised later without
// invalidating stored hashes.
const (
	argonMemoryKiB = 19456
	argonTime      = 2
	argonThreads   = 1
	argonSaltLen   = 16
	argonKeyLen    = 32
)

// Bounds accepted when verifying a stored hash, so that a hostile document
// cannot make verification allocate or compute without limit.
const (
	maxArgonMemoryKiB = 1 << 20 // 1 GiB
	maxArgonTime      = 16
	maxArgonThreads   = 16
)

// HashPassword returns the argon2id hash of plain in PHC string format:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt, base64 without padding>$<key, base64 without padding>
func HashPassword(plain string) (string, error) {
	if plain == "" {
		return "", errors.New("hash password: empty password")
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(plain), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemoryKiB, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

type phc struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

func parsePHC(s string) (phc, bool) {
	var h phc
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return h, false
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return h, false
	}
	num := func(s, prefix string, max uint64) (uint64, bool) {
		v, ok := strings.CutPrefix(s, prefix)
		if !ok {
			return 0, false
		}
		n, err := strconv.ParseUint(v, 10, 32)
		return n, err == nil && n >= 1 && n <= max
	}
	m, ok1 := num(params[0], "m=", maxArgonMemoryKiB)
	t, ok2 := num(params[1], "t=", maxArgonTime)
	p, ok3 := num(params[2], "p=", maxArgonThreads)
	if !ok1 || !ok2 || !ok3 || m < 8*p {
		return h, false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 64 {
		return h, false
	}
	return phc{memory: uint32(m), time: uint32(t), threads: uint8(p), salt: salt, key: key}, true
}

// IsPasswordHash reports whether s is a well-formed argon2id PHC string
// with parameters this package will verify.
func IsPasswordHash(s string) bool {
	_, ok := parsePHC(s)
	return ok
}

// VerifyPassword reports whether plain matches hash. The comparison of the
// derived keys takes constant time; a malformed hash never matches. It
// allocates the hash's memory cost for its run and has no bound on how
// many run at once: code that checks passwords for network clients goes
// through a PasswordChecker.
func VerifyPassword(hash, plain string) bool {
	h, ok := parsePHC(hash)
	if !ok {
		return false
	}
	key := argon2.IDKey([]byte(plain), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1
}
