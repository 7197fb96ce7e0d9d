package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// FormatVersion is the version of the server.json document format written by
// Marshal. Unmarshal reads versions 1..FormatVersion and refuses newer ones.
const FormatVersion = 1

// Marshal returns the canonical JSON form of c: FormatVersion first, then
// Config's fields in declaration order, object properties in struct order,
// map keys sorted, TrustedCertificate entries sorted, empty lists and maps
// written as [] and {}, two-space indentation, no HTML escaping, and a
// final newline. Two equal documents marshal to identical bytes. Marshal
// does not validate c and does not modify it.
func Marshal(c *Config) ([]byte, error) {
	if c == nil {
		return nil, errors.New("marshal configuration: nil document")
	}
	cp := c.Clone()
	if cp.TrustedCertificates == nil {
		cp.TrustedCertificates = []TrustedCertificate{}
	}
	sortTrusted(cp.TrustedCertificates)
	wire := struct {
		FormatVersion int
		*Config
	}{FormatVersion, cp}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(wire); err != nil {
		return nil, fmt.Errorf("marshal configuration: %w", err)
	}
	return buf.Bytes(), nil
}

// Unmarshal decodes a document written by Marshal (or edited by hand in the
// same shape). It checks shape, not meaning: call Validate for that. A
// property missing from an object takes its default. It fails with an error
// wrapping ErrCorrupt when data is empty, does not end with the newline
// Marshal writes (the mark of a complete file), is not JSON, has an unknown
// field or a value of the wrong JSON type; and with ErrNewerFormat when
// FormatVersion is newer than this build's.
func Unmarshal(data []byte) (*Config, error) {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	if len(data) == 0 {
		return nil, corrupt("empty document")
	}
	if data[len(data)-1] != '\n' {
		return nil, corrupt("document does not end with a newline (truncated?)")
	}
	var head struct{ FormatVersion *int }
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, corrupt("%v", err)
	}
	switch {
	case head.FormatVersion == nil:
		return nil, corrupt("no FormatVersion")
	case *head.FormatVersion > FormatVersion:
		return nil, fmt.Errorf("%w: document has format version %d, this build reads up to version %d",
			ErrNewerFormat, *head.FormatVersion, FormatVersion)
	case *head.FormatVersion < 1:
		return nil, corrupt("FormatVersion %d is not valid", *head.FormatVersion)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, corrupt("%v", err)
	}
	c := New()
	cv := reflect.ValueOf(c).Elem()
	fields := map[string]int{}
	for i := range cv.NumField() {
		f := cv.Type().Field(i)
		name := f.Name
		if tag := f.Tag.Get("json"); tag != "" {
			name = strings.Split(tag, ",")[0]
		}
		fields[name] = i
	}
	for key, raw := range top {
		if key == "FormatVersion" {
			continue
		}
		idx, ok := fields[key]
		if !ok {
			return nil, corrupt("unknown field %q", key)
		}
		if err := decodeField(cv.Field(idx), key, raw); err != nil {
			return nil, corrupt("%s: %v", key, err)
		}
	}
	nilEmptySlices(cv)
	return c, nil
}

// decodeField decodes one top-level field into f, which holds defaults.
func decodeField(f reflect.Value, key string, raw json.RawMessage) error {
	if f.Kind() != reflect.Map {
		return decodeStrict(raw, f.Addr().Interface())
	}
	t := registry.byName[key]
	var objs map[string]json.RawMessage
	if err := decodeStrict(raw, &objs); err != nil {
		return err
	}
	m := reflect.MakeMapWithSize(f.Type(), len(objs))
	for name, r := range objs {
		if bytes.Equal(bytes.TrimSpace(r), []byte("null")) {
			return fmt.Errorf("%q: object is null", name)
		}
		obj := reflect.New(t.goType)
		applyDefaults(t, obj.Elem())
		if err := decodeStrict(r, obj.Interface()); err != nil {
			return fmt.Errorf("%q: %w", name, err)
		}
		m.SetMapIndex(reflect.ValueOf(name), obj)
	}
	f.Set(m)
	return nil
}

// nilEmptySlices replaces every empty slice under v by nil, the form the rest
// of the package builds, so that a decoded document is reflect.DeepEqual to
// the one that was marshaled.
func nilEmptySlices(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			nilEmptySlices(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			nilEmptySlices(v.Field(i))
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			nilEmptySlices(v.MapIndex(k))
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
		}
		for i := range v.Len() {
			nilEmptySlices(v.Index(i))
		}
	}
}

// decodeStrict decodes one JSON value into v, refusing unknown fields.
func decodeStrict(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}
