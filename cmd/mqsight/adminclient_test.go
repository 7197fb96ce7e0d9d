package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
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

// TestPlaceLosesTheRaceSafely: the name was free when place looked, but
// another client put a file there before the upload. The create-only PUT
// is refused (412); place then compares that file like any other: the
// same bytes are used, different ones stop the command. Nothing is ever
// replaced.
func TestPlaceLosesTheRaceSafely(t *testing.T) {
	local := filepath.Join(t.TempDir(), "imaBackup.101010-11272026")
	os.WriteFile(local, []byte("our backup"), 0o600)
	for _, tc := range []struct {
		name, theirs, wantErr string
	}{
		{"same bytes", "our backup", ""},
		{"other bytes", "their backup", "already has a different user file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var gets, puts int
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.Method {
				case "GET":
					gets++
					if gets == 1 { // the first look: the name is free
						w.WriteHeader(http.StatusNotFound)
						w.Write([]byte(`{"Code":"CWLNA0136","Message":"not found"}`))
						return
					}
					w.Write([]byte(tc.theirs))
				case "PUT":
					puts++
					if r.Header.Get("If-None-Match") != "*" {
						t.Errorf("upload without If-None-Match: *")
					}
					w.WriteHeader(http.StatusPreconditionFailed)
					w.Write([]byte(`{"Code":"CWLNA9107","Message":"exists"}`))
				}
			}))
			defer srv.Close()
			sum := sha256.Sum256(srv.Certificate().Raw)
			f := adminFlags{server: srv.URL, user: "admin", password: "pw", fingerprint: hex.EncodeToString(sum[:])}
			cmd := &cobra.Command{}
			cmd.SetErr(io.Discard)
			c, err := f.client(cmd)
			if err != nil {
				t.Fatal(err)
			}
			uploaded, err := c.place(cmd, local, filepath.Base(local))
			if uploaded || puts != 1 || gets != 2 {
				t.Fatalf("uploaded %v after %d PUTs and %d GETs", uploaded, puts, gets)
			}
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// An error the operator fixes with the command's own flags names them:
// plain HTTP to the HTTPS admin endpoint (Go answers a bare 400), and a
// server certificate the client does not trust.
func TestConnectionErrorsNameTheFix(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"Version":"v1"}`))
	}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	port := srv.Listener.Addr().(*net.TCPAddr).Port

	for _, tc := range []struct {
		name   string
		flags  adminFlags
		want   []string
		reject string
	}{
		{"plain HTTP to HTTPS", adminFlags{server: "http://127.0.0.1:" + strconv.Itoa(port)},
			[]string{"HTTP 400: the admin endpoint speaks HTTPS, not plain HTTP: use --server https://127.0.0.1:" + strconv.Itoa(port)}, ""},
		{"unknown authority", adminFlags{server: srv.URL},
			[]string{"not trusted", "--ca-file", "mqsight-admin-selfsigned.crt", "--fingerprint", "certSHA256", "x509: certificate signed by unknown authority"}, ""},
		{"other host name", adminFlags{server: "https://localhost:" + strconv.Itoa(port), caFile: caFile},
			[]string{"not valid for localhost", "--fingerprint", "x509: certificate is valid for"}, "--ca-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.flags.user, tc.flags.password = "admin", "pw"
			c, err := tc.flags.client(&cobra.Command{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.do("GET", "/ima/v1/service/status", nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err %q lacks %q", err, w)
				}
			}
			if tc.reject != "" && strings.Contains(err.Error(), tc.reject) {
				t.Errorf("err %q names %q, which does not help here", err, tc.reject)
			}
		})
	}
}
