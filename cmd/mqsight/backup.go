package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mqsight/mqsight/internal/backup"
	"github.com/mqsight/mqsight/internal/server"
)

// Environment variables the backup commands read secrets from when no
// file is given (a terminal prompt is the last resort).
const (
	envBackupPassword = "MQSIGHT_BACKUP_PASSWORD"
	envStorePassword  = "MQSIGHT_STORE_PASSWORD"
)

// secretSource says where one secret comes from: a file (first line), an
// environment variable, or a prompt on the terminal. An empty secret is
// refused where it was found, naming its source, so that an empty file or
// variable is not reported later as a wrong password.
type secretSource struct {
	what string // "backup password", "store password"
	flag string // the flag naming file
	file string
	env  string
}

// Flags naming the backup password's file. The commands that talk to a
// server also have the admin password flag --password, which the old
// name --password-file sat too close to: it stays as a hidden alias, so
// that scripts keep working (docs/decisions/backup-api.md).
const (
	flagBackupPasswordFile = "backup-password-file"
	flagOldPasswordFile    = "password-file"
)

// registerBackupPasswordFile defines --backup-password-file and its
// hidden alias --password-file, both setting file.
func registerBackupPasswordFile(cmd *cobra.Command, file *string) {
	fl := cmd.Flags()
	fl.StringVar(file, flagBackupPasswordFile, "", "file whose first line is the backup password, which encrypts the backup "+
		"(not the admin --password); else "+envBackupPassword+" or a prompt")
	fl.StringVar(file, flagOldPasswordFile, "", "old name of --"+flagBackupPasswordFile)
	fl.MarkHidden(flagOldPasswordFile)
	cmd.MarkFlagsMutuallyExclusive(flagBackupPasswordFile, flagOldPasswordFile)
}

// backupPassword is the backup password's source: the file of
// --backup-password-file (or its alias), else the environment or a prompt.
func backupPassword(cmd *cobra.Command, file string) secretSource {
	flag := "--" + flagBackupPasswordFile
	if cmd.Flags().Changed(flagOldPasswordFile) {
		flag = "--" + flagOldPasswordFile // name the flag the operator typed
	}
	return secretSource{what: "backup password", flag: flag, file: file, env: envBackupPassword}
}

// adminPasswordIsNotTheBackups adds to the help of a backup command's
// --password which password it is.
func adminPasswordIsNotTheBackups(cmd *cobra.Command) {
	if f := cmd.Flags().Lookup("password"); f != nil {
		f.Usage += "; not the backup password (--" + flagBackupPasswordFile + ")"
	}
}

// read returns the secret. confirm asks twice at a prompt (new backups).
func (s secretSource) read(cmd *cobra.Command, confirm bool) (string, error) {
	if s.file != "" {
		data, err := os.ReadFile(s.file)
		if err != nil {
			return "", fmt.Errorf("%s: %w", s.flag, err)
		}
		line, _, _ := strings.Cut(string(data), "\n")
		line = strings.TrimRight(line, "\r")
		switch {
		case len(data) == 0:
			return "", fmt.Errorf("%s file %s (%s) is empty", s.what, s.file, s.flag)
		case line == "":
			return "", fmt.Errorf("%s file %s (%s) has an empty first line; the %s is its first line", s.what, s.file, s.flag, s.what)
		}
		return line, nil
	}
	v, set := os.LookupEnv(s.env)
	switch {
	case v != "":
		return v, nil
	case set: // refused also on a terminal: an empty variable is a mistake, not a request to be asked
		return "", fmt.Errorf("no %s: %s is set but empty; give %s, set %s, or unset it to be asked on a terminal", s.what, s.env, s.flag, s.env)
	case !term.IsTerminal(int(os.Stdin.Fd())):
		return "", fmt.Errorf("no %s: give %s, set %s, or run on a terminal", s.what, s.flag, s.env)
	}
	prompt := strings.ToUpper(s.what[:1]) + s.what[1:]
	ask := func(p string) (string, error) {
		fmt.Fprintf(cmd.ErrOrStderr(), "%s: ", p)
		b, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		return string(b), err
	}
	pw, err := ask(prompt)
	if err != nil {
		return "", err
	}
	if pw == "" {
		return "", fmt.Errorf("empty %s", s.what)
	}
	if !confirm {
		return pw, nil
	}
	again, err := ask(prompt + " (again)")
	if err != nil {
		return "", err
	}
	if again != pw {
		return "", errors.New("the two passwords differ")
	}
	return pw, nil
}

