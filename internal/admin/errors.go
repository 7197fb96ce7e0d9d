package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/mqsight/mqsight/internal/config"
)

// Code is a reply code of the admin API: "CWLNA" and four digits, as
// MessageSight writes them. Every code the API returns is a row of
// codeTable.
type Code string

// The reply codes. MessageSight's own codes are reused for the cases
// MessageSight has one, so that operators' scripts keep working; codes in
// the CWLNA9xxx range are mqsight's.
const (
	CodeOK              Code = "CWLNA6011"
	CodeBadValue        Code = "CWLNA0112"
	CodeUnknownProperty Code = "CWLNA0111"
	CodeRequired        Code = "CWLNA0134"
	CodeBadRequest      Code = "CWLNA0137"
	CodeBadArgument     Code = "CWLNA0115"
	CodeNotFound        Code = "CWLNA0136"
	CodeDeleteNotFound  Code = "CWLNA0113"
	CodeSingletonDelete Code = "CWLNA0337"
	CodeJobNotFound     Code = "CWLNA6178"
	CodeInUse           Code = "CWLNA9101"
	CodeQueueNotEmpty   Code = "CWLNA9102"
	CodeLastAdmin       Code = "CWLNA9103"
	CodeFileName        Code = "CWLNA9104"
	CodeFileMissing     Code = "CWLNA9105"
	CodeNotJSONObject   Code = "CWLNA9106"
	CodeFileExists      Code = "CWLNA9107"
	CodeUnauthenticated Code = "CWLNA9201"
	CodeForbidden       Code = "CWLNA9202"
	CodeTooManyAttempts Code = "CWLNA9203"
	CodeTooLarge        Code = "CWLNA9204"
	CodeUnavailable     Code = "CWLNA9205"
	CodeBusy            Code = "CWLNA9206"
	CodeAuthBusy        Code = "CWLNA9207"
	CodeInternal        Code = "CWLNA9500"

	// Backup and restore (backup.go).
	CodeBackupPassword  Code = "CWLNA9301"
	CodeBackupTruncated Code = "CWLNA9302"
	CodeBackupTampered  Code = "CWLNA9303"
	CodeNotBackup       Code = "CWLNA9304"
	CodeBackupNewer     Code = "CWLNA9305"
	CodeStoreMismatch   Code = "CWLNA9306"
	CodeStoreMissing    Code = "CWLNA9307"
	CodeUnreachable     Code = "CWLNA9308"
	CodeHostKey         Code = "CWLNA9309"
	CodeDestinationAuth Code = "CWLNA9310"
	CodeBadDestination  Code = "CWLNA9311"
	CodeStoreParams     Code = "CWLNA9312"
	CodeNameTaken       Code = "CWLNA9313"
	CodeBackupKind      Code = "CWLNA9314"
	CodeBackupCorrupt   Code = "CWLNA9315"
	CodeInvalidRestore  Code = "CWLNA9316"
	CodeNoSpace         Code = "CWLNA9317"
	CodeDestMissing     Code = "CWLNA9318"
)

// codeInfo is one row of the error table: the HTTP status sent with the
// code, the message template (fmt verbs filled by the handler's
// arguments), where the code comes from and what it means. The table is
// the documentation source: a test checks that docs/admin-api.md lists
// every row.
type codeInfo struct {
	Status   int
	Template string
	Origin   string // "MessageSight" or "mqsight"
	Meaning  string
}

