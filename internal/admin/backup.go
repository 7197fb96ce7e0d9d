package admin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/mqsight/mqsight/internal/archive"
	"github.com/mqsight/mqsight/internal/backup"
	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/destination"
	"github.com/mqsight/mqsight/internal/job"
)

// BackupService is the optional capability of a Service that backs up and
// restores (internal/server implements it). The routes of this file are
// registered only when the Service has it. The API validates and fills the
// request (password, store parameters, file paths in UserFilesDir,
// progress); the service adds what only the server knows (components,
// data directory, destination table) and runs internal/backup.
type BackupService interface {
	// Backup writes a configuration backup into req.Dir and, when
	// req.Store is given, a store backup first (backup.Backup).
	Backup(ctx context.Context, req backup.BackupRequest) (*backup.BackupResult, error)
	// Restore stages req and, unless it is a dry run, applies it with the
	// components stopped and restarts them (backup.Restorer.Restore).
	Restore(ctx context.Context, req backup.RestoreRequest) (*backup.Result, error)
}

// registerBackup registers backup, restore and the Amlen-compatible
// export and import. All of them need SystemAdministrator. Their jobs are
// reported by service.go's /ima/v1/service/status/{op}/{RequestID}.
func (a *API) registerBackup() {
	svc, ok := a.opts.Service.(BackupService)
	if !ok {
		return
	}
	b := &backupRoutes{api: a, svc: svc}
	a.route("POST /ima/v1/service/backup", systemAccess, b.postBackup)
	a.route("POST /ima/v1/service/restore", systemAccess, b.postRestore)
	a.route("POST /ima/v1/service/export", systemAccess, b.postExport)
	a.route("POST /ima/v1/service/import", systemAccess, b.postImport)
}

// backupRoutes are the handlers of this file.
type backupRoutes struct {
	api *API
	svc BackupService
}

// fieldKind is the JSON type a request field must have.
type fieldKind int

const (
	stringField fieldKind = iota + 1
	boolField
)

// requestFields holds the fields of a service request body, checked
// against a schema: strings and booleans by name.
type requestFields struct {
	str     map[string]string
	boolean map[string]bool
}

// parseFields checks body against schema: an unknown field is refused by
// name (CodeBadArgument), a wrong JSON type is CodeBadValue naming the
// field but never quoting its value (it may be a password).
func parseFields(body map[string]any, schema map[string]fieldKind) (requestFields, error) {
	f := requestFields{str: map[string]string{}, boolean: map[string]bool{}}
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		kind, ok := schema[k]
		if !ok {
			return f, apiError(CodeBadArgument, k)
		}
		switch v := body[k].(type) {
		case nil:
		case string:
			if kind != stringField {
				return f, apiError(CodeBadValue, k+" must be true or false")
			}
			f.str[k] = v
		case bool:
			if kind != boolField {
				return f, apiError(CodeBadValue, k+" must be a string")
			}
			f.boolean[k] = v
		default:
			if kind == boolField {
				return f, apiError(CodeBadValue, k+" must be true or false")
			}
			return f, apiError(CodeBadValue, k+" must be a string")
		}
	}
	return f, nil
}

// checkBackupPassword applies the password rule of new backups.
func checkBackupPassword(name, pw string) error {
	if pw == "" {
		return apiError(CodeRequired, name)
	}
	if len([]rune(pw)) < archive.MinPassphraseLen {
		return apiError(CodeBadValue, fmt.Sprintf("%s must be at least %d characters", name, archive.MinPassphraseLen))
	}
	return nil
}

// storeParams checks the store parameters of a request (all or none for
// sftp, scp and s3; ftp refused with its reason) before any job starts.
// prefix is the request's name for them ("StoreDestination" or
// "StoreSource"): errors name the request's fields, not the generic ones.
func storeParams(prefix string, p backup.StoreParams) (backup.StoreParams, error) {
	if p.IsZero() {
		return p, nil
	}
	_, err := destination.ParseParams(p.URL, destination.Credentials{UserID: p.UserID, Password: p.Password, HostKey: p.HostKey})
	var missing *destination.MissingError
	switch {
	case err == nil:
		return p, nil
	case errors.As(err, &missing):
		names := make([]string, len(missing.Missing))
		for i, m := range missing.Missing {
			names[i] = prefix + m
		}
		return p, apiError(CodeStoreParams, strings.Join(names, ", "))
	case errors.Is(err, destination.ErrCredentials): // only the host key is left to be wrong
		return p, apiError(CodeBadValue, fmt.Sprintf("%sHostKey: %s", prefix,
			strings.TrimPrefix(err.Error(), destination.ErrCredentials.Error()+": ")))
	}
	return p, backupError(err)
}