// storeFlags are the store destination (backup) or source (restore).
type storeFlags struct {
	url, user, hostKey, passwordFile string
}

func (f *storeFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.url, "store-url", "", "store backup URL: sftp://, scp://, s3://host/bucket/key or file:///path/name")
	fl.StringVar(&f.user, "store-user", "", "user (S3: access key) of the store URL")
	fl.StringVar(&f.hostKey, "store-host-key", "", "pinned SSH host key fingerprint (SHA256:...) for sftp and scp")
	fl.StringVar(&f.passwordFile, "store-password-file", "", "file holding the store password (S3: secret key); else "+envStorePassword+" or a prompt")
}

// params fills the request fields with prefix ("StoreDestination" or
// "StoreSource"). The password is asked for only when a user is given.
func (f *storeFlags) params(cmd *cobra.Command, prefix string, body map[string]any) error {
	if f.url == "" {
		if f.user != "" || f.hostKey != "" {
			return errors.New("--store-user and --store-host-key need --store-url")
		}
		return nil
	}
	body[prefix+"URL"] = f.url
	if f.hostKey != "" {
		body[prefix+"HostKey"] = f.hostKey
	}
	if f.user == "" {
		return nil // file://, or the server names what is missing
	}
	body[prefix+"UserID"] = f.user
	pw, err := secretSource{what: "store password", flag: "--store-password-file", file: f.passwordFile, env: envStorePassword}.read(cmd, false)
	if err != nil {
		return err
	}
	body[prefix+"Password"] = pw
	return nil
}

// bytePhase tells whether a backup, restore or verify phase counts bytes
// (moving a store backup); the others count steps.
func bytePhase(phase string) bool {
	return phase == string(backup.PhaseUpload) || phase == string(backup.PhaseDownload)
}

// jobStatus is GET /ima/v1/service/status/{op}/{RequestID}.
type jobStatus struct {
	Status     string
	Step       string
	BytesDone  int64
	BytesTotal int64
	Result     map[string]any
	Error      string
}