// codeTable returns the error table. It is a function, not a package
// variable, so that no code can change it.
func codeTable() map[Code]codeInfo {
	return map[Code]codeInfo{
		CodeOK:              {http.StatusOK, "The requested configuration change has completed successfully.", "MessageSight", "Success of a POST, PUT or DELETE."},
		CodeBadValue:        {http.StatusBadRequest, "The property value is not valid: %s.", "MessageSight", "A property has a wrong JSON type, is out of range, malformed, or names an object that does not exist; a monitoring query value that is not allowed or cannot be honoured."},
		CodeUnknownProperty: {http.StatusBadRequest, "The property name is not valid: %s.", "MessageSight", "Unknown object type or property, or a read-only property (ServerUID)."},
		CodeRequired:        {http.StatusBadRequest, "A required property is missing or empty: %s.", "MessageSight", "A required property is absent or empty."},
		CodeBadRequest:      {http.StatusBadRequest, "The REST API call is not valid: %s.", "MessageSight", "Malformed request: unknown path or method, an unknown, repeated or malformed monitoring query parameter, invalid combination of restart options or no Service, a configuration POST naming no object."},
		CodeBadArgument:     {http.StatusBadRequest, "An argument is not valid: Name: %s.", "MessageSight", "An unknown field in a service request (restart)."},
		CodeNotFound:        {http.StatusNotFound, "The item or object cannot be found. Type: %s Name: %s", "MessageSight", "GET of an object, file or path that does not exist."},
		CodeDeleteNotFound:  {http.StatusNotFound, "The requested item is not found: %s.", "MessageSight", "DELETE of an object or file that does not exist."},
		CodeSingletonDelete: {http.StatusForbidden, "Delete is not allowed for a singleton object: %s", "MessageSight", "DELETE of a singleton (ServerName, AdminEndpoint, ...)."},
		CodeJobNotFound:     {http.StatusNotFound, "The %s request with request ID %s was not found.", "MessageSight", "Status of an unknown or forgotten long-running request."},
		CodeInUse:           {http.StatusConflict, "The object cannot be deleted: %s.", "mqsight", "DELETE of an object another object refers to; the message names every referrer."},
		CodeQueueNotEmpty:   {http.StatusConflict, "Queue %s holds %d messages; delete it with DiscardMessages=true to discard them.", "mqsight", "DELETE of a Queue that holds messages without ?DiscardMessages=true."},
		CodeLastAdmin:       {http.StatusForbidden, "The change would leave no AdminUser with role SystemAdministrator.", "mqsight", "Deleting or demoting the last SystemAdministrator."},
		CodeFileName:        {http.StatusBadRequest, "The file name is not valid: %s.", "mqsight", "A file name with '/', '..', control characters, or over 255 bytes; or with Unicode format characters, a look-alike of '/' or '\\', or white space at either end."},
		CodeFileMissing:     {http.StatusBadRequest, "The file %s named by %s is neither an uploaded file nor in the certificate store.", "mqsight", "A CertificateProfile or TrustedCertificate names a file that was not uploaded."},
		CodeNotJSONObject:   {http.StatusBadRequest, "The request body must be one JSON object: %s.", "mqsight", "The body is empty, not JSON, not an object, has trailing data, or has a name twice in one object."},
		CodeFileExists:      {http.StatusPreconditionFailed, "The user file %s already exists and is not replaced.", "mqsight", "PUT /ima/v1/file/{name} with If-None-Match: * of a name that is taken."},
		CodeUnauthenticated: {http.StatusUnauthorized, "Authentication is required.", "mqsight", "No or wrong credentials (HTTP basic authentication)."},
		CodeForbidden:       {http.StatusForbidden, "The user %s with role %s is not authorized for this request.", "mqsight", "The caller's role may not make this request."},
		CodeTooManyAttempts: {http.StatusTooManyRequests, "Too many failed authentication attempts from this address; retry in %d seconds.", "mqsight", "Failed logins from one address are rate limited."},
		CodeTooLarge:        {http.StatusRequestEntityTooLarge, "The request body is larger than %d bytes.", "mqsight", "Body over the size limit (1 MiB for JSON, the file limit for uploads)."},
		CodeUnavailable:     {http.StatusServiceUnavailable, "The server is %s.", "mqsight", "The request needs components that are being restarted (Retry-After), or that a failed restart left missing."},
		CodeBusy:            {http.StatusConflict, "Another operation is in progress: %s.", "mqsight", "A long-running operation of the same kind is already running."},
		CodeAuthBusy:        {http.StatusServiceUnavailable, "Too many password checks are in progress; retry shortly.", "mqsight", "Every password-check slot stayed busy for 5 s; the request was not authenticated and counts as no failed attempt (Retry-After: 1)."},
		CodeInternal:        {http.StatusInternalServerError, "The request failed: %s.", "mqsight", "An unexpected server-side failure (disk, store)."},
		CodeBackupPassword:  {http.StatusBadRequest, "The backup password is wrong: the backup cannot be decrypted with it.", "mqsight", "Restore, verify or import with a password that does not decrypt the backup."},
		CodeBackupTruncated: {http.StatusBadRequest, "The backup file is truncated: %s.", "mqsight", "The backup file (or store backup) ends before its authenticated end; nothing of it was used."},
		CodeBackupTampered:  {http.StatusBadRequest, "The backup file was modified or damaged: %s.", "mqsight", "Authentication of the backup failed (a changed byte); nothing of it was used."},
		CodeNotBackup:       {http.StatusBadRequest, "The file is not an mqsight backup: %s.", "mqsight", "The named file is not a backup archive at all."},
		CodeBackupNewer:     {http.StatusBadRequest, "The backup was written by a newer format: %s.", "mqsight", "The backup's format version is newer than this server reads; the message names both versions."},
		CodeStoreMismatch:   {http.StatusBadRequest, "The store backup does not belong to this configuration backup: %s.", "mqsight", "BackupID, size, SHA-256, LSN or store UID of the store backup differ from the configuration backup's record; nothing changed."},
		CodeStoreMissing:    {http.StatusNotFound, "The store backup was not found: %s.", "mqsight", "The store source names no existing object."},
		CodeUnreachable:     {http.StatusBadGateway, "The store destination cannot be reached: %s.", "mqsight", "Connection refused, timed out or lost to the sftp, scp or s3 server."},
		CodeHostKey:         {http.StatusBadGateway, "The SSH host key of the store destination was not verified: %s.", "mqsight", "The host key matches neither the given StoreDestinationHostKey / StoreSourceHostKey nor known_hosts."},
		CodeDestinationAuth: {http.StatusBadGateway, "The store destination refused the credentials: %s.", "mqsight", "Wrong user ID or password (or S3 access and secret key) for the store destination."},
		CodeDestMissing:     {http.StatusNotFound, "The store destination's directory or bucket does not exist: %s.", "mqsight", "A store backup names a directory or bucket that does not exist (the server creates neither)."},
		CodeBadDestination:  {http.StatusBadRequest, "The store URL is not valid: %s.", "mqsight", "Malformed store URL or unsupported scheme; ftp:// is refused because it sends credentials in clear text."},
		CodeStoreParams:     {http.StatusBadRequest, "Store parameters must be given all together; missing: %s.", "mqsight", "For sftp, scp and s3 the URL, user ID and password go together; the message names the missing ones."},
		CodeNameTaken:       {http.StatusConflict, "The backup file already exists and is not overwritten: %s.", "mqsight", "Two backups in the same second, an export FileName or a store backup name that exists."},
		CodeBackupKind:      {http.StatusBadRequest, "The file is the wrong kind of backup: %s.", "mqsight", "A store backup given as configuration backup, or the other way round."},
		CodeBackupCorrupt:   {http.StatusBadRequest, "The backup is authentic but its content is not valid: %s.", "mqsight", "An authenticated backup whose content breaks the format rules."},
		CodeInvalidRestore:  {http.StatusBadRequest, "The restored configuration would not be valid on this server: %s.", "mqsight", "The configuration a restore or import would produce fails validation here; nothing changed."},
		CodeNoSpace:         {http.StatusInsufficientStorage, "There is not enough free space to restore: %s.", "mqsight", "The data directory's filesystem cannot hold the staged store backup and a reserve for the live store; nothing changed."},
	}
}

