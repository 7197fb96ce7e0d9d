package backup

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mqsight/mqsight/internal/config"
)

// PlanInput is everything PlanRestore decides from. It is plain data; no
// field is modified.
type PlanInput struct {
	// Current is the configuration of the server being restored.
	Current *config.Config
	// CurrentCertificates names the files in its certificates directory.
	CurrentCertificates []string
	// Backup is the configuration document of the backup.
	Backup *config.Config
	// BackupCertificates names the certificate files in the backup.
	BackupCertificates []string
	// IncludeServerConfig selects the restore mode (see Plan).
	IncludeServerConfig bool
	// ServerCertificates name certificate files that belong to this
	// server's own identity without being named by its configuration (the
	// admin endpoint's self-signed certificate and key). A restore without
	// server configuration keeps this server's copies and never takes the
	// backup's.
	ServerCertificates []string
	// Store describes the store backup being restored; nil: the store is
	// cleaned.
	Store *StoreInfo
}

// StoreInfo describes a store backup to restore.
type StoreInfo struct {
	Name     string
	LSN      uint64
	StoreUID string
	Size     int64
}

// StoreAction is what a restore does to the store.
type StoreAction struct {
	// Clean: the restored server starts with an empty store (all messages,
	// subscriptions, client states and retained messages gone).
	Clean bool `json:"Clean"`
	// Otherwise the store is replaced by the store backup Name, the state
	// of store StoreUID at LSN.
	Name     string `json:"Name,omitempty"`
	LSN      uint64 `json:"LSN,omitempty"`
	StoreUID string `json:"StoreUID,omitempty"`
}

// CertificateSource says where a restored certificate file comes from.
type CertificateSource string

// Certificate sources.
const (
	FromBackup  CertificateSource = "backup"
	FromCurrent CertificateSource = "current"
)

// CertificateFile is one file of the restored certificates directory.
type CertificateFile struct {
	Name string            `json:"Name"`
	From CertificateSource `json:"From"`
}

// Plan is what a restore will do, decided without I/O.
//
// Mode IncludeServerConfig=true ("same environment"): the backup's whole
// document becomes the configuration, server configuration included
// (ServerName, ServerUID, AdminEndpoint, AdminUsers, HighAvailability, log
// levels, every Endpoint.Interface); the certificates directory becomes the
// backup's.
//
// Mode IncludeServerConfig=false ("copy to another server"): the
// messaging configuration comes from the backup, the server configuration
// is kept from the current document (config.Split/Join). Consequently:
//   - an endpoint present on both keeps the current Interface;
//   - an endpoint new to this server gets Interface "All" (its default:
//     the backup's Interface was an address of the other machine);
//   - an endpoint absent from the backup is removed, its Interface with it;
//   - if the kept AdminEndpoint names a SecurityProfile the backup lacks,
//     that profile is carried over from the current document, with its
//     CertificateProfile when the backup lacks that too, and the profile's
//     TrustedCertificate entries; their certificate files are carried over
//     unless the backup has a file of the same name (the backup's wins).
//     Carried objects are listed in Kept.
//
// In both modes the result gets Generation max(current, backup)+1, so the
// generation never goes backwards on this server, and must validate as a
// whole; otherwise PlanRestore fails with ErrInvalidRestore.
type Plan struct {
	IncludeServerConfig bool `json:"IncludeServerConfig"`
	// Config is the resulting document.
	Config *config.Config `json:"-"`
	// Changes lists objects added, changed and removed, per type, relative
	// to the current document (types without change are absent).
	Changes map[string]ObjectChanges `json:"Changes"`
	Store   StoreAction              `json:"Store"`
	// Certificates is the restored certificates directory, sorted by name.
	Certificates []CertificateFile `json:"Certificates"`
	// Kept lists objects carried over from the current document
	// ("SecurityProfile/<name>", ...).
	Kept []string `json:"Kept,omitempty"`
	// Notes are plain-language remarks for the operator (new endpoints'
	// Interface, missing certificate files).
	Notes []string `json:"Notes,omitempty"`
}

