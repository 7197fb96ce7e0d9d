package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// applyDefaults sets every property of the object v (an addressable struct
// of t's Go type) to its default value.
func applyDefaults(t *objectType, v reflect.Value) {
	for i := range t.Properties {
		p := &t.Properties[i]
		f := v.FieldByName(p.Name)
		if p.Default == nil {
			f.Set(reflect.Zero(f.Type()))
			continue
		}
		d := p.Default
		if l, ok := d.(List); ok {
			d = slices.Clone(l)
		}
		f.Set(reflect.ValueOf(d).Convert(f.Type()))
	}
}

// validateObject checks one object of a registered Go type on its own: every
// property's value and the type's cross-property rules. obj is a pointer.
func validateObject(obj any) errList {
	v := reflect.ValueOf(obj).Elem()
	t := registry.byGo[v.Type()]
	errs := validateProps(t, objectName(t, v), v)
	if r, ok := obj.(interface{ rules(*errList) }); ok {
		r.rules(&errs)
	}
	return errs
}

// objectName returns the name an object is addressed by.
func objectName(t *objectType, v reflect.Value) string {
	switch t.loc {
	case locMap:
		return v.FieldByName("Name").String()
	case locList:
		return v.Addr().Interface().(*TrustedCertificate).key()
	}
	return ""
}

func validateProps(t *objectType, name string, v reflect.Value) errList {
	var errs errList
	for i := range t.Properties {
		checkValue(t.Name, name, &t.Properties[i], v.FieldByName(t.Properties[i].Name), &errs)
	}
	return errs
}

// checkValue checks one stored property value against its Property.
func checkValue(typ, name string, p *Property, f reflect.Value, errs *errList) {
	bad := func(format string, args ...any) {
		errs.add(typ, name, p.Name, Invalid, p.Name+" "+format, args...)
	}
	switch p.Kind {
	case KindBool:
		return
	case KindInt:
		n := f.Int()
		if p.Max != 0 && (n < p.Min || n > p.Max) {
			bad("%d is out of range %d-%d", n, p.Min, p.Max)
		}
		return
	case KindEnumList, KindNameList:
		checkList(typ, name, p, f.Interface().(List), errs)
		return
	}
	s := f.String()
	if s == "" {
		if p.Required {
			errs.add(typ, name, p.Name, Missing, "%s is required", p.Name)
		}
		return
	}
	switch p.Kind {
	case KindSecret:
		if len(s) > p.MaxLen {
			bad("is longer than %d bytes", p.MaxLen)
		}
		return
	case KindPassword:
		if !IsPasswordHash(s) {
			bad("is not an argon2id password hash")
		}
		return
	}
	if p.MaxLen > 0 && len(s) > p.MaxLen {
		bad("%s is longer than %d bytes", describe(s), p.MaxLen)
		return
	}
	switch p.Kind {
	case KindEnum:
		if !slices.Contains(p.Values, s) {
			bad("%s is not one of %s", describe(s), strings.Join(p.Values, ", "))
		}
		return
	case KindSize:
		kb, ok := parseSizeKB(s)
		if !ok {
			bad("%s is not a size such as \"1024KB\"", describe(s))
		} else if kb < p.Min || kb > p.Max {
			bad("%s is out of range %dKB-%dKB", describe(s), p.Min, p.Max)
		}
		return
	case KindUnlimited:
		n, limited, ok := parseUnlimited(s)
		if !ok {
			bad("%s is neither \"unlimited\" nor a number of seconds", describe(s))
		} else if limited && (n < p.Min || n > p.Max) {
			bad("%s is out of range %d-%d", describe(s), p.Min, p.Max)
		}
		return
	}
	if msg := checkSyntax(p.Syntax, s); msg != "" {
		bad("%s %s", describe(s), msg)
	}
}

