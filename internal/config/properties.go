package config

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// This file is the REST view of the document: objects addressed by type name
// and object name, properties as MessageSight JSON values.

func lookupType(typ string) (*objectType, error) {
	t := registry.byName[typ]
	if t == nil {
		return nil, &ValidationError{Type: typ, Kind: Unknown, Msg: "unknown object type"}
	}
	return t, nil
}

func notFound(t *objectType, name string) error {
	return &ValidationError{Type: t.Name, Name: name, Kind: NotFound, Msg: "not found"}
}

// SetProperties creates or updates one object as a REST POST does. For a
// named type, name is the object's name and the object is created (every
// property at its default, then props applied) if it does not exist; for a
// singleton, name must be empty; for TrustedCertificate, props hold
// SecurityProfileName and TrustedCertificate and name is empty or
// "<SecurityProfileName>/<TrustedCertificate>".
//
// A property set to nil (JSON null) returns to its default. List properties
// take a comma-separated string or a JSON array. A Password is given in
// plaintext and stored as its argon2id hash. props may hold the values
// encoding/json produces (string, float64 or json.Number, bool, []any, nil).
//
// The object alone is validated (its values and rules); references between
// objects are checked by Config.Validate, which the Manager runs on every
// update. On error the document is unchanged and the error is a
// *ValidationError: Unknown for an unknown type or property, ReadOnly,
// Invalid for a wrong JSON type or a bad value, Missing for a required
// property that is absent.
func SetProperties(doc *Config, typ, name string, props map[string]any) error {
	t, err := lookupType(typ)
	if err != nil {
		return err
	}
	switch t.loc {
	case locConfig, locStruct:
		if name != "" {
			return &ValidationError{Type: t.Name, Kind: Invalid, Msg: "a singleton is addressed without a name"}
		}
		obj := deepCopy(t.object(doc))
		errs := setProps(t, "", obj, props, false)
		if len(errs) == 0 {
			if t.loc == locStruct {
				errs = validateObject(obj.Addr().Interface())
			} else {
				errs = validateProps(t, "", obj)
			}
		}
		if len(errs) > 0 {
			return errs.first()
		}
		t.object(doc).Set(obj)
		return nil
	case locList:
		return setTrusted(doc, t, name, props)
	}
	var errs errList
	checkValue(t.Name, name, t.props["Name"], reflect.ValueOf(name), &errs)
	if v, ok := props["Name"]; ok && v != name {
		errs.add(t.Name, name, "Name", Invalid, "Name %s does not match the object name", describe(v))
	}
	if len(errs) > 0 {
		return errs.first()
	}
	m := reflect.ValueOf(doc).Elem().Field(t.field)
	existing := reflect.Value{}
	if !m.IsNil() {
		existing = m.MapIndex(reflect.ValueOf(name))
	}
	creating := !existing.IsValid() || existing.IsNil()
	var obj reflect.Value
	if creating {
		obj = reflect.New(t.goType).Elem()
		applyDefaults(t, obj)
		obj.FieldByName("Name").SetString(name)
	} else {
		obj = deepCopy(existing.Elem())
	}
	errs = setProps(t, name, obj, props, creating)
	if len(errs) == 0 {
		errs = validateObject(obj.Addr().Interface())
	}
	if len(errs) > 0 {
		return errs.first()
	}
	if m.IsNil() {
		m.Set(reflect.MakeMap(m.Type()))
	}
	m.SetMapIndex(reflect.ValueOf(name), obj.Addr())
	return nil
}

// setTrusted adds a TrustedCertificate entry; adding an existing entry is a
// no-op.
func setTrusted(doc *Config, t *objectType, name string, props map[string]any) error {
	var tc TrustedCertificate
	obj := reflect.ValueOf(&tc).Elem()
	errs := setProps(t, name, obj, props, true)
	if len(errs) == 0 {
		errs = validateObject(&tc)
	}
	if len(errs) == 0 && name != "" && name != tc.key() {
		errs.add(t.Name, name, "", Invalid, "name does not match %s", describe(tc.key()))
	}
	if len(errs) > 0 {
		return errs.first()
	}
	if !slices.Contains(doc.TrustedCertificates, tc) {
		doc.TrustedCertificates = append(doc.TrustedCertificates, tc)
		sortTrusted(doc.TrustedCertificates)
	}
	return nil
}

func sortTrusted(l []TrustedCertificate) {
	slices.SortFunc(l, func(a, b TrustedCertificate) int {
		if c := strings.Compare(a.SecurityProfileName, b.SecurityProfileName); c != 0 {
			return c
		}
		return strings.Compare(a.TrustedCertificate, b.TrustedCertificate)
	})
}

