package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rclone/gofakes3"
	"github.com/rclone/gofakes3/s3mem"

	"github.com/mqsight/mqsight/internal/destination"
	"github.com/mqsight/mqsight/internal/destination/destinationtest"
	"github.com/mqsight/mqsight/internal/testport"
)

const (
	accessKey = "AKIAMQSIGHTTEST"
	secretKey = "s3cr3t/Key+ForTests-9x"
)

// fakeS3 is an in-process S3 server (gofakes3 over httptest on 127.0.0.1)
// with signature checking and one bucket, "bucket".
type fakeS3 struct {
	srv     *httptest.Server
	backend *s3mem.Backend
	// corruptParts, when set, flips one byte of every part upload body
	// after the client computed its digests.
	corruptParts atomic.Bool
	// loseCompletion, when set, carries out the next request that makes an
	// object visible (CompleteMultipartUpload, or a PUT without
	// partNumber) and then drops the connection instead of answering.
	loseCompletion atomic.Bool
	// holdCompletion, when set, makes the next request that makes an
	// object visible wait until the channel is closed (completionHeld
	// says when it waits), then carries it out and answers (to a client
	// that may have gone).
	holdCompletion atomic.Pointer[chan struct{}]
	completionHeld chan struct{}
}

func startFake(t *testing.T, tls bool) *fakeS3 {
	t.Helper()
	f := &fakeS3{backend: s3mem.New(), completionHeld: make(chan struct{}, 1)}
	h := gofakes3.New(f.backend, gofakes3.WithV4Auth(map[string]string{accessKey: secretKey})).Server()
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.corruptParts.Load() && r.Method == http.MethodPut && r.URL.Query().Get("partNumber") != "" {
			body, _ := io.ReadAll(r.Body)
			if len(body) > 0 {
				body[len(body)/2] ^= 0x40
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		q := r.URL.Query()
		completes := (r.Method == http.MethodPost && q.Has("uploadId")) || (r.Method == http.MethodPut && !q.Has("partNumber") && !q.Has("uploadId"))
		if completes {
			if hold := f.holdCompletion.Swap(nil); hold != nil {
				// The whole request is in before the wait, and carrying it
				// out does not depend on the client still being there.
				body, _ := io.ReadAll(r.Body)
				r = r.WithContext(context.WithoutCancel(r.Context()))
				r.Body = io.NopCloser(bytes.NewReader(body))
				f.completionHeld <- struct{}{}
				<-*hold
			}
		}
		if completes && f.loseCompletion.CompareAndSwap(true, false) {
			h.ServeHTTP(httptest.NewRecorder(), r) // done on the server
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				conn.Close() // the answer is lost
			}
			return
		}
		h.ServeHTTP(w, r)
	})
	if tls {
		f.srv = httptest.NewTLSServer(wrapped)
	} else {
		f.srv = httptest.NewServer(wrapped)
	}
	t.Cleanup(f.srv.Close)
	if err := f.backend.CreateBucket(context.Background(), "bucket"); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fakeS3) host() string { return f.srv.Listener.Addr().String() }