// PlanRestore decides a restore. It is pure: no I/O, inputs untouched.
func PlanRestore(in PlanInput) (*Plan, error) {
	if in.Current == nil || in.Backup == nil {
		return nil, fmt.Errorf("plan restore: %w: missing configuration", ErrInvalidRestore)
	}
	p := &Plan{IncludeServerConfig: in.IncludeServerConfig}
	certFrom := map[string]CertificateSource{}
	for _, n := range in.BackupCertificates {
		certFrom[n] = FromBackup
	}
	var result *config.Config
	if in.IncludeServerConfig {
		result = in.Backup.Clone()
	} else {
		srv, _ := config.Split(in.Current)
		_, msg := config.Split(in.Backup)
		carried := carryAdminProfile(in.Current, msg, srv.AdminEndpoint.SecurityProfile)
		p.Kept = carried.kept
		for _, f := range in.ServerCertificates {
			delete(certFrom, f)
			if slices.Contains(in.CurrentCertificates, f) {
				certFrom[f] = FromCurrent
			}
		}
		for _, f := range carried.files {
			if _, ok := certFrom[f]; !ok && slices.Contains(in.CurrentCertificates, f) {
				certFrom[f] = FromCurrent
			}
		}
		result = config.Join(srv, msg)
		for _, name := range sortedKeys(result.Endpoints) {
			if _, ok := in.Current.Endpoints[name]; !ok {
				p.Notes = append(p.Notes, fmt.Sprintf("Endpoint %s is new on this server: its Interface is set to All", name))
			}
		}
	}
	result.Generation = max(in.Current.Generation, in.Backup.Generation) + 1
	if err := result.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRestore, err)
	}
	for _, f := range referencedFiles(result) {
		if _, ok := certFrom[f]; !ok {
			p.Notes = append(p.Notes, fmt.Sprintf("certificate file %s is referenced but neither the backup nor this server has it", f))
		}
	}
	p.Config = result
	p.Changes = diffObjects(in.Current, result)
	for _, n := range sortedKeys(certFrom) {
		p.Certificates = append(p.Certificates, CertificateFile{Name: n, From: certFrom[n]})
	}
	if in.Store == nil {
		p.Store = StoreAction{Clean: true}
	} else {
		p.Store = StoreAction{Name: in.Store.Name, LSN: in.Store.LSN, StoreUID: in.Store.StoreUID}
	}
	return p, nil
}

type carriedObjects struct {
	kept  []string // "Type/Name"
	files []string // certificate files they reference
}

// carryAdminProfile copies into msg, from cur, the SecurityProfile named
// profile when msg lacks it, with its CertificateProfile when msg lacks that
// too, and the profile's TrustedCertificate entries.
func carryAdminProfile(cur, msg *config.Config, profile string) carriedObjects {
	var out carriedObjects
	if profile == "" {
		return out
	}
	if _, ok := msg.SecurityProfiles[profile]; ok {
		return out
	}
	sp, ok := cur.SecurityProfiles[profile]
	if !ok {
		return out
	}
	cp := *sp
	msg.SecurityProfiles[profile] = &cp
	out.kept = append(out.kept, "SecurityProfile/"+profile)
	if name := sp.CertificateProfile; name != "" {
		if _, ok := msg.CertificateProfiles[name]; !ok {
			if c, ok := cur.CertificateProfiles[name]; ok {
				cc := *c
				msg.CertificateProfiles[name] = &cc
				out.kept = append(out.kept, "CertificateProfile/"+name)
				out.files = append(out.files, c.Certificate, c.Key)
			}
		}
	}
	for _, tc := range cur.TrustedCertificates {
		if tc.SecurityProfileName == profile {
			msg.TrustedCertificates = append(msg.TrustedCertificates, tc)
			out.kept = append(out.kept, "TrustedCertificate/"+tc.SecurityProfileName+"/"+tc.TrustedCertificate)
			out.files = append(out.files, tc.TrustedCertificate)
		}
	}
	slices.SortFunc(msg.TrustedCertificates, func(a, b config.TrustedCertificate) int {
		if a.SecurityProfileName != b.SecurityProfileName {
			return strings.Compare(a.SecurityProfileName, b.SecurityProfileName)
		}
		return strings.Compare(a.TrustedCertificate, b.TrustedCertificate)
	})
	return out
}

// referencedFiles lists the certificate files c names, sorted, unique.
func referencedFiles(c *config.Config) []string {
	var out []string
	for _, cp := range c.CertificateProfiles {
		out = append(out, cp.Certificate, cp.Key)
	}
	for _, tc := range c.TrustedCertificates {
		out = append(out, tc.TrustedCertificate)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