func checkList(typ, name string, p *Property, l List, errs *errList) {
	if len(l) == 0 {
		if p.Required {
			errs.add(typ, name, p.Name, Missing, "%s is required", p.Name)
		}
		return
	}
	for i, item := range l {
		var msg string
		switch {
		case item == "":
			msg = "contains an empty item"
		case slices.Contains(l[:i], item):
			msg = "contains " + describe(item) + " more than once"
		case p.Kind == KindEnumList && !slices.Contains(p.Values, item):
			msg = "contains " + describe(item) + ", which is not one of " + strings.Join(p.Values, ", ")
		case p.MaxLen > 0 && len(item) > p.MaxLen:
			msg = fmt.Sprintf("contains %s, which is longer than %d bytes", describe(item), p.MaxLen)
		case p.Kind == KindNameList:
			if m := checkSyntax(p.Syntax, item); m != "" {
				msg = "contains " + describe(item) + ", which " + m
			}
		}
		if msg != "" {
			errs.add(typ, name, p.Name, Invalid, "%s %s %s", p.Name, describe(l.String()), msg)
			return
		}
	}
}

// Validate checks the whole document: every object on its own, that map keys
// equal object names, that every reference resolves, that groups do not
// nest in a cycle and that no two listeners share a port. All problems found
// are returned, joined with errors.Join; each is a *ValidationError.
func (c *Config) Validate() error { return c.ValidateChange(nil) }

// ValidateChange is Validate for c as a change of old (nil: no previous
// document). It checks the same rules; old only decides which object a
// conflict between two objects is reported on: the one the change moved
// into it, so that the error names what the caller just changed.
func (c *Config) ValidateChange(old *Config) error {
	var errs errList
	for _, t := range registry.list {
		switch t.loc {
		case locConfig:
			errs = append(errs, validateProps(t, "", t.object(c))...)
		case locStruct:
			errs = append(errs, validateObject(t.object(c).Addr().Interface())...)
		case locMap:
			m := reflect.ValueOf(c).Elem().Field(t.field)
			for _, key := range sortedKeys(m) {
				obj := m.MapIndex(reflect.ValueOf(key))
				if obj.IsNil() {
					errs.add(t.Name, key, "", Invalid, "object is null")
					continue
				}
				if n := obj.Elem().FieldByName("Name").String(); n != key {
					errs.add(t.Name, key, "Name", Invalid, "Name %s does not match the object's key", describe(n))
					continue
				}
				errs = append(errs, validateObject(obj.Interface())...)
			}
		case locList:
			for i := range c.TrustedCertificates {
				tc := &c.TrustedCertificates[i]
				errs = append(errs, validateObject(tc)...)
				for _, prev := range c.TrustedCertificates[:i] {
					if prev == *tc {
						errs.add(t.Name, tc.key(), "", Invalid, "entry appears more than once")
					}
				}
			}
		}
	}
	c.checkReferences(&errs)
	c.checkGroupCycles(&errs)
	c.checkPorts(&errs, old)
	return errs.join()
}

// sortedKeys returns the keys of a map[string]... value in order.
func sortedKeys(m reflect.Value) []string {
	keys := make([]string, 0, m.Len())
	for _, k := range m.MapKeys() {
		keys = append(keys, k.String())
	}
	slices.Sort(keys)
	return keys
}

// eachObject calls fn for every object in the document, in registry order
// and name order. v is the addressable struct holding the object's
// properties.
func (c *Config) eachObject(fn func(t *objectType, name string, v reflect.Value)) {
	for _, t := range registry.list {
		switch t.loc {
		case locConfig, locStruct:
			fn(t, "", t.object(c))
		case locMap:
			m := reflect.ValueOf(c).Elem().Field(t.field)
			for _, key := range sortedKeys(m) {
				if obj := m.MapIndex(reflect.ValueOf(key)); !obj.IsNil() {
					fn(t, key, obj.Elem())
				}
			}
		case locList:
			for i := range c.TrustedCertificates {
				fn(t, c.TrustedCertificates[i].key(), reflect.ValueOf(&c.TrustedCertificates[i]).Elem())
			}
		}
	}
}

// refsOf returns the names a reference property holds.
func refsOf(p *Property, f reflect.Value) []string {
	if p.Kind == KindNameList {
		return f.Interface().(List)
	}
	if s := f.String(); s != "" {
		return []string{s}
	}
	return nil
}

// exists reports whether an object of the named map type exists.
func (c *Config) exists(typ, name string) bool {
	t := registry.byName[typ]
	m := reflect.ValueOf(c).Elem().Field(t.field)
	if m.IsNil() {
		return false
	}
	v := m.MapIndex(reflect.ValueOf(name))
	return v.IsValid() && !v.IsNil()
}

