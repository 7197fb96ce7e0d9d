package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/destination/destinationtest"
)

// TestBackupBadInputs: every bad input gets its own clear error code and
// leaves the server as it was (configuration, retained message, buffered
// messages, user files, the store destinations).
func TestBackupBadInputs(t *testing.T) {
	bin, err := failpointBinary()
	if err != nil {
		t.Fatal(err)
	}
	dest := fileDest(t)
	s := prepareSource(t, dest)
	a := s.a
	userfiles := filepath.Join(s.d.Path, "userfiles")
	good, err := os.ReadFile(filepath.Join(userfiles, s.cfgName))
	if err != nil {
		t.Fatal(err)
	}
	// A second backup, whose store backup belongs to another configuration
	// backup than the first.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	body := dest.params("StoreDestination", "second.bak")
	body["Password"] = e2eBackupPassword
	if j := a.job("backup", body); j.Body["Status"] != "succeeded" {
		t.Fatalf("second backup: %s", j.Raw)
	}
	put := func(name string, data []byte) { a.must(http.StatusOK, "PUT", "/ima/v1/file/"+name, data) }
	put("truncated", good[:len(good)*2/3])
	put("notabackup", []byte("just some text, not a backup"))
	storeData, err := os.ReadFile(filepath.Join(dest.Dir, s.store))
	if err != nil {
		t.Fatal(err)
	}
	put("store-as-config", storeData)

	sftpRoot := t.TempDir()
	sftp := destinationtest.StartSFTPServer(t, sftpRoot)
	sftpURL := "sftp://" + sftp.Addr + sftpRoot + "/x.bak"
	before := a.config()
	restoreBody := func(extra map[string]any) map[string]any {
		b := map[string]any{"Name": s.cfgName, "Password": e2eBackupPassword}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}

	type jobCase struct {
		name string
		op   string
		body map[string]any
		code string
		says string
	}
	cases := []jobCase{
		{"wrong password", "restore", restoreBody(map[string]any{"Password": "wrong-password!"}), "CWLNA9301", "password"},
		{"truncated", "restore", restoreBody(map[string]any{"Name": "truncated"}), "CWLNA9302", "truncated"},
		{"not a backup", "restore", restoreBody(map[string]any{"Name": "notabackup"}), "CWLNA9304", "not an mqsight backup"},
		{"store backup as configuration backup", "restore", restoreBody(map[string]any{"Name": "store-as-config"}), "CWLNA9314", "wrong kind"},
		{"store backup of another backup", "restore", restoreBody(map[string]any{"StoreSourceURL": dest.URL("second.bak")}), "CWLNA9306", "does not belong"},
		{"missing store backup", "restore", restoreBody(map[string]any{"StoreSourceURL": dest.URL("missing.bak")}), "CWLNA9307", "not found"},
		{"unreachable destination", "backup", map[string]any{"Password": e2eBackupPassword, "StoreDestinationURL": "sftp://127.0.0.1:1/tmp/x.bak",
			"StoreDestinationUserID": "u", "StoreDestinationPassword": "p", "StoreDestinationHostKey": sftp.HostKey}, "CWLNA9308", "cannot be reached"},
		{"wrong host key", "backup", map[string]any{"Password": e2eBackupPassword, "StoreDestinationURL": sftpURL,
			"StoreDestinationUserID": sftp.User, "StoreDestinationPassword": sftp.Password,
			"StoreDestinationHostKey": "SHA256:" + strings.Repeat("B", 43)}, "CWLNA9309", "host key"},
		{"wrong destination password", "backup", map[string]any{"Password": e2eBackupPassword, "StoreDestinationURL": sftpURL,
			"StoreDestinationUserID": sftp.User, "StoreDestinationPassword": "not-the-password", "StoreDestinationHostKey": sftp.HostKey},
			"CWLNA9310", "refused the credentials"},
		{"store name collision", "backup", map[string]any{"Password": e2eBackupPassword, "StoreDestinationURL": dest.URL(s.store)}, "CWLNA9313", "already exists"},
	}
	// One flipped byte anywhere: at the start, in the header, in the
	// encrypted payload, at the end.
	for _, pos := range []int{0, 5, 17, 60, 200, len(good) / 2, len(good) - 40, len(good) - 1} {
		flipped := append([]byte(nil), good...)
		flipped[pos] ^= 0x01
		name := "flipped-" + strconv.Itoa(pos)
		put(name, flipped)
		cases = append(cases, jobCase{"flipped byte at " + strconv.Itoa(pos), "restore", restoreBody(map[string]any{"Name": name}), "CWLNA9303", "modified or damaged"})
	}
	userfilesBefore, destBefore := dirLister(userfiles)(), dest.list()
	for _, tc := range cases {
		if tc.op == "backup" {
			time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second))) // backups are named by the second
		}
		j := a.job(tc.op, tc.body)
		msg, _ := j.Body["Error"].(string)
		if j.Body["Status"] != "failed" || !strings.HasPrefix(msg, tc.code) || !strings.Contains(msg, tc.says) {
			t.Errorf("%s: want %s (%q): %s", tc.name, tc.code, tc.says, j.Raw)
		}
		if strings.Contains(string(j.Raw), sftp.Password) || strings.Contains(string(j.Raw), e2eBackupPassword) {
			t.Errorf("%s: status shows a password", tc.name)
		}
	}

	sync := []struct {
		name, op string
		body     map[string]any
		status   int
		code     string
		says     string
	}{
		{"bad scheme ftp", "backup", map[string]any{"Password": e2eBackupPassword, "StoreDestinationURL": "ftp://127.0.0.1/x.bak",
			"StoreDestinationUserID": "u", "StoreDestinationPassword": "p"}, 400, "CWLNA9311", "clear text"},
		{"bad scheme", "restore", restoreBody(map[string]any{"StoreSourceURL": "http://127.0.0.1/x.bak"}), 400, "CWLNA9311", "unsupported scheme"},
		{"partial store parameters", "backup", map[string]any{"Password": e2eBackupPassword, "StoreDestinationURL": sftpURL,
			"StoreDestinationUserID": sftp.User}, 400, "CWLNA9312", "Password"},
		{"name collision", "export", map[string]any{"Password": e2eBackupPassword, "FileName": s.cfgName}, 409, "CWLNA9313", s.cfgName},
		{"short password", "backup", map[string]any{"Password": "1234567"}, 400, "CWLNA0112", "at least 8"},
	}
	for _, tc := range sync {
		r := a.must(tc.status, "POST", "/ima/v1/service/"+tc.op, tc.body)
		if r.code() != tc.code || !strings.Contains(r.Body["Message"].(string), tc.says) {
			t.Errorf("%s: %s", tc.name, r.Raw)
		}
	}
	if after := a.config(); !jsonEqual(after, before) {
		t.Errorf("a bad input changed the configuration")
	}
	if got := retained(t, s.d.MQTTAddr, "acc/ret/keep"); got != "k1" {
		t.Errorf("a bad input changed the store: retained %q", got)
	}
	if got, dup := payloads(drain(t, s.d.MQTTAddr, "buf", quiet)); !slices.Equal(got, []string{"b1", "b2", "b3"}) || dup {
		t.Errorf("a bad input changed the buffered messages: %v dup=%v, want b1 b2 b3 without DUP", got, dup)
	}
	if got := dirLister(userfiles)(); !slices.Equal(got, userfilesBefore) {
		t.Errorf("bad inputs changed the user files: %v, before %v", got, userfilesBefore)
	}
	if got := dest.list(); !slices.Equal(got, destBefore) {
		t.Errorf("bad inputs changed the store destination: %v, before %v", got, destBefore)
	}
	if got := dirLister(sftpRoot)(); len(got) != 0 {
		t.Errorf("failed backups left %v on the SFTP server", got)
	}

	// Two backups in the same second: the second is refused, the first
	// stays as written.
	for try := 0; ; try++ {
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
		sec := time.Now().Unix()
		first := a.must(http.StatusOK, "POST", "/ima/v1/service/backup", map[string]any{"Password": e2eBackupPassword})
		r, err := a.do("POST", "/ima/v1/service/backup", map[string]any{"Password": e2eBackupPassword})
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().Unix() != sec { // the two did not fall into one second
			if try == 9 {
				t.Fatal("ten pairs of configuration backups never fell into one second")
			}
			continue
		}
		name, _ := first.Body["FileName"].(string)
		if r.Status != http.StatusConflict || r.code() != "CWLNA9313" || !strings.Contains(r.Body["Message"].(string), name) {
			t.Errorf("second backup in the same second: %s (first %s)", r.Raw, first.Raw)
		}
		if err := verifyArchive(filepath.Join(userfiles, name), e2eBackupPassword); err != nil {
			t.Errorf("the first backup of the second: %v", err)
		}
		break
	}

	// Restore while another restore runs: the second is refused; the
	// first is held after staging, before it stops anything, by a
	// failpoint.
	if err := s.p.terminate(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	p := startWith(t, bin, s.d.Path, []string{lowWorkFactor, "MQSIGHT_FAILPOINTS=restoreAfterStage=sleep(1500)"})
	a = newAPI(t, s.d, p)
	first := a.must(http.StatusAccepted, "POST", "/ima/v1/service/restore", restoreBody(map[string]any{"DryRun": false}))
	r := a.must(http.StatusConflict, "POST", "/ima/v1/service/restore", restoreBody(nil))
	if r.code() != "CWLNA9206" || !strings.Contains(r.Body["Message"].(string), "restore") {
		t.Errorf("second restore: %s", r.Raw)
	}
	// While it stages, the configuration it replaces is frozen: a change
	// would be undone by the switch. A configuration-only backup is kept
	// apart from it too.
	id := first.Body["RequestID"].(string)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		j, err := a.do("GET", "/ima/v1/service/status/restore/"+id, nil)
		if err != nil {
			t.Fatal(err)
		}
		if step, _ := j.Body["Step"].(string); step != "" || j.Body["Status"] == "succeeded" || time.Now().After(deadline) {
			break
		}
	}
	if r, err = a.do("POST", "/ima/v1/configuration", map[string]any{"ServerName": "renamed-during-restore"}); err != nil {
		t.Fatal(err)
	}
	if r.Status != http.StatusConflict || r.code() != "CWLNA9206" || !strings.Contains(r.Body["Message"].(string), "restore is in progress") {
		t.Errorf("configuration change during a restore: %s", r.Raw)
	}
	if r, err = a.do("POST", "/ima/v1/service/backup", map[string]any{"Password": e2eBackupPassword}); err != nil {
		t.Fatal(err)
	}
	if r.Status != http.StatusConflict || r.code() != "CWLNA9206" {
		t.Errorf("configuration backup during a restore: %s", r.Raw)
	}
	if j := a.waitJob("restore", id); j.Body["Status"] != "succeeded" {
		t.Errorf("first restore: %s", j.Raw)
	}
	a.must(http.StatusOK, "POST", "/ima/v1/configuration", map[string]any{"ServerName": "renamed-after-restore"})
}
