package backup

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mqsight/mqsight/internal/archive"
	"github.com/mqsight/mqsight/internal/config"
)

// Entries of a configuration backup archive (after archive.ManifestName):
//
//	server.json              the canonical configuration document, as
//	                         config.Marshal wrote it (password hashes and
//	                         secrets included), mode 0600
//	certificates/<name>      each regular file of the certificates
//	                         directory, with its permission bits
//	store.key                the secret of the archive.Key its store
//	                         backup is encrypted to (format version 2,
//	                         with a store backup only), mode 0600
//
// Nothing else is accepted in a configuration backup: an authenticated
// archive with another entry is archive.ErrCorrupt.
const (
	documentEntry    = "server.json"
	certificatesDir  = "certificates"
	storeKeyEntry    = "store.key"
	maxStoreKey      = 1024      // bound for store.key
	maxDocumentSize  = 64 << 20  // bound for server.json
	maxCertificate   = 16 << 20  // bound for one certificate or key file
	maxConfigContent = 256 << 20 // bound for everything in a configuration backup
)

// Certificate is one file of the configuration's certificates directory.
type Certificate struct {
	Name string      // plain file name, no directory
	Mode fs.FileMode // permission bits
	Data []byte
}

// ConfigBackup is the authenticated content of a configuration backup.
// It is returned only after the archive's authenticated end was reached.
type ConfigBackup struct {
	Manifest *archive.Manifest
	// Document is server.json exactly as stored in the backup.
	Document []byte
	// Config is Document parsed (config.Unmarshal); not yet validated
	// against any server.
	Config *config.Config
	// Certificates are sorted by name.
	Certificates []Certificate
	// StoreKey decrypts the store backup made with this configuration
	// backup; nil when there is none, or for a format version 1 backup,
	// whose store backup is encrypted with the password. A secret: it
	// formats as a placeholder.
	StoreKey *archive.Key
}

// CertificateNames returns the names of b's certificate files, sorted.
func (b *ConfigBackup) CertificateNames() []string {
	names := make([]string, len(b.Certificates))
	for i, c := range b.Certificates {
		names[i] = c.Name
	}
	return names
}