// parseBackup validates a POST /ima/v1/service/backup body.
func parseBackup(body map[string]any) (backup.BackupRequest, error) {
	var req backup.BackupRequest
	f, err := parseFields(body, map[string]fieldKind{
		"Password": stringField, "StoreDestinationURL": stringField, "StoreDestinationUserID": stringField,
		"StoreDestinationPassword": stringField, "StoreDestinationHostKey": stringField,
	})
	if err != nil {
		return req, err
	}
	if err := checkBackupPassword("Password", f.str["Password"]); err != nil {
		return req, err
	}
	req.Password = f.str["Password"]
	req.Store, err = storeParams("StoreDestination", backup.StoreParams{
		URL: f.str["StoreDestinationURL"], UserID: f.str["StoreDestinationUserID"],
		Password: f.str["StoreDestinationPassword"], HostKey: f.str["StoreDestinationHostKey"],
	})
	return req, err
}

// parseRestore validates a POST /ima/v1/service/restore body. The Name
// is checked as a file name; whether it exists is checked by the handler.
func parseRestore(body map[string]any) (name string, req backup.RestoreRequest, err error) {
	f, err := parseFields(body, map[string]fieldKind{
		"Name": stringField, "Password": stringField, "IncludeServerConfig": boolField, "DryRun": boolField,
		"StoreSourceURL": stringField, "StoreSourceUserID": stringField,
		"StoreSourcePassword": stringField, "StoreSourceHostKey": stringField,
	})
	if err != nil {
		return "", req, err
	}
	name = f.str["Name"]
	if name == "" {
		return "", req, apiError(CodeRequired, "Name")
	}
	if err := checkFileName(name); err != nil {
		return "", req, err
	}
	if f.str["Password"] == "" {
		return "", req, apiError(CodeRequired, "Password")
	}
	req.Password = f.str["Password"]
	req.IncludeServerConfig = f.boolean["IncludeServerConfig"]
	req.DryRun = f.boolean["DryRun"]
	req.Store, err = storeParams("StoreSource", backup.StoreParams{
		URL: f.str["StoreSourceURL"], UserID: f.str["StoreSourceUserID"],
		Password: f.str["StoreSourcePassword"], HostKey: f.str["StoreSourceHostKey"],
	})
	return name, req, err
}

// userFile returns the path of a user file (a regular file in
// UserFilesDir, see openUserFile): a symbolic link is "not found", as in
// the file list. For callers that open the path later (a restore job);
// those that read at once use openUserFile, which checks and opens in one
// step.
func (a *API) userFile(name string) (string, error) {
	f, err := a.openUserFile(name)
	if err != nil {
		return "", err
	}
	f.Close()
	return f.Name(), nil
}

// openUserFile opens the user file name for reading; a name that is no
// user file is 404 CWLNA0136.
func (a *API) openUserFile(name string) (*os.File, error) {
	if err := checkFileName(name); err != nil {
		return nil, err
	}
	f, _, err := openUserFile(a.opts.UserFilesDir, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, apiError(CodeNotFound, "File", name)
	}
	return f, err
}

// progressTo reports backup and restore progress into a job: the step is
// the phase, and the bytes are those of the current phase.
func progressTo(p *job.Progress) backup.ProgressFunc {
	var phase backup.Phase
	var done int64
	return func(pr backup.Progress) {
		if pr.Phase != phase {
			phase = pr.Phase
			p.SetStep(string(pr.Phase))
			p.Add(-done)
			done = 0
		}
		p.SetTotal(pr.Total)
		p.Add(pr.Done - done)
		done = pr.Done
	}
}

// jobFailure is the error a backup or restore job fails with: the API
// error, its code first, so the status reply carries the code.
type jobFailure struct{ e *Error }

func (f jobFailure) Error() string { return string(f.e.Code) + " " + f.e.Error() }
func (f jobFailure) Unwrap() error { return f.e }

// failJob maps err for a job's status. The server not running is
// described from its status (unavailable), as a request's 503 is.
func (a *API) failJob(err error) error {
	var e *Error
	if errors.Is(err, ErrNotRunning) {
		e = a.unavailable()
	} else if !errors.As(backupError(err), &e) {
		e = apiError(CodeInternal, err.Error())
	}
	return jobFailure{e}
}