// setProps applies props to obj in property name order. Conversion errors
// (unknown or read-only property, wrong JSON type) come first; then required
// properties without default that are absent at creation or set to null.
func setProps(t *objectType, name string, obj reflect.Value, props map[string]any, creating bool) errList {
	var errs errList
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var password []*Property // hashed last, only if everything else is valid
	for _, k := range keys {
		if k == "Name" && t.loc == locMap {
			continue
		}
		p := t.props[k]
		if p == nil {
			errs.add(t.Name, name, k, Unknown, "%s is not a property of %s", describe(k), t.Name)
			continue
		}
		if p.ReadOnly {
			errs.add(t.Name, name, k, ReadOnly, "%s is read-only", k)
			continue
		}
		f := obj.FieldByName(k)
		v := props[k]
		if v == nil {
			setDefault(p, f)
			continue
		}
		val, msg := convert(p, v)
		if msg != "" {
			errs.add(t.Name, name, k, Invalid, "%s %s", k, msg)
			continue
		}
		f.Set(reflect.ValueOf(val).Convert(f.Type()))
		if p.Kind == KindPassword && val != "" {
			password = append(password, p)
		}
	}
	for i := range t.Properties {
		p := &t.Properties[i]
		if !p.Required || p.Default != nil || (t.loc == locMap && p.Name == "Name") {
			continue
		}
		v, given := props[p.Name]
		if (creating && !given) || (given && v == nil) {
			errs.add(t.Name, name, p.Name, Missing, "%s is required", p.Name)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	for _, p := range password {
		f := obj.FieldByName(p.Name)
		if len(f.String()) > p.MaxLen {
			errs.add(t.Name, name, p.Name, Invalid, "%s is longer than %d bytes", p.Name, p.MaxLen)
			continue
		}
		hash, err := HashPassword(f.String())
		if err != nil {
			errs.add(t.Name, name, p.Name, Invalid, "%s cannot be hashed", p.Name)
			continue
		}
		f.SetString(hash)
	}
	return errs
}

func setDefault(p *Property, f reflect.Value) {
	if p.Default == nil {
		f.Set(reflect.Zero(f.Type()))
		return
	}
	d := p.Default
	if l, ok := d.(List); ok {
		d = slices.Clone(l)
	}
	f.Set(reflect.ValueOf(d).Convert(f.Type()))
}

// convert turns a JSON value into the stored Go value of property p, or
// returns the reason it cannot (to follow the property name in a message).
// Values are range-checked later by checkValue, on the stored form.
func convert(p *Property, v any) (any, string) {
	secret := p.Kind == KindSecret || p.Kind == KindPassword
	shown := func() string {
		if secret {
			return ""
		}
		return describe(v) + " "
	}
	switch p.Kind {
	case KindBool:
		if b, ok := v.(bool); ok {
			return b, ""
		}
		return nil, shown() + "is not true or false"
	case KindInt:
		n, msg := toInt(v)
		if msg == "out of range" {
			return nil, fmt.Sprintf("%s is out of range %d-%d", describe(v), p.Min, p.Max)
		}
		if msg != "" {
			return nil, describe(v) + " " + msg
		}
		return int(n), ""
	case KindEnumList, KindNameList:
		l, msg := toList(v)
		if msg != "" {
			return nil, msg
		}
		if p.Kind == KindEnumList {
			for i := range l {
				l[i] = canonicalEnum(p.Values, l[i])
			}
		}
		return l, ""
	case KindUnlimited:
		if _, isNum := v.(string); !isNum {
			n, msg := toInt(v)
			if msg == "out of range" {
				return nil, fmt.Sprintf("%s is out of range %d-%d", describe(v), p.Min, p.Max)
			}
			if msg != "" {
				return nil, describe(v) + " is neither \"unlimited\" nor a number of seconds"
			}
			return strconv.FormatInt(n, 10), ""
		}
	}
	s, ok := v.(string)
	if !ok {
		return nil, shown() + "is not a string"
	}
	switch p.Kind {
	case KindEnum:
		return canonicalEnum(p.Values, s), ""
	case KindSize:
		if kb, ok := parseSizeKB(s); ok {
			return strconv.FormatInt(kb, 10) + "KB", ""
		}
	case KindUnlimited:
		if strings.EqualFold(s, "unlimited") {
			return "unlimited", ""
		}
	}
	return s, ""
}

// canonicalEnum returns the canonical spelling of s if it matches one of
// values ignoring case, or s unchanged (which validation then refuses).
func canonicalEnum(values []string, s string) string {
	for _, v := range values {
		if strings.EqualFold(v, s) {
			return v
		}
	}
	return s
}

// toInt accepts JSON numbers (float64 or json.Number, and Go integers)
// that are integers within ±2^53; msg is "out of range" for larger ones.
func toInt(v any) (int64, string) {
	var f float64
	switch x := v.(type) {
	case int:
		return int64(x), ""
	case int64:
		return x, ""
	case float64:
		f = x
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n, ""
		}
		var err error
		if f, err = x.Float64(); err != nil && !math.IsInf(f, 0) {
			return 0, "is not a number"
		}
	default:
		return 0, "is not a number"
	}
	if math.IsNaN(f) {
		return 0, "is not a number"
	}
	if math.Abs(f) > 1<<53 {
		return 0, "out of range"
	}
	if f != math.Trunc(f) {
		return 0, "is not an integer"
	}
	return int64(f), ""
}

// toList accepts a comma-separated string or an array of strings; items are
// trimmed of surrounding spaces and an empty string is an empty list.
func toList(v any) (List, string) {
	var items []string
	switch x := v.(type) {
	case string:
		if strings.TrimSpace(x) == "" {
			return nil, ""
		}
		items = strings.Split(x, ",")
	case []string:
		items = slices.Clone(x)
	case List:
		items = slices.Clone(x)
	case []any:
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, "contains " + describe(e) + ", which is not a string"
			}
			items = append(items, s)
		}
	default:
		return nil, describe(v) + " is neither a comma-separated string nor an array"
	}
	if len(items) == 0 {
		return nil, ""
	}
	l := make(List, len(items))
	for i, s := range items {
		l[i] = strings.TrimSpace(s)
	}
	return l, ""
}

