package admin

import "testing"

func TestDuplicateName(t *testing.T) {
	for body, want := range map[string]string{
		`{"MessageHub":{"D1":{}},"MessageHub":{"D2":{}}}`:        "MessageHub",
		`{"User":{"u":{"Password":"a","Password":"b"}}}`:         "User/u/Password",
		`{"TrustedCertificate":[{"A":1},{"A":2,"A":3}]}`:         "TrustedCertificate/A",
		`{"MessageHub":{"D1":{}},"Queue":{"D1":{}}}`:             "",
		`{"TrustedCertificate":[{"A":1},{"A":2}],"x":[1,[2,3]]}`: "",
		`{}`: "",
	} {
		if got := DuplicateName([]byte(body)); got != want {
			t.Errorf("%s: %q, want %q", body, got, want)
		}
	}
}
