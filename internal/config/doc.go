// Package config is mqsight's configuration object model: the MessageSight
// object types (MessageHub, Endpoint, the four policy types, Queue, User,
// Group, AdminUser, SecurityProfile, CertificateProfile, TrustedCertificate,
// QueueManagerConnection, DestinationMappingRule and the server singletons),
// their defaults and limits, whole-document validation, the canonical JSON
// document and the Manager that keeps it on disk. It imports nothing of
// mqsight's.
//
// # Object model
//
// A Config is one whole document. Property names are MessageSight's, exactly
// as written, and are both the Go field names and the JSON names. A table of
// object types (Types, LookupType) describes every property: kind, default,
// limits, whether it is required and whether it is server configuration.
// The REST admin API works through that table: SetProperties (create or
// update, null back to default, lists as "A,B" or arrays, plaintext
// passwords hashed), ObjectProperties (render without secrets), ObjectNames
// and Delete (refused while referenced).
//
// Defaults are materialized: every object in a document holds every
// property's effective value, so a plain bool expresses an explicit false
// ("Enabled": false) and a missing property is filled with its default when a
// document is read.
//
// # Validation
//
// Each object validates itself (its Validate method); Config.Validate checks
// the whole document: values, names, references between objects (Endpoint →
// MessageHub and policies, Endpoint/AdminEndpoint → SecurityProfile →
// CertificateProfile, TrustedCertificate → SecurityProfile,
// DestinationMappingRule → QueueManagerConnection, User/Group → Group),
// group nesting cycles and listener port clashes. Every error is a
// *ValidationError whose Kind the admin API maps to a MessageSight code, and
// whose text reads
//
//	Endpoint "E1": Port 70000 is out of range 1-65535
//
// # The document on disk
//
// <datadir>/config/server.json is UTF-8 JSON written by Marshal (canonical:
// equal documents are identical bytes) and replaced atomically by the Manager
// (temporary file, fsync, rename, fsync of the directory):
//
//	{                                   one JSON object, two-space indented
//	  "FormatVersion": 1,               first; a newer version is refused (ErrNewerFormat)
//	  "Generation": 7,                  +1 on every change written by the Manager
//	  "ServerName": "mqsight",          server singletons ...
//	  "ServerUID": "3f9c0a...",
//	  "LogLevel": "NORMAL",
//	  "TraceLevel": "5",
//	  "AdminEndpoint": {...},
//	  "HighAvailability": {...},
//	  "AdminUser": {"admin": {...}},    named types: object type name →
//	  "MessageHub": {"DemoHub": {...}},   { object name (sorted) → properties }
//	  ...
//	  "TrustedCertificate": [ {...} ],  sorted by (SecurityProfileName, TrustedCertificate)
//	  ...
//	}⏎                                  final newline: marks a complete file
//
// Field order is the order of Config's fields and of each object type's
// struct fields. Unknown fields, wrong JSON types, a missing final newline
// or any truncation are reported as ErrCorrupt; the file is never silently
// replaced. Passwords are stored only as argon2id PHC strings
// ($argon2id$v=19$m=19456,t=2,p=1$salt$key); ChannelUserPassword, which must
// be sent to a queue manager, is stored as given, so server.json is written
// with mode 0600.
//
// # Server and messaging configuration
//
// Split divides a document into server configuration (ServerName,
// ServerUID, LogLevel, TraceLevel, AdminEndpoint, AdminUsers,
// HighAvailability and each Endpoint's Interface) and messaging
// configuration (everything else); Join puts them back together. Backup's
// two restore modes are built on them.
package config