// ReadConfigBackup reads, decrypts and authenticates a whole configuration
// backup from r. It returns only after the archive's authenticated end was
// reached; any error means nothing of it may be used. Errors wrap the
// archive sentinels (wrong password, truncated, tampered, not a backup,
// newer format, corrupt), ErrWrongKind for a store backup, and
// config.ErrNewerFormat / config.ErrCorrupt for the document inside.
func ReadConfigBackup(r io.Reader, password string) (*ConfigBackup, error) {
	ar, err := archive.NewReader(r, password)
	if errors.Is(err, archive.ErrWrongKey) {
		// Only store backups are encrypted to a key.
		return nil, fmt.Errorf("read configuration backup: it is a store backup: %w", ErrWrongKind)
	}
	if err != nil {
		return nil, fmt.Errorf("read configuration backup: %w", err)
	}
	if ar.Kind() != archive.KindConfig {
		return nil, fmt.Errorf("read configuration backup: it is a %s backup: %w", ar.Kind(), ErrWrongKind)
	}
	b := &ConfigBackup{}
	var total int64
	haveDoc := false
	for {
		h, data, err := ar.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read configuration backup: %w", err)
		}
		total += h.Size
		if total > maxConfigContent {
			return nil, fmt.Errorf("read configuration backup: %w: more than %d bytes of content", archive.ErrCorrupt, maxConfigContent)
		}
		switch dir, name := path.Split(h.Name); {
		case h.Name == documentEntry:
			if h.Size > maxDocumentSize {
				return nil, fmt.Errorf("read configuration backup: %w: %s is %d bytes", archive.ErrCorrupt, documentEntry, h.Size)
			}
			if b.Document, err = io.ReadAll(data); err != nil {
				return nil, fmt.Errorf("read configuration backup: %w", err)
			}
			haveDoc = true
		case h.Name == storeKeyEntry:
			if h.Size > maxStoreKey {
				return nil, fmt.Errorf("read configuration backup: %w: %s is %d bytes", archive.ErrCorrupt, storeKeyEntry, h.Size)
			}
			raw, err := io.ReadAll(data)
			if err != nil {
				return nil, fmt.Errorf("read configuration backup: %w", err)
			}
			if b.StoreKey, err = archive.ParseKey(string(raw)); err != nil {
				return nil, fmt.Errorf("read configuration backup: %s: %w", storeKeyEntry, err)
			}
		case dir == certificatesDir+"/" && validCertName(name):
			if h.Size > maxCertificate {
				return nil, fmt.Errorf("read configuration backup: %w: certificate %s is %d bytes", archive.ErrCorrupt, name, h.Size)
			}
			c := Certificate{Name: name, Mode: h.Mode.Perm()}
			if c.Data, err = io.ReadAll(data); err != nil {
				return nil, fmt.Errorf("read configuration backup: %w", err)
			}
			b.Certificates = append(b.Certificates, c)
		default:
			return nil, fmt.Errorf("read configuration backup: %w: unexpected entry %q", archive.ErrCorrupt, h.Name)
		}
	}
	if !haveDoc {
		return nil, fmt.Errorf("read configuration backup: %w: no %s", archive.ErrCorrupt, documentEntry)
	}
	b.Manifest = ar.Manifest()
	if b.Manifest.StoreBackup != nil {
		if err := checkStoreRecord(b.Manifest.StoreBackup); err != nil {
			return nil, fmt.Errorf("read configuration backup: %w", err)
		}
	}
	if b.Config, err = config.Unmarshal(b.Document); err != nil {
		return nil, fmt.Errorf("read configuration backup: %s: %w", documentEntry, err)
	}
	slices.SortFunc(b.Certificates, func(x, y Certificate) int { return strings.Compare(x.Name, y.Name) })
	return b, nil
}

// validCertName accepts the plain file names config allows for
// certificates: one element, not "." or "..", no backslash.
func validCertName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\\\x00")
}

// fillConfigArchive writes the manifest, the configuration document, the
// certificates and the store backup's key (if any) into aw and closes it;
// on error aw is aborted.
func fillConfigArchive(aw *archive.Writer, m *archive.Manifest, doc []byte, certs []Certificate, storeKey *archive.Key) error {
	defer aw.Abort() // no-op after Close
	if err := aw.WriteManifest(m); err != nil {
		return err
	}
	put := func(name string, mode fs.FileMode, data []byte) error {
		ew, err := aw.CreateEntry(name, mode, int64(len(data)))
		if err != nil {
			return err
		}
		_, err = ew.Write(data)
		return err
	}
	if err := put(documentEntry, 0o600, doc); err != nil {
		return err
	}
	for _, c := range certs {
		if err := put(certificatesDir+"/"+c.Name, c.Mode.Perm(), c.Data); err != nil {
			return err
		}
	}
	if storeKey != nil {
		if err := put(storeKeyEntry, 0o600, []byte(storeKey.String())); err != nil {
			return err
		}
	}
	return aw.Close()
}

// readCertificateDir reads every regular file directly in dir (the
// configuration's certificates directory). Names starting with a dot
// (temporary files) and anything that is not a regular file are skipped. A
// missing directory holds no certificates.
func readCertificateDir(dir string) ([]Certificate, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read certificates: %w", err)
	}
	var out []Certificate
	for _, e := range ents {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") || !validCertName(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("read certificates: %w", err)
		}
		if info.Size() > maxCertificate {
			return nil, fmt.Errorf("read certificates: %s is larger than %d bytes", e.Name(), maxCertificate)
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read certificates: %w", err)
		}
		out = append(out, Certificate{Name: e.Name(), Mode: info.Mode().Perm(), Data: data})
	}
	return out, nil
}
