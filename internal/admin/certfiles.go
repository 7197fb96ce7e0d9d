package admin

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/mqsight/mqsight/internal/config"
)

// certificateFileProps names, per object type, the properties that name a
// file of the certificate store.
func certificateFileProps(typ string) []string {
	switch typ {
	case "CertificateProfile":
		return []string{"Certificate", "Key"}
	case "TrustedCertificate":
		return []string{"TrustedCertificate"}
	}
	return nil
}

// reservedFileUse returns the admin endpoint's self-signed certificate or
// key file name (SelfSignedCert, SelfSignedKey) that the change c newly
// puts into a CertificateProfile or TrustedCertificate of doc, or "". A
// profile naming them would present the admin endpoint's identity on
// whatever endpoint uses it, so postConfiguration lets only a
// SystemAdministrator do it. A value the object already has is no new use
// (a configuration read and posted back unchanged).
func reservedFileUse(doc *config.Config, c change) string {
	for _, prop := range certificateFileProps(c.t.Name) {
		name, _ := c.props[prop].(string)
		if name != SelfSignedCert && name != SelfSignedKey {
			continue
		}
		switch c.t.Name {
		case "CertificateProfile":
			if cp := doc.CertificateProfiles[c.name]; cp != nil &&
				(prop == "Certificate" && cp.Certificate == name || prop == "Key" && cp.Key == name) {
				continue
			}
		case "TrustedCertificate":
			sp, _ := c.props["SecurityProfileName"].(string)
			if slices.Contains(doc.TrustedCertificates, config.TrustedCertificate{SecurityProfileName: sp, TrustedCertificate: name}) {
				continue
			}
		}
		return name
	}
	return ""
}

// stagedFiles are uploaded files copied into the certificate store ahead
// of a configuration change. commit removes the uploads once the change is
// durable; rollback puts the certificate store back as it was.
type stagedFiles struct {
	certDir, userDir string
	entries          []stagedFile
}

type stagedFile struct {
	name     string
	data     []byte // the upload
	prior    []byte // content replaced in the certificate store
	hadPrior bool   // the store held a file of this name
}

// stageCertificateFiles copies every uploaded file that the changes name
// into the certificate store (atomically, one file at a time). Before
// anything is written it refuses: a named file that is neither uploaded
// nor already in the store (CodeFileMissing); the admin endpoint's
// self-signed certificate and key names (reserved); and, unless the caller
// is a SystemAdministrator, an upload that would replace a different file
// already in the store (it may be the certificate of the admin endpoint
// or of another profile). Names that are not plain file names are left
// for configuration validation to refuse.
func (a *API) stageCertificateFiles(certDir string, changes []change, who *caller) (*stagedFiles, error) {
	s := &stagedFiles{certDir: certDir, userDir: a.opts.UserFilesDir}
	type use struct {
		file, by  string
		overwrite *bool
	}
	var uses []use
	seen := map[string]bool{}
	for _, c := range changes {
		for _, prop := range certificateFileProps(c.t.Name) {
			name, ok := c.props[prop].(string)
			if !ok || name == "" || checkFileName(name) != nil || seen[name] {
				continue
			}
			seen[name] = true
			by := c.t.Name
			if c.name != "" {
				by += " " + strconv.Quote(c.name)
			}
			uses = append(uses, use{name, by, c.overwrite})
		}
	}
	var copies []stagedFile
	for _, u := range uses {
		upload, err := readUserFile(s.userDir, u.file) // a symbolic link is no upload
		uploaded := err == nil
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read uploaded file %s: %w", u.file, err)
		}
		prior, err := os.ReadFile(filepath.Join(certDir, u.file))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read certificate store file %s: %w", u.file, err)
		}
		inStore := err == nil
		switch {
		case !uploaded && !inStore:
			return nil, apiError(CodeFileMissing, strconv.Quote(u.file), u.by)
		case !uploaded:
			continue // already in the store
		case u.file == SelfSignedCert || u.file == SelfSignedKey:
			return nil, apiError(CodeFileName, strconv.Quote(u.file)+": reserved for the admin endpoint")
		case inStore && !bytes.Equal(prior, upload):
			if u.overwrite != nil && !*u.overwrite {
				return nil, apiError(CodeBadValue, strconv.Quote(u.file)+" ("+u.by+
					") is already in the certificate store with other content and Overwrite is false; set Overwrite to true to replace it")
			}
			if err := who.require(systemAccess); err != nil {
				return nil, err
			}
		}
		copies = append(copies, stagedFile{name: u.file, data: upload, prior: prior, hadPrior: inStore})
	}
	for _, f := range copies {
		if err := writeFileAtomic(certDir, f.name, bytes.NewReader(f.data), 0o600); err != nil {
			s.rollback()
			return nil, fmt.Errorf("copy %s into the certificate store: %w", f.name, err)
		}
		s.entries = append(s.entries, f)
	}
	return s, nil
}

