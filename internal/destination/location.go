package destination

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// Schemes understood by Parse.
const (
	SchemeFile = "file"
	SchemeSFTP = "sftp"
	SchemeSCP  = "scp"
	SchemeS3   = "s3"
)

// supportedSchemes is quoted in the error for an unknown scheme.
const supportedSchemes = "file, sftp, scp, s3"

// defaultSSHPort is added to sftp and scp hosts given without a port.
const defaultSSHPort = "22"

// Location is a parsed destination URL: a directory and the final file name
// within it. It holds no credentials. The zero value is not valid; obtain
// one from Parse.
type Location struct {
	// Scheme is one of SchemeFile, SchemeSFTP, SchemeSCP, SchemeS3.
	Scheme string
	// Host is "host:port" for sftp and scp (port 22 when absent), the
	// endpoint as given ("host" or "host:port") for s3, and empty for file.
	Host string
	// Bucket is the S3 bucket; empty for other schemes.
	Bucket string
	// Dir is the directory holding the object, cleaned, without a trailing
	// slash: an absolute path for file; for sftp and scp an absolute path
	// or "~" / "~/rel" for the login directory; for s3 the key prefix
	// inside the bucket ("" at the bucket's root).
	Dir string
	// Name is the final path element: the object name (see CheckName).
	Name string
	// Insecure is true for s3 with ?insecure=true: plain HTTP, no TLS.
	Insecure bool
}

// String returns the URL without any credentials; safe for logs.
func (l *Location) String() string {
	u := url.URL{Scheme: l.Scheme, Host: l.Host}
	switch l.Scheme {
	case SchemeS3:
		u.Path = "/" + path.Join(l.Bucket, l.Dir, l.Name)
		if l.Insecure {
			u.RawQuery = "insecure=true"
		}
	case SchemeSFTP, SchemeSCP:
		u.Path = "/" + strings.TrimPrefix(path.Join(l.Dir, l.Name), "/")
	default:
		u.Path = path.Join(l.Dir, l.Name)
	}
	return u.String()
}

// NeedsCredentials reports whether the scheme takes a UserID and Password.
func (l *Location) NeedsCredentials() bool { return l.Scheme != SchemeFile }

// Parse parses a destination URL whose path ends in the object's file name.
// Errors wrap ErrBadURL and never quote the raw URL, which may hold a
// password in its user information (such URLs are refused: credentials are
// passed separately).
func Parse(raw string) (*Location, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, fmt.Errorf("%w: empty URL", ErrBadURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the whole URL; keep only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%w: %v", ErrBadURL, redactUserinfo(err.Error(), raw))
	}
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case SchemeFile, SchemeSFTP, SchemeSCP, SchemeS3:
	case "ftp", "ftps", "ftpes":
		if scheme == "ftp" {
			return nil, fmt.Errorf("%w: ftp:// is refused: FTP sends the user name, the password and the backup in clear text; use sftp://, scp:// or s3://", ErrBadURL)
		}
		return nil, fmt.Errorf("%w: unsupported scheme %q; supported: %s", ErrBadURL, scheme, supportedSchemes)
	case "":
		return nil, fmt.Errorf("%w: missing scheme; supported: %s", ErrBadURL, supportedSchemes)
	default:
		return nil, fmt.Errorf("%w: unsupported scheme %q; supported: %s", ErrBadURL, scheme, supportedSchemes)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: user information in the URL is not allowed; give the user and password as credentials", ErrBadURL)
	}
	if u.Opaque != "" {
		return nil, fmt.Errorf("%w: %s URL must be of the form %s://host/path/name", ErrBadURL, scheme, scheme)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, fmt.Errorf("%w: a fragment (#...) is not allowed", ErrBadURL)
	}
	dir, name, err := splitPath(u.Path)
	if err != nil {
		return nil, err
	}
	loc := &Location{Scheme: scheme, Name: name}
	q := u.Query()
	switch scheme {
	case SchemeFile:
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("%w: file:// URL must not name a host (file:///abs/path/name)", ErrBadURL)
		}
		if len(q) > 0 {
			return nil, fmt.Errorf("%w: file:// URL takes no query options", ErrBadURL)
		}
		loc.Dir = dir
	case SchemeSFTP, SchemeSCP:
		host, err := hostPort(u, defaultSSHPort)
		if err != nil {
			return nil, err
		}
		if len(q) > 0 {
			return nil, fmt.Errorf("%w: %s:// URL takes no query options", ErrBadURL, scheme)
		}
		loc.Host = host
		loc.Dir = dir
		if dir == "/~" || strings.HasPrefix(dir, "/~/") {
			loc.Dir = dir[1:]
		}
	case SchemeS3:
		host, err := hostPort(u, "")
		if err != nil {
			return nil, err
		}
		loc.Host = host
		bucket, prefix, _ := strings.Cut(strings.TrimPrefix(dir, "/"), "/")
		if bucket == "" {
			return nil, fmt.Errorf("%w: s3:// URL must be s3://host[:port]/bucket/key", ErrBadURL)
		}
		loc.Bucket, loc.Dir = bucket, prefix
		for k, v := range q {
			if k != "insecure" {
				return nil, fmt.Errorf("%w: unknown s3 query option %q (known: insecure)", ErrBadURL, k)
			}
			if len(v) != 1 {
				return nil, fmt.Errorf("%w: s3 option insecure given %d times", ErrBadURL, len(v))
			}
			b, err := strconv.ParseBool(v[0])
			if err != nil {
				return nil, fmt.Errorf("%w: s3 option insecure=%q is not true or false", ErrBadURL, v[0])
			}
			loc.Insecure = b
		}
	}
	return loc, nil
}