func (c *Config) checkReferences(errs *errList) {
	c.eachObject(func(t *objectType, name string, v reflect.Value) {
		for i := range t.Properties {
			p := &t.Properties[i]
			if p.Ref == "" {
				continue
			}
			for _, ref := range refsOf(p, v.FieldByName(p.Name)) {
				if !c.exists(p.Ref, ref) {
					errs.add(t.Name, name, p.Name, Reference, "%s refers to %s %s, which does not exist", p.Name, p.Ref, describe(ref))
				}
			}
		}
	})
}

// referrers describes every object that refers to the object typ/name, as
// `Endpoint "E1" (ConnectionPolicies)`, in registry and name order.
func (c *Config) referrers(typ, name string) []string {
	var out []string
	c.eachObject(func(t *objectType, oname string, v reflect.Value) {
		for i := range t.Properties {
			p := &t.Properties[i]
			if p.Ref != typ || !slices.Contains(refsOf(p, v.FieldByName(p.Name)), name) {
				continue
			}
			who := t.Name
			if oname != "" {
				who += " " + describe(oname)
			}
			out = append(out, who+" ("+p.Name+")")
		}
	})
	return out
}

// checkGroupCycles refuses groups that are, through GroupMembership, members
// of themselves. Each cycle is reported once, on the first group (by name)
// from which it is found.
func (c *Config) checkGroupCycles(errs *errList) {
	const (
		unvisited = iota
		onPath
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(g string)
	visit = func(g string) {
		state[g] = onPath
		path = append(path, g)
		if grp := c.Groups[g]; grp != nil {
			for _, parent := range grp.GroupMembership {
				if c.Groups[parent] == nil {
					continue // an unresolved reference, reported elsewhere
				}
				switch state[parent] {
				case unvisited:
					visit(parent)
				case onPath:
					start := slices.Index(path, parent)
					cycle := append(slices.Clone(path[start:]), parent)
					errs.add("Group", parent, "GroupMembership", Invalid,
						"GroupMembership forms a cycle: %s", strings.Join(cycle, " -> "))
				}
			}
		}
		path = path[:len(path)-1]
		state[g] = done
	}
	for _, g := range sortedKeys(reflect.ValueOf(c.Groups)) {
		if state[g] == unvisited {
			visit(g)
		}
	}
}

// checkPorts refuses two listeners on the same port whose interfaces
// overlap ("All" overlaps every address). The admin endpoint comes first,
// then enabled endpoints by name; the later listener gets the error, unless
// old is given and only the earlier one differs from old (it is the one
// being changed onto the port the other already had).
func (c *Config) checkPorts(errs *errList, old *Config) {
	type listener struct {
		typ, name, iface string
		port             int
	}
	listeners := func(c *Config) []listener {
		ls := []listener{{"AdminEndpoint", "", c.AdminEndpoint.Interface, c.AdminEndpoint.Port}}
		for _, n := range sortedKeys(reflect.ValueOf(c.Endpoints)) {
			if e := c.Endpoints[n]; e != nil && e.Enabled {
				ls = append(ls, listener{"Endpoint", n, e.Interface, e.Port})
			}
		}
		return ls
	}
	label := func(l listener) string {
		if l.name == "" {
			return l.typ
		}
		return l.typ + " " + describe(l.name)
	}
	ls := listeners(c)
	before := map[listener]bool{}
	if old != nil {
		for _, l := range listeners(old) {
			before[l] = true
		}
	}
	changed := func(l listener) bool { return old != nil && !before[l] }
	sameIface := func(a, b string) bool {
		if a == "All" || b == "All" {
			return true
		}
		x, okx := parseIP(a)
		y, oky := parseIP(b)
		return okx && oky && x == y
	}
	for j := 1; j < len(ls); j++ {
		for i := range j {
			if ls[i].port == ls[j].port && ls[i].port != 0 && sameIface(ls[i].iface, ls[j].iface) {
				blame, other := ls[j], ls[i]
				if changed(other) && !changed(blame) {
					blame, other = other, blame
				}
				errs.add(blame.typ, blame.name, "Port", Invalid, "Port %d is already used by %s", blame.port, label(other))
				break
			}
		}
	}
}