// commit removes the uploaded copies: the files now live in the
// certificate store only.
func (s *stagedFiles) commit() {
	for _, e := range s.entries {
		os.Remove(filepath.Join(s.userDir, e.name))
	}
}

// renewed reports whether a staged file replaced different content under
// the same name (a renewal): what was derived from the old file is stale.
func (s *stagedFiles) renewed() bool {
	for _, e := range s.entries {
		if e.hadPrior && !bytes.Equal(e.prior, e.data) {
			return true
		}
	}
	return false
}

// rollback restores what the certificate store held before staging.
func (s *stagedFiles) rollback() {
	for i := len(s.entries) - 1; i >= 0; i-- {
		e := s.entries[i]
		if !e.hadPrior {
			os.Remove(filepath.Join(s.certDir, e.name))
			continue
		}
		writeFileAtomic(s.certDir, e.name, bytes.NewReader(e.prior), 0o600)
	}
	s.entries = nil
}

// checkCertificateFiles refuses a change that leaves a CertificateProfile
// or TrustedCertificate naming files that cannot serve: a certificate and
// key that do not load as a pair (swapped, mismatched, not PEM), an
// expired certificate, a trusted certificate file holding no certificate.
// It checks the objects the changes touch and those naming a staged file
// (a renewal under the same name). Otherwise the change would be accepted
// and the endpoints using the profile would stop listening, with only a
// log line to say why.
func checkCertificateFiles(doc *config.Config, certDir string, changes []change, staged *stagedFiles, now time.Time) error {
	changed := map[string]bool{} // Type/Name of the objects the changes touch
	for _, c := range changes {
		changed[c.t.Name+"/"+c.name] = true
	}
	renewed := map[string]bool{} // files staged by this change
	for _, e := range staged.entries {
		renewed[e.name] = true
	}
	var errs []error
	for name, cp := range doc.CertificateProfiles {
		fresh := renewed[cp.Certificate] || renewed[cp.Key]
		if !fresh && !changed["CertificateProfile/"+name] {
			continue
		}
		// Expiry is checked for new files only: an expired certificate
		// already in use does not block other changes to its profile.
		if msg := checkKeyPair(filepath.Join(certDir, cp.Certificate), filepath.Join(certDir, cp.Key), fresh, now); msg != "" {
			errs = append(errs, &config.ValidationError{Type: "CertificateProfile", Name: name, Property: "Certificate", Kind: config.Invalid,
				Msg: fmt.Sprintf("certificate %q and key %q: %s", cp.Certificate, cp.Key, msg)})
		}
	}
	for _, tc := range doc.TrustedCertificates {
		if !renewed[tc.TrustedCertificate] && !touchedTrusted(changes, tc) {
			continue
		}
		if msg := checkTrusted(filepath.Join(certDir, tc.TrustedCertificate)); msg != "" {
			errs = append(errs, &config.ValidationError{Type: "TrustedCertificate", Name: tc.SecurityProfileName + "/" + tc.TrustedCertificate,
				Property: "TrustedCertificate", Kind: config.Invalid, Msg: msg})
		}
	}
	return errors.Join(errs...)
}

// touchedTrusted reports whether a change creates or updates tc.
func touchedTrusted(changes []change, tc config.TrustedCertificate) bool {
	for _, c := range changes {
		if c.t.Name != "TrustedCertificate" {
			continue
		}
		if f, _ := c.props["TrustedCertificate"].(string); f == tc.TrustedCertificate {
			return true
		}
	}
	return false
}

// checkKeyPair returns why certFile and keyFile cannot serve TLS (with
// checkExpiry, also an expired certificate), or "".
func checkKeyPair(certFile, keyFile string, checkExpiry bool, now time.Time) string {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return "not a usable certificate and key pair: " + err.Error()
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return "the certificate does not parse: " + err.Error()
		}
	}
	if checkExpiry && now.After(leaf.NotAfter) {
		return "the certificate expired on " + leaf.NotAfter.UTC().Format(time.RFC3339)
	}
	return ""
}

// checkTrusted returns why file cannot be a trust anchor, or "".
func checkTrusted(file string) string {
	data, err := os.ReadFile(file)
	if err != nil {
		return err.Error()
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		return fmt.Sprintf("%s holds no PEM certificate", filepath.Base(file))
	}
	return ""
}
