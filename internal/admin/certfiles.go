package admin

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
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
	type use struct{ file, by string }
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
			uses = append(uses, use{name, by})
		}
	}
	var copies []stagedFile
	for _, u := range uses {
		upload, err := os.ReadFile(filepath.Join(s.userDir, u.file))
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