func (f *fakeS3) dest(t *testing.T, url string, cred destination.Credentials) *Destination {
	t.Helper()
	loc, err := destination.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{PartSize: MinPartSize, MaxRetries: 1}
	if strings.HasPrefix(f.srv.URL, "https") {
		opts.Transport = f.srv.Client().Transport
	}
	d, err := New(loc, cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var goodCred = destination.Credentials{UserID: accessKey, Password: secretKey}

func TestConformance(t *testing.T) {
	destinationtest.Run(t, func(t *testing.T) destination.Destination {
		f := startFake(t, false)
		return f.dest(t, "s3://"+f.host()+"/bucket/backups/store.age?insecure=true", goodCred)
	}, destinationtest.InProcessStorage(), destinationtest.LargeSize(16<<20))
}

// TestMultipartInvisibleAndAborted: an upload past one part is a multipart
// upload, invisible until Commit; Abort (and a failed Commit) leave no
// incomplete upload behind.
func TestMultipartInvisibleAndAborted(t *testing.T) {
	f := startFake(t, false)
	d := f.dest(t, "s3://"+f.host()+"/bucket/store.age?insecure=true", goodCred)
	ctx := context.Background()
	up, err := d.Create(ctx, "store.age")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(up, destinationtest.Stream(7), 2*MinPartSize+1); err != nil {
		t.Fatal(err)
	}
	id := up.(*upload).uploadID
	if !uploadExists(t, d, "store.age", id) {
		t.Fatalf("no multipart upload in progress after writing two parts")
	}
	if _, err := d.Stat(ctx, "store.age"); !errors.Is(err, destination.ErrNotFound) {
		t.Errorf("Stat during multipart upload = %v, want ErrNotFound", err)
	}
	if err := up.Abort(); err != nil {
		t.Fatal(err)
	}
	if uploadExists(t, d, "store.age", id) {
		t.Errorf("multipart upload left after Abort")
	}

	// Two multipart uploads race for one name: the second Commit fails
	// with ErrExists (If-None-Match) and is cleaned up.
	a, _ := d.Create(ctx, "race")
	b, _ := d.Create(ctx, "race")
	io.CopyN(a, destinationtest.Stream(8), MinPartSize+10)
	io.CopyN(b, destinationtest.Stream(9), MinPartSize+10)
	bid := b.(*upload).uploadID
	if _, err := a.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Commit(); !errors.Is(err, destination.ErrExists) {
		t.Errorf("second multipart Commit = %v, want ErrExists", err)
	}
	want := sha256.New()
	io.CopyN(want, destinationtest.Stream(8), MinPartSize+10)
	if got := sha256.Sum256(destinationtest.Get(t, d, "race")); !bytes.Equal(got[:], want.Sum(nil)) {
		t.Errorf("object is not the first upload's")
	}
	if bid == "" || uploadExists(t, d, "race", bid) {
		t.Errorf("multipart upload %q left after a failed Commit", bid)
	}
}

// uploadExists reports whether multipart upload id of name is in progress.
func uploadExists(t *testing.T, d *Destination, name, id string) bool {
	t.Helper()
	_, err := d.core.ListObjectParts(context.Background(), "bucket", d.key(name), id, 0, 1000)
	if err == nil {
		return true
	}
	if !errors.Is(mapErr(err), destination.ErrNotFound) {
		t.Fatalf("list parts: %v", err)
	}
	return false
}

// TestCorruptionDetected: bytes altered in transit are refused (the server
// checks Content-MD5 and the signed SHA-256), and nothing becomes visible.
func TestCorruptionDetected(t *testing.T) {
	f := startFake(t, false)
	d := f.dest(t, "s3://"+f.host()+"/bucket/store.age?insecure=true", goodCred)
	f.corruptParts.Store(true)
	up, err := d.Create(context.Background(), "store.age")
	if err != nil {
		t.Fatal(err)
	}
	_, werr := io.CopyN(up, destinationtest.Stream(4), MinPartSize+1)
	_, cerr := up.Commit()
	if werr == nil && cerr == nil {
		t.Fatal("upload with a corrupted part succeeded")
	}
	if _, err := d.Stat(context.Background(), "store.age"); !errors.Is(err, destination.ErrNotFound) {
		t.Errorf("Stat after corrupted upload = %v, want ErrNotFound", err)
	}
}

func TestTLS(t *testing.T) {
	f := startFake(t, true)
	d := f.dest(t, "s3://"+f.host()+"/bucket/store.age", goodCred)
	data := []byte("over TLS")
	destinationtest.Put(t, d, "store.age", data)
	if got := destinationtest.Get(t, d, "store.age"); !bytes.Equal(got, data) {
		t.Errorf("got %q", got)
	}
	// Plain HTTP against a TLS server fails rather than downgrading.
	plain := f.dest(t, "s3://"+f.host()+"/bucket/store.age?insecure=true", goodCred)
	if _, err := plain.Stat(context.Background(), "store.age"); err == nil {
		t.Errorf("plain HTTP request to a TLS server succeeded")
	}
}

func TestWrongSecret(t *testing.T) {
	f := startFake(t, false)
	bad := destination.Credentials{UserID: accessKey, Password: "Wrong-Secret-77"}
	d := f.dest(t, "s3://"+f.host()+"/bucket/store.age?insecure=true", bad)
	up, err := d.Create(context.Background(), "store.age")
	if !errors.Is(err, destination.ErrAuth) {
		if up != nil {
			up.Abort()
		}
		t.Fatalf("wrong secret: %v, want ErrAuth", err)
	}
	for _, secret := range []string{bad.Password, secretKey} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error quotes a secret: %v", err)
		}
	}
	unknown := destination.Credentials{UserID: "nobody", Password: secretKey}
	d = f.dest(t, "s3://"+f.host()+"/bucket/store.age?insecure=true", unknown)
	if _, err := d.Stat(context.Background(), "store.age"); !errors.Is(err, destination.ErrAuth) {
		t.Errorf("unknown access key: %v, want ErrAuth", err)
	}
}

func TestMissingBucket(t *testing.T) {
	f := startFake(t, false)
	d := f.dest(t, "s3://"+f.host()+"/nobucket/store.age?insecure=true", goodCred)
	if _, err := d.Create(context.Background(), "store.age"); !errors.Is(err, destination.ErrNotFound) {
		t.Errorf("missing bucket: %v, want ErrNotFound", err)
	}
}

