package destination

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		raw  string
		want Location
	}{
		{"file:///var/backups/store.age", Location{Scheme: "file", Dir: "/var/backups", Name: "store.age"}},
		{"file://localhost/store.age", Location{Scheme: "file", Dir: "/", Name: "store.age"}},
		{"FILE:///a//b/store.age", Location{Scheme: "file", Dir: "/a/b", Name: "store.age"}},
		{"sftp://backup.example/srv/b/store.age", Location{Scheme: "sftp", Host: "backup.example:22", Dir: "/srv/b", Name: "store.age"}},
		{"scp://127.0.0.1:2222/store.age", Location{Scheme: "scp", Host: "127.0.0.1:2222", Dir: "/", Name: "store.age"}},
		{"sftp://[::1]:2222/~/b/store.age", Location{Scheme: "sftp", Host: "[::1]:2222", Dir: "~/b", Name: "store.age"}},
		{"sftp://h/~/store.age", Location{Scheme: "sftp", Host: "h:22", Dir: "~", Name: "store.age"}},
		{"s3://s3.example/bucket/store.age", Location{Scheme: "s3", Host: "s3.example", Bucket: "bucket", Name: "store.age"}},
		{"s3://127.0.0.1:9000/bucket/p/q/store.age?insecure=true", Location{Scheme: "s3", Host: "127.0.0.1:9000", Bucket: "bucket", Dir: "p/q", Name: "store.age", Insecure: true}},
		{"s3://h/bucket/store.age?insecure=false", Location{Scheme: "s3", Host: "h", Bucket: "bucket", Name: "store.age"}},
		{"file:///a/store%20backup", Location{Scheme: "file", Dir: "/a", Name: "store backup"}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.raw)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.raw, err)
			continue
		}
		if !reflect.DeepEqual(*got, tt.want) {
			t.Errorf("Parse(%q) = %+v, want %+v", tt.raw, *got, tt.want)
		}
		// String round-trips through Parse.
		again, err := Parse(got.String())
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("Parse(%q).String() = %q does not round-trip: %+v, %v", tt.raw, got.String(), again, err)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct {
		raw      string
		contains string
	}{
		{"", "empty URL"},
		{"ftp://h/a/store", "clear text"},
		{"FTP://h/a/store", "clear text"},
		{"http://h/a/store", "supported: file, sftp, scp, s3"},
		{"gopher://h/a/store", `"gopher"`},
		{"/var/backups/store", "missing scheme"},
		{"file:///", "must end in a file name"},
		{"file:///var/backups/", "not a directory"},
		{"file://host/a/store", "must not name a host"},
		{"file:///a/store?x=1", "no query"},
		{"file:///a/../store", ". or .."},
		{"file:///a/./store", ". or .."},
		{"file:///a/.store", "starts with a dot"},
		{"file:relative/store", "form file://"},
		{"sftp:///a/store", "needs a host"},
		{"sftp://h:0/a/store", "out of range"},
		{"sftp://h:99999/a/store", "out of range"},
		{"sftp://h:/a/store", "empty port"},
		{"sftp://h/a/store?x=1", "no query"},
		{"sftp://h/a/store#frag", "fragment"},
		{"s3://h/store", "bucket/key"},
		{"s3://h/bucket/", "must end in a file name"},
		{"s3://h/b/store?insecure=maybe", "not true or false"},
		{"s3://h/b/store?region=x", "unknown s3 query option"},
		{"s3://h/b/store?insecure=true&insecure=false", "2 times"},
		{"sftp://u:hunter2@h/a/store", "user information"},
		{"sftp://u@h/a/store", "user information"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.raw)
		if !errors.Is(err, ErrBadURL) {
			t.Errorf("Parse(%q) = %v, want ErrBadURL", tt.raw, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.contains) {
			t.Errorf("Parse(%q) = %q, want it to contain %q", tt.raw, err, tt.contains)
		}
	}
}

// TestParseNeverQuotesPassword feeds URLs with a password in every position a
// parser error could quote it from.
func TestParseNeverQuotesPassword(t *testing.T) {
	const pw = "s3cr3t-Pa55"
	raws := []string{
		"sftp://user:" + pw + "@host/a/store",
		"sftp://user:" + pw + "@host:bad/a/store",
		"sftp://user:" + pw + "@ho st/a/store",
		"s3://key:" + pw + "@host/b/store",
		"ftp://user:" + pw + "@host/a/store",
		"sftp://user:" + pw + "@host/a/store%zz",
		"sftp://user:" + pw + "@[::1/a/store",
		"gopher://user:" + pw + "@host/a/store",
	}
	for _, raw := range raws {
		_, err := Parse(raw)
		if err == nil {
			t.Errorf("Parse(%q) accepted a URL with user information", raw)
			continue
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("Parse error quotes the password: %v", err)
		}
	}
}

