package main

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestClientPinsFingerprintAndMapsErrors(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		if user != "admin" || pass != "pw" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"Version":"v1","Code":"CWLNA9201","Message":"Authentication is required."}`))
			return
		}
		w.Write([]byte(`{"Version":"v1","Server":{"Status":"Running"}}`))
	}))
	defer srv.Close()
	sum := sha256.Sum256(srv.Certificate().Raw)
	good := hex.EncodeToString(sum[:])

	tests := []struct {
		name        string
		fingerprint string
		password    string
		wantErr     string
	}{
		{"pinned", good, "pw", ""},
		{"pinned with colons and capitals", strings.ToUpper(good[:2] + ":" + good[2:]), "pw", ""},
		{"wrong pin", strings.Repeat("ab", 32), "pw", "does not match --fingerprint"},
		{"malformed pin", "xyz", "pw", "64 hex digits"},
		{"no pin, untrusted certificate", "", "pw", "certificate"},
		{"wrong password", good, "bad", "HTTP 401 CWLNA9201: Authentication is required."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := adminFlags{server: srv.URL, user: "admin", password: tc.password, fingerprint: tc.fingerprint}
			c, err := f.client(&cobra.Command{})
			if err == nil {
				var data []byte
				data, err = c.do("GET", "/ima/v1/service/status", nil)
				if err == nil && !strings.Contains(string(data), "Running") {
					t.Fatalf("reply %s", data)
				}
			}
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
		})
	}
}
