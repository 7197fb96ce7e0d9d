package archive

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Kind says what an archive holds.
type Kind string

const (
	// KindConfig is a configuration backup (imaBackup.* in userfiles).
	KindConfig Kind = "config"
	// KindStore is a store backup (the Pebble checkpoint files).
	KindStore Kind = "store"
)

// Inner container codes for the two kinds.
const (
	kindCodeConfig byte = 1
	kindCodeStore  byte = 2
)

func (k Kind) code() (byte, error) {
	switch k {
	case KindConfig:
		return kindCodeConfig, nil
	case KindStore:
		return kindCodeStore, nil
	}
	return 0, fmt.Errorf("archive kind %q: want %q or %q", string(k), KindConfig, KindStore)
}

func kindFromCode(c byte) (Kind, bool) {
	switch c {
	case kindCodeConfig:
		return KindConfig, true
	case kindCodeStore:
		return KindStore, true
	}
	return "", false
}

// ManifestName is the name of the first entry of every archive.
const ManifestName = "manifest.json"

// MaxManifestSize bounds the encoded manifest; a reader refuses larger ones
// before allocating.
const MaxManifestSize = 1 << 20

// Manifest describes a backup. It is the first entry of every archive,
// encoded as JSON with the fields in the order declared here (ObjectCounts
// keys sorted). Unknown fields are ignored when decoding, so later versions
// may add optional fields without a format version change; a field an older
// reader must understand needs a FormatVersion bump instead.
type Manifest struct {
	// FormatVersion is the archive format version (FormatVersion). The
	// writer fills it in.
	FormatVersion int `json:"FormatVersion"`
	// ServerVersion is the mqsight version that wrote the backup.
	ServerVersion string `json:"ServerVersion"`
	// ServerName and ServerUID identify the server that was backed up.
	ServerName string `json:"ServerName"`
	ServerUID  string `json:"ServerUID"`
	// BackupID binds a configuration backup to its store backup: both
	// archives carry the same value.
	BackupID string `json:"BackupID"`
	// Created is when the backup was taken; always encoded in UTC (RFC 3339).
	Created time.Time `json:"Created"`
	// ConfigGeneration is the configuration generation in force at the
	// store checkpoint (or at the configuration snapshot).
	ConfigGeneration uint64 `json:"ConfigGeneration"`
	// ObjectCounts counts configuration objects per type name.
	ObjectCounts map[string]int `json:"ObjectCounts,omitempty"`
	// Kind is KindConfig or KindStore; the writer fills it in and the reader
	// checks it against the container header.
	Kind Kind `json:"Kind"`
	// StoreBackup, in a configuration backup, describes the store backup
	// file made with it. Nil when there is none; always nil in a store
	// archive (a file cannot record its own digest).
	StoreBackup *StoreBackup `json:"StoreBackup,omitempty"`
	// LSN, in a store archive, is the store checkpoint's log sequence number.
	LSN uint64 `json:"LSN,omitempty"`
	// StoreUID, in a store archive, identifies the store instance.
	StoreUID string `json:"StoreUID,omitempty"`
	// StoreFormat, in a store archive, is the store format of the files in
	// it (store.FormatVersion of the server that wrote it); zero in backups
	// written before it was recorded, which all hold format 1 or 2.
	StoreFormat int `json:"StoreFormat,omitempty"`
}

// StoreBackup is a configuration manifest's record of its store backup file.
type StoreBackup struct {
	Name     string `json:"Name"`     // file name of the store backup
	Size     int64  `json:"Size"`     // size of the whole store backup file in bytes
	SHA256   string `json:"SHA256"`   // lowercase hex SHA-256 of the whole file as stored
	LSN      uint64 `json:"LSN"`      // checkpoint LSN, as in the store archive's manifest
	StoreUID string `json:"StoreUID"` // as in the store archive's manifest
	// StoreFormat is as in the store archive's manifest, so that a restore
	// refuses a store this server cannot read before it downloads it.
	StoreFormat int `json:"StoreFormat,omitempty"`
}

// clone returns a deep copy of m.
func (m *Manifest) clone() *Manifest {
	c := *m
	if m.ObjectCounts != nil {
		c.ObjectCounts = make(map[string]int, len(m.ObjectCounts))
		for k, v := range m.ObjectCounts {
			c.ObjectCounts[k] = v
		}
	}
	if m.StoreBackup != nil {
		sb := *m.StoreBackup
		c.StoreBackup = &sb
	}
	return &c
}

// encodeManifest validates m for an archive of kind and format version and
// returns its JSON.
// m is not modified.
func encodeManifest(m *Manifest, kind Kind, version uint16) ([]byte, error) {
	if m == nil {
		return nil, fmt.Errorf("manifest: nil")
	}
	c := m.clone()
	if c.FormatVersion == 0 {
		c.FormatVersion = int(version)
	}
	if c.FormatVersion != int(version) {
		return nil, fmt.Errorf("manifest: FormatVersion %d, this writer writes %d", c.FormatVersion, version)
	}
	if c.Kind == "" {
		c.Kind = kind
	}
	if c.Kind != kind {
		return nil, fmt.Errorf("manifest: Kind %q in a %q archive", c.Kind, kind)
	}
	if c.BackupID == "" {
		return nil, fmt.Errorf("manifest: BackupID is empty")
	}
	if kind == KindStore && c.StoreBackup != nil {
		return nil, fmt.Errorf("manifest: a store archive cannot carry StoreBackup")
	}
	c.Created = c.Created.UTC()
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if len(b) > MaxManifestSize {
		return nil, fmt.Errorf("manifest: %d bytes encoded, limit %d", len(b), MaxManifestSize)
	}
	return b, nil
}

// decodeManifest parses an authenticated manifest of an archive of kind
// whose envelope has format version.
func decodeManifest(b []byte, kind Kind, version uint16) (*Manifest, error) {
	var m Manifest
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&m); err != nil {
		return nil, corruptf("manifest: %v", err)
	}
	if d.More() {
		return nil, corruptf("manifest: data after the JSON object")
	}
	if m.FormatVersion != int(version) {
		return nil, corruptf("manifest: FormatVersion %d in a version %d envelope", m.FormatVersion, version)
	}
	if m.Kind != kind {
		return nil, corruptf("manifest: Kind %q in a %q archive", m.Kind, kind)
	}
	return &m, nil
}
