package config

import (
	"strings"
	"testing"
)

func TestHashAndVerifyPassword(t *testing.T) {
	h, err := HashPassword("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || !IsPasswordHash(h) {
		t.Fatalf("hash %q", h)
	}
	if !VerifyPassword(h, "s3cret") {
		t.Fatal("right password refused")
	}
	for _, wrong := range []string{"", "s3cre", "s3cret ", "S3cret"} {
		if VerifyPassword(h, wrong) {
			t.Fatalf("wrong password %q accepted", wrong)
		}
	}
	h2, _ := HashPassword("s3cret")
	if h2 == h {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	if _, err := HashPassword(""); err == nil {
		t.Fatal("empty password hashed")
	}
}

func TestMalformedHashesNeverVerify(t *testing.T) {
	h, _ := HashPassword("pw")
	parts := strings.Split(h, "$")
	bad := []string{
		"",
		"pw",
		"$argon2i$" + strings.Join(parts[2:], "$"),
		strings.Replace(h, "v=19", "v=16", 1),
		strings.Replace(h, "m=19456", "m=99999999", 1), // beyond the verification bound
		strings.Replace(h, "t=2", "t=0", 1),
		strings.Replace(h, "p=1", "p=x", 1),
		strings.Join(parts[:5], "$"), // no key
		h + "$extra",
		strings.Replace(h, parts[4], "!!", 1),   // salt not base64
		strings.Replace(h, parts[5], "AAAA", 1), // key too short
	}
	for _, b := range bad {
		if IsPasswordHash(b) || VerifyPassword(b, "pw") {
			t.Errorf("malformed hash %q accepted", b)
		}
	}
}

func TestNewAdminUser(t *testing.T) {
	u, err := NewAdminUser("admin", "initial", "SystemAdministrator")
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "admin" || u.Role != "SystemAdministrator" || !VerifyPassword(u.Password, "initial") {
		t.Fatalf("%+v", u)
	}
	if err := u.Validate(); err != nil {
		t.Fatal(err)
	}
	c := Default()
	c.AdminUsers[u.Name] = u
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}