// splitPath splits an absolute URL path into its cleaned directory and final
// element, refusing paths that do not end in a file name and dot segments.
func splitPath(p string) (dir, name string, err error) {
	if p == "" || p == "/" {
		return "", "", fmt.Errorf("%w: the URL path must end in a file name", ErrBadURL)
	}
	if !strings.HasPrefix(p, "/") {
		return "", "", fmt.Errorf("%w: the URL path must be absolute", ErrBadURL)
	}
	if strings.HasSuffix(p, "/") {
		return "", "", fmt.Errorf("%w: the URL path must end in a file name, not a directory", ErrBadURL)
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "." || seg == ".." {
			return "", "", fmt.Errorf("%w: the URL path must not contain . or .. segments", ErrBadURL)
		}
	}
	dir, name = path.Split(p)
	if err := CheckName(name); err != nil {
		return "", "", err
	}
	return path.Clean(dir), name, nil
}

// hostPort validates u's host and port and adds defPort when no port is
// given and defPort is not empty.
func hostPort(u *url.URL, defPort string) (string, error) {
	host := u.Hostname()
	if host == "" {
		return "", fmt.Errorf("%w: %s:// URL needs a host", ErrBadURL, u.Scheme)
	}
	port := u.Port()
	if port == "" && strings.HasSuffix(u.Host, ":") {
		return "", fmt.Errorf("%w: empty port", ErrBadURL)
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%w: port %q out of range 1-65535", ErrBadURL, port)
		}
	} else if defPort == "" {
		return u.Host, nil
	} else {
		port = defPort
	}
	return net.JoinHostPort(host, port), nil
}

// redactUserinfo removes the user information of raw from msg, in case a
// parser error quoted part of it.
func redactUserinfo(msg, raw string) string {
	rest, ok := strings.CutPrefix(raw[strings.Index(raw, ":")+1:], "//")
	if !ok {
		return msg
	}
	if at := strings.LastIndex(strings.SplitN(rest, "/", 2)[0], "@"); at > 0 {
		userinfo := rest[:at]
		msg = strings.ReplaceAll(msg, userinfo, "<redacted>")
		if _, pw, ok := strings.Cut(userinfo, ":"); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "<redacted>")
		}
	}
	return msg
}
