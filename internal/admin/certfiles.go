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
	name  string
	prior []byte // content replaced in the certificate store; nil: none
}

// stageCertificateFiles copies every uploaded file that the changes name
// into the certificate store (atomically, one file at a time). A named
// file that is neither uploaded nor already in the store is refused with
// CodeFileMissing before anything is written. Names that are not plain
// file names are left for configuration validation to refuse.
func (a *API) stageCertificateFiles(certDir string, changes []change) (*stagedFiles, error) {
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
	var copies []string
	for _, u := range uses {
		if _, err := os.Stat(filepath.Join(s.userDir, u.file)); err == nil {
			copies = append(copies, u.file)
			continue
		}
		if _, err := os.Stat(filepath.Join(certDir, u.file)); err != nil {
			return nil, apiError(CodeFileMissing, strconv.Quote(u.file), u.by)
		}
	}
	for _, name := range copies {
		if err := s.copyIn(name); err != nil {
			s.rollback()
			return nil, err
		}
	}
	return s, nil
}

func (s *stagedFiles) copyIn(name string) error {
	data, err := os.ReadFile(filepath.Join(s.userDir, name))
	if err != nil {
		return fmt.Errorf("read uploaded file %s: %w", name, err)
	}
	prior, err := os.ReadFile(filepath.Join(s.certDir, name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read certificate store file %s: %w", name, err)
	}
	if err := writeFileAtomic(s.certDir, name, bytes.NewReader(data), 0o600); err != nil {
		return fmt.Errorf("copy %s into the certificate store: %w", name, err)
	}
	s.entries = append(s.entries, stagedFile{name: name, prior: prior})
	return nil
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
		if e.prior == nil {
			os.Remove(filepath.Join(s.certDir, e.name))
			continue
		}
		writeFileAtomic(s.certDir, e.name, bytes.NewReader(e.prior), 0o600)
	}
	s.entries = nil
}
