package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strconv"

	"github.com/mqsight/mqsight/internal/admin"
	"github.com/mqsight/mqsight/internal/config"
)

// `mqsight config set` takes what `mqsight config get` printed. That
// output holds read-only properties (ServerUID), which the server refuses
// in a POST even when unchanged. So set looks up the server's values of
// the read-only properties its file sets, leaves out those that are equal
// and refuses, before posting anything, those that differ.

// readOnlyValue is a read-only property set by a configuration change:
// in object name ("" for a singleton) of type typ.
type readOnlyValue struct {
	typ, name, prop string
	value           any
}

func (v readOnlyValue) String() string {
	if v.name == "" || v.typ == v.prop {
		return v.prop
	}
	return fmt.Sprintf("%s %s %s", v.typ, strconv.Quote(v.name), v.prop)
}

// isScalar reports whether a singleton is a plain value ("ServerUID":"x")
// rather than an object, as the admin API renders it.
func isScalar(t config.ObjectType) bool {
	return t.Singleton && len(t.Properties) == 1 && t.Properties[0].Name == t.Name
}

// readOnlyValues lists the read-only properties body sets, in body's
// shape as GET /ima/v1/configuration renders it. Shapes the server would
// refuse anyway (a named type that is no object) are left to it.
func readOnlyValues(body map[string]any) []readOnlyValue {
	var out []readOnlyValue
	for _, t := range config.Types() {
		v, ok := body[t.Name]
		if !ok || t.List {
			continue
		}
		for _, p := range t.Properties {
			if !p.ReadOnly {
				continue
			}
			switch {
			case isScalar(t):
				out = append(out, readOnlyValue{typ: t.Name, prop: p.Name, value: v})
			case t.Singleton:
				if obj, ok := v.(map[string]any); ok {
					if pv, ok := obj[p.Name]; ok {
						out = append(out, readOnlyValue{typ: t.Name, prop: p.Name, value: pv})
					}
				}
			default:
				objs, _ := v.(map[string]any)
				for name, o := range objs {
					if obj, ok := o.(map[string]any); ok {
						if pv, ok := obj[p.Name]; ok {
							out = append(out, readOnlyValue{typ: t.Name, name: name, prop: p.Name, value: pv})
						}
					}
				}
			}
		}
	}
	return out
}

// lookup finds v's property in cur, a GET /ima/v1/configuration/{Type}
// reply; found is false when the object does not exist (yet).
func (v readOnlyValue) lookup(cur map[string]any) (value any, found bool) {
	tv, ok := cur[v.typ]
	if !ok {
		return nil, false
	}
	if t, _ := config.LookupType(v.typ); isScalar(t) {
		return tv, true
	}
	obj, _ := tv.(map[string]any)
	if v.name != "" {
		obj, _ = obj[v.name].(map[string]any)
	}
	value, found = obj[v.prop]
	return value, found
}

// remove deletes v's property from body.
func (v readOnlyValue) remove(body map[string]any) {
	t, _ := config.LookupType(v.typ)
	if isScalar(t) {
		delete(body, v.typ)
		return
	}
	obj, _ := body[v.typ].(map[string]any)
	if v.name != "" {
		obj, _ = obj[v.name].(map[string]any)
	}
	delete(obj, v.prop)
}

// withoutUnchangedReadOnly returns the body of a configuration POST: raw
// itself when it sets no read-only property (or is no JSON object: the
// server says what is wrong with it), else raw without the read-only
// properties whose values equal the server's. A read-only property with
// another value is an error naming both values; so is one of an object
// that does not exist yet, which the server would refuse too.
func (c *adminClient) withoutUnchangedReadOnly(raw []byte) ([]byte, error) {
	var body map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // numbers are posted as written
	if err := dec.Decode(&body); err != nil || body == nil {
		return raw, nil
	}
	ro := readOnlyValues(body)
	if len(ro) == 0 || admin.DuplicateName(raw) != "" {
		// Sent as written; a name given twice would be lost in the
		// decoding above, so the server refuses it by name instead.
		return raw, nil
	}
	current := map[string]map[string]any{} // by type
	for _, v := range ro {
		cur, ok := current[v.typ]
		if !ok {
			data, err := c.do("GET", "/ima/v1/configuration/"+url.PathEscape(v.typ), nil)
			if err != nil {
				return nil, fmt.Errorf("read the server's %s to compare the read-only %s: %w", v.typ, v, err)
			}
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.UseNumber()
			if err := dec.Decode(&cur); err != nil {
				return nil, fmt.Errorf("read the server's %s: %w", v.typ, err)
			}
			current[v.typ] = cur
		}
		have, found := v.lookup(cur)
		if !found {
			return nil, fmt.Errorf("%s is read-only and the server has no such object yet: leave it out of the file", v)
		}
		if !reflect.DeepEqual(have, v.value) {
			want, _ := json.Marshal(v.value)
			got, _ := json.Marshal(have)
			return nil, fmt.Errorf("%s is read-only: the file sets %s, the server has %s; leave it out of the file "+
				"(a configuration taken from another server keeps this server's %s)", v, want, got, v.prop)
		}
		v.remove(body)
	}
	return json.Marshal(body)
}