// followJob polls a backup or restore job, drawing one progress bar per
// step, until it ends. A failed or cancelled job is an error carrying its
// code, returned with the job's status; when the status could not be
// read (after riding out an unreachable server, see pollJob), the status
// is nil and the error says that the outcome is unknown.
//
// adminUsersRestored tells that the job restores the backup's admin users
// (a restore with --include-server-config): if the server then refuses
// the credentials, that is why.
func followJob(cmd *cobra.Command, c *adminClient, op, id string, adminUsersRestored bool) (*jobStatus, error) {
	var bar *progress
	step := ""
	defer func() {
		if bar != nil {
			bar.Stop() // the job did not succeed (Finish below when it did)
		}
	}()
	deadline := time.Now().Add(24 * time.Hour)
	for {
		data, err := c.pollJob(op, id)
		var refused *replyError
		if errors.As(err, &refused) && (refused.status == http.StatusUnauthorized || refused.status == http.StatusForbidden) {
			// The job was accepted with these credentials, which changed
			// since: its outcome cannot be read with them.
			why := "these credentials were changed or removed meanwhile"
			if adminUsersRestored {
				why = "a restore with --include-server-config brings back the backup's admin users and passwords"
			}
			return nil, fmt.Errorf("the %s (RequestID %s) was accepted, but the server no longer accepts these admin credentials (HTTP %d), so its outcome is unknown here: "+
				"%s. Check GET /ima/v1/service/status/%s/%s with valid ones", op, id, refused.status, why, op, id)
		}
		if err != nil {
			return nil, outcomeUnknown(op, id, err)
		}
		var st jobStatus
		if err := json.Unmarshal(data, &st); err != nil {
			return nil, fmt.Errorf("%s status: %w", op, err)
		}
		if st.Step != step && st.Step != "" && st.Step != "done" {
			if bar != nil {
				bar.Finish()
			}
			step = st.Step
			bar = newProgress(cmd, st.BytesTotal, op+": "+step, bytePhase(step))
		}
		if bar != nil && st.Step == step { // the counts are the current step's
			bar.SetTotal(st.BytesTotal)
			bar.Set(st.BytesDone)
		}
		switch st.Status {
		case "succeeded":
			if bar != nil {
				bar.Finish()
			}
			return &st, nil
		case "failed", "cancelled":
			return &st, fmt.Errorf("%s %s: %s", op, st.Status, st.Error)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s %s still %s after 24 hours", op, id, st.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// newBackupCommand is `mqsight backup` and `mqsight backup verify`.
func newBackupCommand() *cobra.Command {
	var (
		f            adminFlags
		store        storeFlags
		out          string
		passwordFile string
	)
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Back up a running server's configuration (and, with --store-url, its store) and download the configuration backup",
		Long: "Back up a running server over the REST admin API. The configuration backup is written on the server\n" +
			"(imaBackup.hhmmss-MMDDYYYY) and downloaded into --out; with --store-url the store is backed up online to\n" +
			"that destination first. The backup password, which encrypts the backup, comes from --backup-password-file,\n" +
			envBackupPassword + " or a prompt (asked twice); --password is the admin password for the server.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pw, err := backupPassword(cmd, passwordFile).read(cmd, true)
			if err != nil {
				return err
			}
			body := map[string]any{"Password": pw}
			if err := store.params(cmd, "StoreDestination", body); err != nil {
				return err
			}
			c, err := f.client(cmd)
			if err != nil {
				return err
			}
			raw, _ := json.Marshal(body)
			data, err := c.do("POST", "/ima/v1/service/backup", raw)
			if err != nil {
				return err
			}
			var r struct{ FileName, RequestID string }
			if err := json.Unmarshal(data, &r); err != nil {
				return err
			}
			result := map[string]any{}
			if r.RequestID != "" {
				st, err := followJob(cmd, c, "backup", r.RequestID, false)
				if err != nil {
					return err
				}
				result = st.Result
				r.FileName, _ = result["FileName"].(string)
			}
			if r.FileName == "" {
				return errors.New("backup: the server named no file")
			}
			path, err := c.download(cmd, r.FileName, out)
			if err != nil {
				return err
			}
			result["FileName"] = r.FileName
			result["Downloaded"] = path
			enc, _ := json.Marshal(result)
			return printJSON(cmd.OutOrStdout(), enc)
		},
	}
	// The connection flags are local, so that `backup verify`, which
	// needs no server, does not inherit them.
	conn := &cobra.Command{}
	f.register(conn)
	cmd.Flags().AddFlagSet(conn.PersistentFlags())
	store.register(cmd)
	cmd.Flags().StringVar(&out, "out", ".", "directory the configuration backup is downloaded into")
	registerBackupPasswordFile(cmd, &passwordFile)
	adminPasswordIsNotTheBackups(cmd)
	cmd.AddCommand(newVerifyCommand())
	return cmd
}

// download streams the user file name into dir (temporary file, fsync,
// rename without replacing an existing file).
func (c *adminClient) download(cmd *cobra.Command, name, dir string) (string, error) {
	resp, err := c.getUserFile(name)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", name, err)
	}
	defer resp.Body.Close()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, "."+name+".partial-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	bar := newProgress(cmd, resp.ContentLength, "download "+name, true)
	_, err = io.Copy(io.MultiWriter(tmp, bar), resp.Body)
	if err != nil {
		bar.Stop()
	} else {
		bar.Finish()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("download %s: %w", name, err)
	}
	final := filepath.Join(dir, name)
	if err := os.Link(tmp.Name(), final); err != nil {
		return "", fmt.Errorf("download %s: %w", name, err)
	}
	return final, nil
}

