package backup

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestRequestsRedactPasswords: no way of printing or logging a request
// shows the backup password or the destination password.
func TestRequestsRedactPasswords(t *testing.T) {
	const pw, destPW = "backup-secret-1", "dest-secret-2"
	store := StoreParams{URL: "sftp://h/d/s.bak", UserID: "u", Password: destPW}
	values := []any{
		BackupRequest{Password: pw, Dir: "/d", Store: store},
		RestoreRequest{ConfigBackup: "/f", Password: pw, Store: store},
		VerifyRequest{ConfigBackup: "/f", Password: pw, Store: store},
		store,
	}
	for _, v := range values {
		var logged bytes.Buffer
		l := slog.New(slog.NewTextHandler(&logged, nil))
		l.Info("request", "req", v)
		slog.New(slog.NewJSONHandler(&logged, nil)).Info("request", "req", v)
		for _, s := range []string{fmt.Sprint(v), fmt.Sprintf("%v %+v %#v %s", v, v, v, v), logged.String()} {
			if strings.Contains(s, pw) || strings.Contains(s, destPW) {
				t.Fatalf("%T printed a password: %s", v, s)
			}
			if !strings.Contains(s, redacted) {
				t.Fatalf("%T printed without the redaction marker: %s", v, s)
			}
		}
	}
}