// findObject returns the addressable struct of an existing object.
func findObject(doc *Config, t *objectType, name string) (reflect.Value, error) {
	switch t.loc {
	case locConfig, locStruct:
		if name != "" {
			return reflect.Value{}, notFound(t, name)
		}
		return t.object(doc), nil
	case locList:
		for i := range doc.TrustedCertificates {
			if doc.TrustedCertificates[i].key() == name {
				return reflect.ValueOf(&doc.TrustedCertificates[i]).Elem(), nil
			}
		}
		return reflect.Value{}, notFound(t, name)
	}
	m := reflect.ValueOf(doc).Elem().Field(t.field)
	if !m.IsNil() {
		if v := m.MapIndex(reflect.ValueOf(name)); v.IsValid() && !v.IsNil() {
			return v.Elem(), nil
		}
	}
	return reflect.Value{}, notFound(t, name)
}

// ObjectProperties renders one object in MessageSight shape: every property
// by name, lists as comma-separated strings, integers as int, booleans as
// bool. Passwords and secrets are left out. Singletons are addressed with an
// empty name.
func ObjectProperties(doc *Config, typ, name string) (map[string]any, error) {
	t, err := lookupType(typ)
	if err != nil {
		return nil, err
	}
	obj, err := findObject(doc, t, name)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(t.Properties))
	for i := range t.Properties {
		p := &t.Properties[i]
		f := obj.FieldByName(p.Name)
		switch p.Kind {
		case KindSecret, KindPassword:
			continue
		case KindEnumList, KindNameList:
			out[p.Name] = f.Interface().(List).String()
		case KindInt:
			out[p.Name] = int(f.Int())
		case KindBool:
			out[p.Name] = f.Bool()
		default:
			out[p.Name] = f.String()
		}
	}
	return out, nil
}

// ObjectNames returns the names of the objects of a type, sorted. A
// singleton type has no names (nil).
func ObjectNames(doc *Config, typ string) ([]string, error) {
	t, err := lookupType(typ)
	if err != nil {
		return nil, err
	}
	switch t.loc {
	case locMap:
		return sortedKeys(reflect.ValueOf(doc).Elem().Field(t.field)), nil
	case locList:
		names := make([]string, len(doc.TrustedCertificates))
		for i := range doc.TrustedCertificates {
			names[i] = doc.TrustedCertificates[i].key()
		}
		slices.Sort(names)
		return names, nil
	}
	return nil, nil
}

// Delete removes one named object (or TrustedCertificate entry). It is
// refused with Kind InUse, naming every referrer, while another object
// refers to it; singletons cannot be deleted. On error doc is unchanged.
func Delete(doc *Config, typ, name string) error {
	t, err := lookupType(typ)
	if err != nil {
		return err
	}
	if t.Singleton {
		return &ValidationError{Type: t.Name, Kind: Invalid, Msg: "a singleton cannot be deleted"}
	}
	if _, err := findObject(doc, t, name); err != nil {
		return err
	}
	if t.loc == locList {
		doc.TrustedCertificates = slices.DeleteFunc(doc.TrustedCertificates, func(tc TrustedCertificate) bool { return tc.key() == name })
		return nil
	}
	if refs := doc.referrers(t.Name, name); len(refs) > 0 {
		return &ValidationError{Type: t.Name, Name: name, Kind: InUse,
			Msg: "cannot be deleted: referred to by " + strings.Join(refs, ", ")}
	}
	reflect.ValueOf(doc).Elem().Field(t.field).SetMapIndex(reflect.ValueOf(name), reflect.Value{})
	return nil
}