// coded makes a panic in fn a failure with a code (CWLNA9500), as every
// other failure of a backup or restore job has; the registry would report
// it without one.
func coded(fn job.Func) job.Func {
	return func(ctx context.Context, p *job.Progress) (result map[string]any, err error) {
		defer func() {
			if v := recover(); v != nil {
				result, err = nil, jobFailure{apiError(CodeInternal, fmt.Sprintf("panic: %v", v))}
			}
		}()
		return fn(ctx, p)
	}
}

// start starts fn as a backup or restore job (a panic fails it with a
// code); another job of the group running is 409 CWLNA9206.
func (b *backupRoutes) start(op string, fn job.Func) (job.Status, error) {
	st, err := b.api.opts.Jobs.Start(op, coded(fn))
	if errors.Is(err, job.ErrBusy) {
		return st, apiError(CodeBusy, err.Error())
	}
	return st, err
}

// startJob starts a backup or restore job and replies 202 with its
// RequestID.
func (b *backupRoutes) startJob(w http.ResponseWriter, op string, fn job.Func) error {
	st, err := b.start(op, fn)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, Reply{Version: "v1", Code: CodeOK,
		Message:   "The " + op + " request was accepted; poll /ima/v1/service/status/" + op + "/" + st.RequestID + ".",
		RequestID: st.RequestID})
	return nil
}

// postBackup writes a configuration backup (synchronously) or a
// configuration and store backup (as a job).
func (b *backupRoutes) postBackup(w http.ResponseWriter, r *http.Request, _ *caller) error {
	a := b.api
	body, err := a.readObject(w, r)
	if err != nil {
		return err
	}
	req, err := parseBackup(body)
	if err != nil {
		return err
	}
	req.Dir = a.opts.UserFilesDir
	req.Time = a.opts.Now()
	if req.Store.IsZero() {
		// Synchronous, but a job all the same, so that it is kept apart
		// from a running store backup (which would lose its name to this
		// one within the same second) and from a restore.
		var (
			res  *backup.BackupResult
			berr error
		)
		st, err := b.start("backup", func(ctx context.Context, _ *job.Progress) (map[string]any, error) {
			res, berr = b.svc.Backup(ctx, req)
			if berr != nil {
				return nil, b.api.failJob(berr)
			}
			return map[string]any{"FileName": res.Name, "BackupID": res.Manifest.BackupID}, nil
		})
		if err != nil {
			return err
		}
		final, err := a.opts.Jobs.Wait(r.Context(), st.RequestID)
		if err != nil {
			return err
		}
		if berr != nil {
			return backupError(berr)
		}
		if final.State != job.Succeeded { // a panic, recovered by the registry
			return errors.New(final.Error)
		}
		a.log.Info("configuration backup written", "name", res.Name)
		writeJSON(w, http.StatusOK, map[string]any{"Version": "v1", "Code": CodeOK,
			"Message": apiError(CodeOK).Error(), "FileName": res.Name, "BackupID": res.Manifest.BackupID})
		return nil
	}
	return b.startJob(w, "backup", func(ctx context.Context, p *job.Progress) (map[string]any, error) {
		req := req
		req.Progress = progressTo(p)
		res, err := b.svc.Backup(ctx, req)
		if err != nil {
			return nil, b.api.failJob(err)
		}
		p.SetStep("done")
		out := map[string]any{"FileName": res.Name, "BackupID": res.Manifest.BackupID}
		if res.Store != nil {
			out["StoreName"] = res.Store.Name
			out["StoreURL"] = res.Store.URL
			out["LSN"] = res.Store.LSN
			out["StoreSize"] = res.Store.Size
			out["StoreSHA256"] = res.Store.SHA256
			out["StoreSynced"] = res.Store.Synced
		}
		return out, nil
	})
}

// postRestore restores a configuration backup from UserFilesDir, with or
// without a store backup, as a job; DryRun only reports what would change.
func (b *backupRoutes) postRestore(w http.ResponseWriter, r *http.Request, _ *caller) error {
	a := b.api
	body, err := a.readObject(w, r)
	if err != nil {
		return err
	}
	name, req, err := parseRestore(body)
	if err != nil {
		return err
	}
	if req.ConfigBackup, err = a.userFile(name); err != nil {
		return err
	}
	return b.startJob(w, "restore", func(ctx context.Context, p *job.Progress) (map[string]any, error) {
		req := req
		req.Progress = progressTo(p)
		res, err := b.svc.Restore(ctx, req)
		if err != nil {
			return nil, b.api.failJob(err)
		}
		p.SetStep("done")
		return restoreResult(res), nil
	})
}