// place makes the local file at path available as the user file name on
// the server without replacing anything there: it uploads it when the
// server has no such file, uses the server's when it has the same bytes,
// and refuses when it has different ones (overwriting could destroy the
// only copy of another backup, and with it the key to its store backup).
// uploaded tells whether the file was uploaded.
func (c *adminClient) place(cmd *cobra.Command, path, name string) (uploaded bool, err error) {
	local, err := fileSHA256(path)
	if err != nil {
		return false, err
	}
	remote, found, err := c.userFileSHA256(name)
	if err != nil {
		return false, err
	}
	if !found {
		err := c.upload(cmd, path, name)
		var refused *replyError
		if !errors.As(err, &refused) || refused.status != http.StatusPreconditionFailed {
			return err == nil, err
		}
		// Another client put a file of that name since the check: the
		// upload did not replace it (create-only); it is compared instead.
		if remote, found, err = c.userFileSHA256(name); err != nil {
			return false, err
		}
		if !found {
			return false, fmt.Errorf("upload %s: the name was taken and freed again meanwhile; run the command again", name)
		}
	}
	if bytes.Equal(local, remote) {
		return false, nil
	}
	return false, fmt.Errorf("the server already has a different user file named %s; rename %s, or delete the server's file first (DELETE /ima/v1/service/file/%s)", name, path, name)
}

// fileSHA256 is the SHA-256 of the local file at path.
func fileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return h.Sum(nil), nil
}

