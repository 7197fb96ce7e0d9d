// Package admin is mqsight's REST administration API, compatible with
// MessageSight / Eclipse Amlen (/ima/v1/...), on net/http with the
// standard library's routing.
//
// # Shape
//
// API is an http.Handler. Each family of routes registers itself from its
// own file through API.route: configuration.go (/ima/v1/configuration),
// files.go (uploads and /ima/v1/service/file), service.go (status,
// restart, the status of long-running requests), monitor.go
// (/ima/v1/monitor and /metrics). Backup and restore add their own file
// the same way and run as jobs of the job.Registry given in Options; every
// job is reported at /ima/v1/service/status/{op}/{RequestID}.
//
// The API works on the server through the Service interface (declared
// here, implemented by internal/server): the configuration manager,
// components acquired for the length of a request (a restart waits for
// them), status, restart, and the queue hooks.
//
// # Errors
//
// Handlers return errors; renderError alone writes them, as
//
//	{"Version":"v1","Code":"CWLNAnnnn","Message":"..."}
//
// with the HTTP status of the code's row in the one error table
// (codeTable). The table reuses MessageSight's codes where MessageSight
// has one; docs/admin-api.md lists every row, and a test keeps them in
// step. Configuration errors map from config.ValidationError's Kind.
// No message ever holds a password, a key or a request body.
//
// # Security
//
// Every route needs HTTP basic authentication against the configuration's
// AdminUsers (argon2id, constant-time comparison; verified credentials are
// cached for a minute under an HMAC key, never in plain). Failed attempts
// are rate limited per source address with a token bucket (429 and
// Retry-After). Roles: SystemAdministrator may do everything;
// MessagingAdministrator may change messaging configuration (not the
// properties the configuration registry marks as server configuration),
// upload files and read everything, but not restart; User may only read.
// JSON bodies are limited to Options.MaxBodyBytes and must be exactly one
// JSON object; unknown properties are refused by name.
//
// The HTTPS side is TLSConfig: the AdminEndpoint SecurityProfile's
// certificate, or a self-signed ECDSA P-256 certificate generated at first
// start in the certificate store (EnsureSelfSigned).
package admin