// restoreResult is the Result of a restore job: what changed (or would).
func restoreResult(res *backup.Result) map[string]any {
	out := map[string]any{
		"Applied":             res.Applied,
		"DryRun":              !res.Applied,
		"BackupID":            res.ConfigManifest.BackupID,
		"ServerName":          res.ConfigManifest.ServerName,
		"Created":             res.ConfigManifest.Created,
		"IncludeServerConfig": res.Plan.IncludeServerConfig,
		"Changes":             res.Plan.Changes,
		"Store":               res.Plan.Store,
		"Certificates":        res.Plan.Certificates,
		"FlaggedMessages":     res.FlaggedMessages,
	}
	if len(res.Plan.Kept) > 0 {
		out["Kept"] = res.Plan.Kept
	}
	if len(res.EndpointsNotStarted) > 0 {
		out["EndpointsNotStarted"] = res.EndpointsNotStarted
	}
	if len(res.Plan.Notes) > 0 {
		out["Notes"] = res.Plan.Notes
	}
	return out
}

// postExport is Amlen's configuration export: a configuration-only backup
// under the given FileName in UserFilesDir. The backup is written into a
// hidden directory beside the user files and linked to FileName without
// replacing anything.
func (b *backupRoutes) postExport(w http.ResponseWriter, r *http.Request, _ *caller) error {
	a := b.api
	body, err := a.readObject(w, r)
	if err != nil {
		return err
	}
	f, err := parseFields(body, map[string]fieldKind{"Password": stringField, "FileName": stringField})
	if err != nil {
		return err
	}
	name := f.str["FileName"]
	if name == "" {
		return apiError(CodeRequired, "FileName")
	}
	if err := checkFileName(name); err != nil {
		return err
	}
	if err := checkBackupPassword("Password", f.str["Password"]); err != nil {
		return err
	}
	if err := os.MkdirAll(a.opts.UserFilesDir, 0o700); err != nil {
		return fmt.Errorf("create user files directory: %w", err)
	}
	final := filepath.Join(a.opts.UserFilesDir, name)
	if _, err := os.Lstat(final); err == nil {
		return apiError(CodeNameTaken, name)
	}
	tmp, err := os.MkdirTemp(a.opts.UserFilesDir, exportTempPrefix)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer os.RemoveAll(tmp)
	res, err := b.svc.Backup(r.Context(), backup.BackupRequest{Password: f.str["Password"], Dir: tmp, Time: a.opts.Now()})
	if err != nil {
		return backupError(err)
	}
	if err := os.Link(res.Path, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return apiError(CodeNameTaken, name)
		}
		return fmt.Errorf("export: %w", err)
	}
	if err := syncDir(a.opts.UserFilesDir); err != nil {
		return err
	}
	a.log.Info("configuration exported", "name", name)
	writeJSON(w, http.StatusOK, map[string]any{"Version": "v1", "Code": CodeOK,
		"Message": apiError(CodeOK).Error(), "FileName": name, "BackupID": res.Manifest.BackupID})
	return nil
}