// userFileSHA256 is the SHA-256 of the server's user file name; found is
// false when the server has none.
func (c *adminClient) userFileSHA256(name string) (sum []byte, found bool, err error) {
	resp, err := c.getUserFile(name)
	var refused *replyError
	if errors.As(err, &refused) && refused.status == http.StatusNotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("look up %s on the server: %w", name, err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil {
		return nil, false, fmt.Errorf("read the server's %s: %w", name, err)
	}
	return h.Sum(nil), true, nil
}

// getUserFile starts the download of the server's user file name: a 200
// reply whose body the caller reads and closes, or a *replyError.
func (c *adminClient) getUserFile(name string) (*http.Response, error) {
	path := "/ima/v1/service/file/" + url.PathEscape(name)
	req, err := http.NewRequest("GET", c.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(c.user, c.pass)
	hc := *c.http
	hc.Timeout = 0 // the body may take longer than one request timeout
	resp, err := send(&hc, req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return nil, c.replyError("GET", path, resp.StatusCode, data)
}

// upload streams a local file to the server's user files.
func (c *adminClient) upload(cmd *cobra.Command, path, name string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	bar := newProgress(cmd, st.Size(), "upload "+name, true)
	defer bar.Stop() // unless finished below
	req, err := http.NewRequest("PUT", c.base+"/ima/v1/file/"+url.PathEscape(name), io.TeeReader(f, bar))
	if err != nil {
		return err
	}
	req.ContentLength = st.Size()
	req.Header.Set("If-None-Match", "*") // never replace a user file (412)
	req.SetBasicAuth(c.user, c.pass)
	hc := *c.http
	hc.Timeout = 0
	resp, err := send(&hc, req)
	if err != nil {
		return fmt.Errorf("upload %s: %w", name, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("upload %s: %w", name, c.replyError("PUT", req.URL.Path, resp.StatusCode, data))
	}
	bar.Finish()
	return nil
}

// newRestoreCommand is `mqsight restore FILE`.
func newRestoreCommand() *cobra.Command {
	var (
		f             adminFlags
		store         storeFlags
		includeServer bool
		dryRun        bool
		passwordFile  string
	)
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Upload a configuration backup to a running server and restore it (and, with --store-url, its store backup)",
		Long: "Restore a configuration backup on a running server over the REST admin API: the file is uploaded to\n" +
			"the server's user files (unless the server has the same file already; a different file of the same name\n" +
			"is never replaced), then restored. After a dry run or a failed restore the upload is removed again\n" +
			"(it stays if the connection breaks before the outcome is known).\n" +
			"Without --include-server-config the server keeps its own name,\n" +
			"UID, admin endpoint, admin users and HA configuration. Without --store-url the store is cleaned.\n" +
			"--dry-run reports what would change and changes nothing.\n" +
			"The backup password comes from --backup-password-file, " + envBackupPassword + " or a prompt;\n" +
			"--password is the admin password for the server.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := backupPassword(cmd, passwordFile).read(cmd, false)
			if err != nil {
				return err
			}
			name := filepath.Base(args[0])
			body := map[string]any{"Name": name, "Password": pw, "IncludeServerConfig": includeServer, "DryRun": dryRun}
			if err := store.params(cmd, "StoreSource", body); err != nil {
				return err
			}
			c, err := f.client(cmd)
			if err != nil {
				return err
			}
			uploaded, err := c.place(cmd, args[0], name)
			if err != nil {
				return err
			}
			// What this command put on the server goes again when nothing
			// was restored from it: after a dry run, or a restore the server
			// refused or reported failed. If the outcome is unknown (the
			// connection broke while following the job), it stays.
			removeUpload := false
			if uploaded {
				defer func() {
					if !removeUpload {
						return
					}
					if _, err := c.do("DELETE", "/ima/v1/service/file/"+url.PathEscape(name), nil); err != nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "mqsight: could not remove the uploaded %s from the server: %v\n", name, err)
					}
				}()
			}
			raw, _ := json.Marshal(body)
			data, err := c.do("POST", "/ima/v1/service/restore", raw)
			if err != nil {
				var refused *replyError
				removeUpload = errors.As(err, &refused)
				return err
			}
			var r apiReply
			if err := json.Unmarshal(data, &r); err != nil || r.RequestID == "" {
				return fmt.Errorf("restore: no RequestID in the reply")
			}
			st, err := followJob(cmd, c, "restore", r.RequestID, includeServer && !dryRun)
			// st is nil when the job's outcome is unknown.
			removeUpload = st != nil && (err != nil || dryRun)
			if err != nil {
				return err
			}
			enc, _ := json.Marshal(st.Result)
			return printJSON(cmd.OutOrStdout(), enc)
		},
	}
	f.register(cmd)
	store.register(cmd)
	cmd.Flags().BoolVar(&includeServer, "include-server-config", false, "also restore the server configuration (same environment after loss)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "report what would change; change nothing")
	registerBackupPasswordFile(cmd, &passwordFile)
	adminPasswordIsNotTheBackups(cmd)
	return cmd
}

// newVerifyCommand is `mqsight backup verify FILE`: offline, no server.
func newVerifyCommand() *cobra.Command {
	var (
		store        storeFlags
		storeFile    string
		passwordFile string
	)
	cmd := &cobra.Command{
		Use:   "verify FILE",
		Short: "Decrypt and authenticate a backup offline, print its manifest, and check its store backup belongs to it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if storeFile != "" && store.url != "" {
				return errors.New("give --store-url or --store-file, not both")
			}
			pw, err := backupPassword(cmd, passwordFile).read(cmd, false)
			if err != nil {
				return err
			}
			req := backup.VerifyRequest{ConfigBackup: args[0], Password: pw, StoreFile: storeFile, Open: server.DestinationOpener()}
			if store.url != "" {
				params := map[string]any{}
				if err := store.params(cmd, "", params); err != nil {
					return err
				}
				req.Store = backup.StoreParams{URL: store.url, UserID: store.user, HostKey: store.hostKey}
				req.Store.Password, _ = params["Password"].(string)
			}
			var bar *progress
			phase := backup.Phase("")
			req.Progress = func(p backup.Progress) {
				if p.Phase != phase {
					if bar != nil {
						bar.Finish()
					}
					phase = p.Phase
					bar = newProgress(cmd, p.Total, "verify: "+string(p.Phase), bytePhase(string(p.Phase)))
				}
				bar.SetTotal(p.Total)
				bar.Set(p.Done)
			}
			res, err := backup.Verify(context.Background(), req)
			if bar != nil && err != nil {
				bar.Stop()
			} else if bar != nil {
				bar.Finish()
			}
			if err != nil {
				return err // backup.Verify's errors start with "verify: "
			}
			out := map[string]any{"Config": res.Config}
			if res.Store != nil {
				out["Store"] = res.Store
				out["StoreSHA256"] = res.StoreSHA256
				out["StoreSize"] = res.StoreSize
				out["StoreMatches"] = true
			}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetIndent("", "  ")
			enc.Encode(out)
			_, err = cmd.OutOrStdout().Write(buf.Bytes())
			return err
		},
	}
	store.register(cmd)
	cmd.Flags().StringVar(&storeFile, "store-file", "", "a local store backup file to check with the configuration backup")
	registerBackupPasswordFile(cmd, &passwordFile)
	return cmd
}