func TestParseParams(t *testing.T) {
	const fp = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"
	tests := []struct {
		url     string
		cred    Credentials
		missing []string // nil: no MissingError expected
		wantErr error
		nilLoc  bool
	}{
		{url: "", nilLoc: true},
		{url: "", cred: Credentials{UserID: "u"}, missing: []string{"URL", "Password"}, wantErr: ErrCredentials},
		{url: "", cred: Credentials{Password: "p"}, missing: []string{"URL", "UserID"}, wantErr: ErrCredentials},
		{url: "", cred: Credentials{UserID: "u", Password: "p"}, missing: []string{"URL"}, wantErr: ErrCredentials},
		{url: "", cred: Credentials{HostKey: fp}, missing: []string{"URL", "UserID", "Password"}, wantErr: ErrCredentials},
		{url: "sftp://h/a/s", missing: []string{"UserID", "Password"}, wantErr: ErrCredentials},
		{url: "scp://h/a/s", cred: Credentials{UserID: "u"}, missing: []string{"Password"}, wantErr: ErrCredentials},
		{url: "s3://h/b/s", cred: Credentials{Password: "p"}, missing: []string{"UserID"}, wantErr: ErrCredentials},
		{url: "sftp://h/a/s", cred: Credentials{UserID: "u", Password: "p"}},
		{url: "sftp://h/a/s", cred: Credentials{UserID: "u", Password: "p", HostKey: fp}},
		{url: "sftp://h/a/s", cred: Credentials{UserID: "u", Password: "p", HostKey: fp + "="}},
		{url: "sftp://h/a/s", cred: Credentials{UserID: "u", Password: "p", HostKey: "MD5:aa:bb"}, wantErr: ErrCredentials},
		{url: "sftp://h/a/s", cred: Credentials{UserID: "u", Password: "p", HostKey: "SHA256:abc"}, wantErr: ErrCredentials},
		{url: "s3://h/b/s", cred: Credentials{UserID: "u", Password: "p", HostKey: fp}, wantErr: ErrCredentials},
		{url: "file:///a/s"},
		{url: "file:///a/s", cred: Credentials{UserID: "u"}},
		{url: "file:///a/s", cred: Credentials{UserID: "u", Password: "p", HostKey: "junk"}},
		{url: "ftp://h/a/s", cred: Credentials{UserID: "u", Password: "p"}, wantErr: ErrBadURL},
	}
	for i, tt := range tests {
		loc, err := ParseParams(tt.url, tt.cred)
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("%d: ParseParams(%q, %v) = %v, want %v", i, tt.url, tt.cred, err, tt.wantErr)
			continue
		}
		var me *MissingError
		if errors.As(err, &me) != (tt.missing != nil) || (me != nil && !reflect.DeepEqual(me.Missing, tt.missing)) {
			t.Errorf("%d: ParseParams(%q, %v) = %v, want missing %v", i, tt.url, tt.cred, err, tt.missing)
		}
		if me != nil && !strings.Contains(err.Error(), strings.Join(tt.missing, ", ")) {
			t.Errorf("%d: error %q does not name the missing %v", i, err, tt.missing)
		}
		if err == nil && (loc == nil) != tt.nilLoc {
			t.Errorf("%d: ParseParams(%q) location = %v, want nil=%v", i, tt.url, loc, tt.nilLoc)
		}
	}
}

func TestCredentialsNeverPrintPassword(t *testing.T) {
	const pw = "hunter2-Secret"
	c := Credentials{UserID: "backup", Password: pw, HostKey: "SHA256:x"}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("dial", "cred", c, "ptr", &c)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("dial", "cred", c)
	outputs := []string{
		fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s %q", c, c, c, c, c),
		fmt.Sprintf("%v %+v", &c, &c), fmt.Sprintf("%v", []Credentials{c}),
		fmt.Sprintf("%+v", struct{ C Credentials }{c}),
		logged.String(),
	}
	for _, out := range outputs {
		if strings.Contains(out, pw) {
			t.Errorf("password printed: %s", out)
		}
		if !strings.Contains(out, "backup") {
			t.Errorf("user not printed: %s", out)
		}
	}
}

func TestNames(t *testing.T) {
	for _, bad := range []string{"", ".", "..", ".hidden", "a/b", `a\b`, "a\x00b", "a\nb", strings.Repeat("x", 201)} {
		if err := CheckName(bad); !errors.Is(err, ErrBadURL) {
			t.Errorf("CheckName(%q) = %v, want ErrBadURL", bad, err)
		}
	}
	for _, good := range []string{"store.age", "imaBackup.120000-11272026", "a b", "x.partial-1"} {
		if err := CheckName(good); err != nil {
			t.Errorf("CheckName(%q) = %v", good, err)
		}
	}
	tmp := TempName("store.age")
	if !strings.HasPrefix(tmp, ".store.age.partial-") || CheckName(tmp) == nil {
		t.Errorf("TempName = %q: not clearly temporary", tmp)
	}
	if TempName("store.age") == tmp {
		t.Errorf("TempName is not random")
	}
	if final, ok := IsTempName(tmp); !ok || final != "store.age" {
		t.Errorf("IsTempName(%q) = %q, %v", tmp, final, ok)
	}
	for _, notTemp := range []string{"store.age", ".store.age", ".store.age.partial-", ".store.age.partial-zzzzzzzzzzzzzzzz", "..partial-0123456789abcdef", ".x.partial-0123456789abcde"} {
		if _, ok := IsTempName(notTemp); ok {
			t.Errorf("IsTempName(%q) = true", notTemp)
		}
	}
}