// postImport is Amlen's configuration import. The file is read and
// authenticated whole. ApplyConfig false (the default) previews: the
// reply holds the configuration the file would import, nothing changes.
// ApplyConfig true replaces the messaging configuration by the file's and
// keeps this server's server configuration (as a restore without
// IncludeServerConfig does) but leaves the store alone. DisableObjects
// disables every imported Endpoint (and, in the preview, HA).
func (b *backupRoutes) postImport(w http.ResponseWriter, r *http.Request, _ *caller) error {
	a := b.api
	body, err := a.readObject(w, r)
	if err != nil {
		return err
	}
	f, err := parseFields(body, map[string]fieldKind{
		"FileName": stringField, "Password": stringField, "DisableObjects": boolField, "ApplyConfig": boolField,
	})
	if err != nil {
		return err
	}
	if f.str["FileName"] == "" {
		return apiError(CodeRequired, "FileName")
	}
	if f.str["Password"] == "" {
		return apiError(CodeRequired, "Password")
	}
	file, err := a.openUserFile(f.str["FileName"])
	if err != nil {
		return err
	}
	cb, err := backup.ReadConfigBackup(file, f.str["Password"])
	file.Close()
	if err != nil {
		return backupError(err)
	}
	disable := f.boolean["DisableObjects"]
	if !f.boolean["ApplyConfig"] {
		doc := cb.Config.Clone()
		if disable {
			disableImported(doc)
			doc.HighAvailability.EnableHA = false
		}
		out := map[string]any{}
		for _, t := range config.Types() {
			v, err := renderType(doc, t)
			if err != nil {
				return err
			}
			out[t.Name] = v
		}
		writeJSON(w, http.StatusOK, map[string]any{"Version": "v1", "Code": CodeOK,
			"Message": "Preview: nothing was changed.", "BackupID": cb.Manifest.BackupID, "Configuration": out})
		return nil
	}
	c, release, err := a.acquire()
	if err != nil {
		return err
	}
	defer release()
	if c.Config.Frozen() { // before certificate files are written; Replace checks again
		return fromValidation(config.ErrFrozen)
	}
	plan, err := b.importPlan(c.Config, cb)
	if err != nil {
		return backupError(err)
	}
	// The store stays: a queue the import removes must be empty, as for
	// DELETE without DiscardMessages, or its messages would be stranded
	// (and come back with a later queue of that name).
	for _, q := range plan.Changes["Queue"].Removed {
		n, err := a.opts.Service.QueueMessages(c, q)
		if err != nil {
			return err
		}
		if n > 0 {
			return apiError(CodeQueueNotEmpty, strconv.Quote(q), n)
		}
	}
	if disable {
		disableImported(plan.Config)
	}
	undo, err := writeImportedCertificates(c.Config.CertificateDir(), plan, cb)
	if err != nil {
		return err
	}
	if err := c.Config.Replace(plan.Config); err != nil {
		undo()
		return fromValidation(err)
	}
	a.log.Warn("configuration imported", "name", f.str["FileName"], "backupID", cb.Manifest.BackupID, "disableObjects", disable)
	writeJSON(w, http.StatusOK, map[string]any{"Version": "v1", "Code": CodeOK,
		"Message": apiError(CodeOK).Error(), "BackupID": cb.Manifest.BackupID, "Changes": plan.Changes})
	return nil
}

// importPlan plans an import as a restore without server configuration.
func (b *backupRoutes) importPlan(m *config.Manager, cb *backup.ConfigBackup) (*backup.Plan, error) {
	ents, err := os.ReadDir(m.CertificateDir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("import: %w", err)
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	return backup.PlanRestore(backup.PlanInput{
		Current: m.Current(), CurrentCertificates: names,
		Backup: cb.Config, BackupCertificates: cb.CertificateNames(),
		ServerCertificates: []string{SelfSignedCert, SelfSignedKey},
	})
}

// disableImported disables every Endpoint of doc.
func disableImported(doc *config.Config) {
	for _, ep := range doc.Endpoints {
		ep.Enabled = false
	}
}

// writeImportedCertificates writes the certificate files the plan takes
// from the backup into certDir, each atomically; undo puts back what was
// there before (for a configuration that then fails to validate).
func writeImportedCertificates(certDir string, plan *backup.Plan, cb *backup.ConfigBackup) (undo func(), err error) {
	data := map[string]backup.Certificate{}
	for _, c := range cb.Certificates {
		data[c.Name] = c
	}
	type previous struct {
		name string
		old  []byte
		mode fs.FileMode
		had  bool
	}
	var done []previous
	undo = func() {
		for _, p := range done {
			if p.had {
				writeFileAtomic(certDir, p.name, bytes.NewReader(p.old), p.mode)
			} else {
				os.Remove(filepath.Join(certDir, p.name))
			}
		}
	}
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, err
	}
	for _, cf := range plan.Certificates {
		c, ok := data[cf.Name]
		if cf.From != backup.FromBackup || !ok {
			continue
		}
		prev := previous{name: cf.Name}
		if st, err := os.Stat(filepath.Join(certDir, cf.Name)); err == nil {
			if prev.old, err = os.ReadFile(filepath.Join(certDir, cf.Name)); err != nil {
				undo()
				return nil, err
			}
			prev.had, prev.mode = true, st.Mode().Perm()
		}
		if err := writeFileAtomic(certDir, cf.Name, bytes.NewReader(c.Data), c.Mode); err != nil {
			undo()
			return nil, fmt.Errorf("import certificate %s: %w", cf.Name, err)
		}
		done = append(done, prev)
	}
	return undo, nil
}

