package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// A backup or restore job is followed across a server that cannot be
// reached for a while (a restore restarts the components; a supervisor
// restarts a stopped server). A short outage is ridden out; a long one,
// or a server that comes back without the request, ends with the job
// named as accepted, its outcome unknown, and where to look.
func TestFollowJobAcrossALostConnection(t *testing.T) {
	const reconnect = 1500 * time.Millisecond
	for _, tc := range []struct {
		name string
		// reply answers poll n (from 1); false: the connection is dropped.
		reply   func(n int, w http.ResponseWriter) bool
		stopAt  int // the server stops listening at this poll (0: never)
		wantErr []string
		minTime time.Duration
	}{
		{name: "short outage", reply: func(n int, w http.ResponseWriter) bool {
			switch {
			case n == 1:
				w.Write([]byte(`{"Status":"running","Step":"apply","BytesTotal":2}`))
			case n <= 4:
				return false
			default:
				w.Write([]byte(`{"Status":"succeeded","Step":"done","Result":{"Applied":true}}`))
			}
			return true
		}},
		{name: "server gone", stopAt: 2, reply: func(n int, w http.ResponseWriter) bool {
			w.Write([]byte(`{"Status":"running","Step":"apply","BytesTotal":2}`))
			return true
		}, wantErr: []string{"the restore (RequestID R1) was accepted, but its outcome is unknown here",
			"the server could not be reached for", "connection refused", "GET /ima/v1/service/status/restore/R1"}, minTime: reconnect},
		{name: "server restarted without the request", reply: func(n int, w http.ResponseWriter) bool {
			switch {
			case n == 1:
				w.Write([]byte(`{"Status":"running","Step":"apply","BytesTotal":2}`))
			case n <= 3: // two: the transport itself asks again once
				return false
			default:
				w.WriteHeader(http.StatusNotFound)
				w.Write([]byte(`{"Version":"v1","Code":"CWLNA6178","Message":"The request R1 is not known."}`))
			}
			return true
		}, wantErr: []string{"the restore (RequestID R1) was accepted, but its outcome is unknown here",
			"the server was restarted meanwhile and no longer knows the request", "CWLNA6178", "check `mqsight status` and the server log"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				mu    sync.Mutex
				polls int
				srv   *httptest.Server
			)
			srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/ima/v1/service/status/restore/R1" {
					t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
				}
				mu.Lock()
				polls++
				n := polls
				mu.Unlock()
				if n == tc.stopAt {
					srv.Listener.Close() // every later dial is refused
				}
				if n >= tc.stopAt && tc.stopAt != 0 || !tc.reply(n, w) {
					conn, _, err := w.(http.Hijacker).Hijack()
					if err == nil {
						conn.Close()
					}
				}
			}))
			defer srv.Close()
			sum := sha256.Sum256(srv.Certificate().Raw)
			f := adminFlags{server: srv.URL, user: "admin", password: "pw", fingerprint: hex.EncodeToString(sum[:]), timeout: 5 * time.Second}
			cmd := &cobra.Command{}
			cmd.SetErr(io.Discard)
			c, err := f.client(cmd)
			if err != nil {
				t.Fatal(err)
			}
			c.reconnect = reconnect
			begin := time.Now()
			st, err := followJob(cmd, c, "restore", "R1", false)
			took := time.Since(begin)
			if len(tc.wantErr) == 0 {
				if err != nil || st == nil || st.Status != "succeeded" {
					t.Fatalf("status %+v, err %v", st, err)
				}
				return
			}
			if st != nil || err == nil {
				t.Fatalf("status %+v, err %v: want an unknown outcome", st, err)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), ".;") {
				t.Errorf("err %q: a sentence ends twice", err)
			}
			if took < tc.minTime || took > tc.minTime+5*time.Second {
				t.Errorf("gave up after %s, want %s at most a few seconds later", took, tc.minTime)
			}
		})
	}
}