// Error is an error a handler returns: a code and the arguments of its
// message template. Arguments must never hold a secret.
type Error struct {
	Code Code
	Args []any
	// Header holds extra reply headers (WWW-Authenticate, Retry-After).
	Header http.Header
}

// apiError builds an *Error.
func apiError(code Code, args ...any) *Error { return &Error{Code: code, Args: args} }

// Status returns the HTTP status of the error's code.
func (e *Error) Status() int { return codeTable()[e.Code].Status }

// Error returns the reply message.
func (e *Error) Error() string {
	info, ok := codeTable()[e.Code]
	if !ok {
		return string(e.Code)
	}
	if len(e.Args) == 0 {
		return info.Template
	}
	return fmt.Sprintf(info.Template, e.Args...)
}

// Reply is the body of every non-GET reply and of every error.
type Reply struct {
	Version   string
	Code      Code
	Message   string
	RequestID string `json:",omitempty"` // long-running requests only
}

// writeJSON sends v as the reply body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// renderError is the one function that turns a handler's error into a
// reply. An error that is not an *Error becomes CodeInternal.
func renderError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = apiError(CodeInternal, err.Error())
	}
	for k, vs := range e.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	writeJSON(w, e.Status(), Reply{Version: "v1", Code: e.Code, Message: e.Error()})
}

// renderOK sends the success reply.
func renderOK(w http.ResponseWriter, requestID string) {
	writeJSON(w, http.StatusOK, Reply{Version: "v1", Code: CodeOK, Message: apiError(CodeOK).Error(), RequestID: requestID})
}

// fromValidation maps a configuration error (one *config.ValidationError
// or several joined) to an API error. The code is the first error's; the
// message lists every error's text, which never holds a secret.
func fromValidation(err error) error {
	if errors.Is(err, config.ErrFrozen) {
		return apiError(CodeBusy, err.Error())
	}
	var all []*config.ValidationError
	collectValidation(err, &all)
	if len(all) == 0 {
		return err
	}
	texts := make([]string, len(all))
	for i, v := range all {
		texts[i] = v.Error()
	}
	msg := strings.Join(texts, "; ")
	switch all[0].Kind {
	case config.Unknown, config.ReadOnly:
		return apiError(CodeUnknownProperty, msg)
	case config.Missing:
		return apiError(CodeRequired, msg)
	case config.NotFound:
		return apiError(CodeNotFound, all[0].Type, all[0].Name)
	case config.InUse:
		return apiError(CodeInUse, msg)
	default: // Invalid, Reference
		return apiError(CodeBadValue, msg)
	}
}

// collectValidation flattens joined errors into their ValidationErrors.
func collectValidation(err error, out *[]*config.ValidationError) {
	if err == nil {
		return
	}
	if v, ok := err.(*config.ValidationError); ok {
		*out = append(*out, v)
		return
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			collectValidation(e, out)
		}
	case interface{ Unwrap() error }:
		collectValidation(u.Unwrap(), out)
	}
}