func TestUnreachable(t *testing.T) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(testport.Free(t)))
	loc, _ := destination.Parse("s3://" + addr + "/bucket/store.age?insecure=true")
	d, err := New(loc, goodCred, Options{MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := d.Create(context.Background(), "store.age"); !errors.Is(err, destination.ErrUnreachable) {
		t.Errorf("closed port: %v, want ErrUnreachable", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("closed port took %v", el)
	}
}

func TestNewRefuses(t *testing.T) {
	loc, _ := destination.Parse("s3://h/bucket/x")
	if _, err := New(loc, destination.Credentials{UserID: "a"}, Options{}); !errors.Is(err, destination.ErrCredentials) {
		t.Errorf("missing secret: %v", err)
	}
	if _, err := New(loc, goodCred, Options{PartSize: 1 << 20}); err == nil {
		t.Errorf("part size below the S3 minimum accepted")
	}
	floc, _ := destination.Parse("file:///tmp/x")
	if _, err := New(floc, goodCred, Options{}); !errors.Is(err, destination.ErrBadURL) {
		t.Errorf("file location: %v", err)
	}
	for _, u := range []string{"s3://h/b/x", "s3://h/-bucket/x", "s3://h/a..b/x"} {
		bloc, err := destination.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := New(bloc, goodCred, Options{}); !errors.Is(err, destination.ErrBadURL) || !strings.Contains(err.Error(), "bucket") {
			t.Errorf("%s: %v, want a bad URL naming the bucket", u, err)
		}
	}
}

// TestBufferBounded: the client keeps at most one part in memory, however
// the data is written.
func TestBufferBounded(t *testing.T) {
	f := startFake(t, false)
	d := f.dest(t, "s3://"+f.host()+"/bucket/store.age?insecure=true", goodCred)
	up, err := d.Create(context.Background(), "store.age")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Abort()
	u := up.(*upload)
	src := destinationtest.Stream(6)
	for _, n := range []int{1, 3 << 20, 1, 4 << 20, 7 << 20, 12345} {
		if _, err := io.CopyN(up, src, int64(n)); err != nil {
			t.Fatal(err)
		}
		if c := cap(u.buf); c > 2*MinPartSize {
			t.Fatalf("upload buffer grew to %d bytes, part size %d", c, MinPartSize)
		}
	}
	if want := int(u.n / MinPartSize); len(u.parts) != want {
		t.Errorf("%d parts uploaded for %d bytes", len(u.parts), u.n)
	}
}

// TestLostCompletionIsUncertain: the request that makes the object visible
// is carried out, but its answer is lost (the connection drops). The client
// retries it (as in production, 3 attempts). The retried single PUT is
// refused (PreconditionFailed: the object exists now); the object carries
// this upload's token, so Commit succeeds. Never ErrExists or ErrNotFound:
// a backup would take its own store backup for another's, clear its
// pending entry and leave it unreported.
func TestLostCompletionIsUncertain(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
	}{
		{"single PUT", 1 << 10},
		{"multipart", MinPartSize + 1<<20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, false)
			loc, err := destination.Parse("s3://" + f.host() + "/bucket/store.age?insecure=true")
			if err != nil {
				t.Fatal(err)
			}
			d, err := New(loc, goodCred, Options{PartSize: MinPartSize, MaxRetries: 3})
			if err != nil {
				t.Fatal(err)
			}
			up, err := d.Create(context.Background(), "store.age")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := up.Write(bytes.Repeat([]byte("x"), tc.size)); err != nil {
				t.Fatal(err)
			}
			f.loseCompletion.Store(true)
			// A retried completion may also just succeed (the fake, like
			// S3 for a while, completes a completed upload again).
			_, err = up.Commit()
			if err != nil && !errors.Is(err, destination.ErrUncertain) || errors.Is(err, destination.ErrExists) || errors.Is(err, destination.ErrNotFound) {
				t.Fatalf("Commit: %v, want success or ErrUncertain, never ErrExists or ErrNotFound", err)
			}
			if info, err := d.Stat(context.Background(), "store.age"); err != nil || info.Size != int64(tc.size) {
				t.Fatalf("the object the lost answer was about: %+v, %v", info, err)
			}
		})
	}
}

// A Commit cancelled while the request that makes the object visible is
// out does not know whether the server carried it out: ErrUncertain. A
// single PUT is then carried out here; a multipart upload's completion
// races with the abort that follows the failed Commit, so the object may
// or may not appear (complete, if it does).
func TestCancelledCompletionIsUncertain(t *testing.T) {
	for _, tc := range []struct {
		name    string
		size    int
		appears bool
	}{
		{"single PUT", 1 << 10, true},
		{"multipart", MinPartSize + 1<<20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, false)
			d := f.dest(t, "s3://"+f.host()+"/bucket/store.age?insecure=true", goodCred)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			up, err := d.Create(ctx, "store.age")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := up.Write(bytes.Repeat([]byte("x"), tc.size)); err != nil {
				t.Fatal(err)
			}
			hold := make(chan struct{})
			f.holdCompletion.Store(&hold)
			go func() {
				<-f.completionHeld // the request is out
				cancel()
			}()
			_, err = up.Commit()
			close(hold) // the client has given up; the server carries it out
			if !errors.Is(err, destination.ErrUncertain) {
				t.Fatalf("Commit cancelled during the completion: %v, want ErrUncertain", err)
			}
			deadline := time.Now().Add(time.Second) // for an object that may not appear
			if tc.appears {
				deadline = time.Now().Add(10 * time.Second)
			}
			for {
				info, err := d.Stat(context.Background(), "store.age")
				if err == nil && info.Size != int64(tc.size) {
					t.Fatalf("an incomplete object appeared: %+v", info)
				}
				if err == nil || !tc.appears && time.Now().After(deadline) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the server never completed the object: %v", err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