// detail is err's text for the message of the code its sentinel maps
// to, which already says what the sentinel says: the text without the
// first sentinel's own words, so that they are not said twice; context
// and specifics stay.
func detail(err error, sentinels ...error) string {
	msg := err.Error()
	for _, s := range sentinels {
		before, after, ok := strings.Cut(msg, s.Error())
		if !ok {
			continue
		}
		before = strings.TrimSuffix(before, ": ")
		after = strings.TrimPrefix(after, ": ")
		switch {
		case before == "":
			return after
		case after == "":
			return before
		}
		return before + ": " + after
	}
	return msg
}

// backupError maps an error of internal/backup, internal/archive or a
// destination to its row of the error table. Errors already *Error pass
// through; anything unknown stays as it is (rendered CodeInternal), except
// ErrNotRunning, which API.route renders from the server's status
// (unavailable).
func backupError(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var missing *destination.MissingError
	switch {
	case errors.Is(err, archive.ErrWrongPassword):
		return apiError(CodeBackupPassword)
	case errors.Is(err, archive.ErrTruncated):
		return apiError(CodeBackupTruncated, detail(err, archive.ErrTruncated))
	case errors.Is(err, archive.ErrTampered):
		return apiError(CodeBackupTampered, detail(err, archive.ErrTampered))
	case errors.Is(err, archive.ErrNewerFormat), errors.Is(err, config.ErrNewerFormat):
		return apiError(CodeBackupNewer, detail(err, archive.ErrNewerFormat, config.ErrNewerFormat))
	case errors.Is(err, archive.ErrNotBackup):
		return apiError(CodeNotBackup, detail(err, archive.ErrNotBackup))
	case errors.Is(err, backup.ErrWrongKind):
		return apiError(CodeBackupKind, detail(err, backup.ErrWrongKind))
	case errors.Is(err, archive.ErrCorrupt), errors.Is(err, config.ErrCorrupt):
		return apiError(CodeBackupCorrupt, detail(err, archive.ErrCorrupt, config.ErrCorrupt))
	case errors.Is(err, backup.ErrStoreMismatch):
		return apiError(CodeStoreMismatch, detail(err, backup.ErrStoreMismatch))
	case errors.Is(err, backup.ErrStoreMissing):
		return apiError(CodeStoreMissing, detail(err, backup.ErrStoreMissing))
	case errors.Is(err, backup.ErrDestinationMissing):
		return apiError(CodeDestMissing, detail(err, backup.ErrDestinationMissing))
	case errors.Is(err, backup.ErrNameTaken), errors.Is(err, destination.ErrExists):
		return apiError(CodeNameTaken, detail(err, backup.ErrNameTaken, destination.ErrExists))
	case errors.Is(err, backup.ErrSameName):
		return apiError(CodeBadValue, detail(err, backup.ErrSameName))
	case errors.Is(err, backup.ErrBusy), errors.Is(err, job.ErrBusy):
		return apiError(CodeBusy, detail(err, backup.ErrBusy, job.ErrBusy))
	case errors.Is(err, backup.ErrInvalidRestore):
		return apiError(CodeInvalidRestore, detail(err, backup.ErrInvalidRestore))
	case errors.Is(err, backup.ErrNoSpace):
		return apiError(CodeNoSpace, detail(err, backup.ErrNoSpace))
	case errors.As(err, &missing):
		return apiError(CodeStoreParams, strings.Join(missing.Missing, ", "))
	case errors.Is(err, destination.ErrCredentials):
		return apiError(CodeStoreParams, detail(err, destination.ErrCredentials))
	case errors.Is(err, destination.ErrBadURL):
		return apiError(CodeBadDestination, detail(err, destination.ErrBadURL))
	case errors.Is(err, destination.ErrHostKey):
		return apiError(CodeHostKey, detail(err, destination.ErrHostKey))
	case errors.Is(err, destination.ErrAuth):
		return apiError(CodeDestinationAuth, detail(err, destination.ErrAuth))
	case errors.Is(err, destination.ErrUnreachable):
		return apiError(CodeUnreachable, detail(err, destination.ErrUnreachable))
	case errors.Is(err, destination.ErrNotFound):
		return apiError(CodeStoreMissing, detail(err, destination.ErrNotFound))
	}
	return err
}
