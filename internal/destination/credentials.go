package destination

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
)

// Credentials authenticate against a destination. The Password is a secret:
// every formatting of a Credentials value (fmt verbs, slog) shows it as
// "<redacted>", and no error of this package or its sub-packages contains it.
type Credentials struct {
	// UserID is the SSH user, or the S3 access key.
	UserID string
	// Password is the SSH password, or the S3 secret key.
	Password string
	// HostKey, for sftp and scp only, pins the server's host key by its
	// SHA-256 fingerprint as `ssh-keygen -lf` prints it ("SHA256:<base64>").
	// Empty: the host key is checked against known_hosts instead.
	HostKey string
}

const redacted = "<redacted>"

// String formats c with the password redacted.
func (c Credentials) String() string {
	pw := ""
	if c.Password != "" {
		pw = redacted
	}
	return fmt.Sprintf("{UserID:%q Password:%s HostKey:%q}", c.UserID, pw, c.HostKey)
}

// GoString formats c for %#v with the password redacted.
func (c Credentials) GoString() string { return "destination.Credentials" + c.String() }

// LogValue makes slog print c with the password redacted.
func (c Credentials) LogValue() slog.Value {
	return slog.StringValue(c.String())
}

// MissingError reports which of a URL, UserID and Password were missing when
// the others were given. It wraps ErrCredentials.
type MissingError struct {
	// Missing lists "URL", "UserID" and/or "Password", in that order.
	Missing []string
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("%v: missing %s (sftp, scp and s3 need a URL, a UserID and a Password together)",
		ErrCredentials, strings.Join(e.Missing, ", "))
}

func (e *MissingError) Unwrap() error { return ErrCredentials }

// ParseParams applies the all-or-none rule to a destination given as request
// parameters. With everything empty it returns (nil, nil): no destination.
// Otherwise the URL must parse; for sftp, scp and s3 the UserID and Password
// must both be given (a *MissingError names the missing ones, as it does
// when only the URL is missing), and a HostKey must be a well-formed SHA-256
// fingerprint and is refused for s3. For file:// the credentials are
// ignored.
func ParseParams(rawURL string, c Credentials) (*Location, error) {
	if rawURL == "" {
		if c.UserID == "" && c.Password == "" && c.HostKey == "" {
			return nil, nil
		}
		missing := []string{"URL"}
		if c.UserID == "" {
			missing = append(missing, "UserID")
		}
		if c.Password == "" {
			missing = append(missing, "Password")
		}
		return nil, &MissingError{Missing: missing}
	}
	loc, err := Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if err := loc.CheckCredentials(c); err != nil {
		return nil, err
	}
	return loc, nil
}

// CheckCredentials checks that c suits l's scheme (see ParseParams).
func (l *Location) CheckCredentials(c Credentials) error {
	if !l.NeedsCredentials() {
		return nil
	}
	var missing []string
	if c.UserID == "" {
		missing = append(missing, "UserID")
	}
	if c.Password == "" {
		missing = append(missing, "Password")
	}
	if len(missing) > 0 {
		return &MissingError{Missing: missing}
	}
	if c.HostKey == "" {
		return nil
	}
	if l.Scheme == SchemeS3 {
		return fmt.Errorf("%w: a host key applies only to sftp and scp", ErrCredentials)
	}
	return CheckFingerprint(c.HostKey)
}

// CheckFingerprint checks that fp is a SHA-256 host key fingerprint as
// `ssh-keygen -lf` prints it: "SHA256:" and 43 characters of unpadded
// base64 encoding 32 bytes (trailing "=" padding is tolerated).
func CheckFingerprint(fp string) error {
	b64, ok := strings.CutPrefix(fp, "SHA256:")
	if !ok {
		return fmt.Errorf("%w: host key fingerprint must start with \"SHA256:\" (as ssh-keygen -lf prints it)", ErrCredentials)
	}
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(b64, "="))
	if err != nil || len(raw) != 32 {
		return fmt.Errorf("%w: host key fingerprint %q is not SHA256:<base64 of 32 bytes>", ErrCredentials, fp)
	}
	return nil
}

// NormalizeFingerprint returns fp without base64 padding, the form
// golang.org/x/crypto/ssh.FingerprintSHA256 produces.
func NormalizeFingerprint(fp string) string { return strings.TrimRight(fp, "=") }
