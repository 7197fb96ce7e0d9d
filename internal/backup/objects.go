package backup

import (
	"reflect"
	"slices"
	"strings"

	"github.com/mqsight/mqsight/internal/config"
)

// isSingleton reports whether a Config field is a server singleton,
// reported as an object of its own type with an empty name.
func isSingleton(field string) bool {
	switch field {
	case "ServerName", "ServerUID", "LogLevel", "TraceLevel", "AdminEndpoint", "HighAvailability":
		return true
	}
	return false
}

// objectsOf lists every configuration object of c by MessageSight type name
// and object name. Named objects come from the document's maps (keyed by
// their JSON type name), TrustedCertificate entries are named
// "<SecurityProfileName>/<TrustedCertificate>" as in the admin API, and the
// singletons appear under their own names with the object name "".
// Values are the objects themselves (compared with reflect.DeepEqual).
func objectsOf(c *config.Config) map[string]map[string]any {
	out := map[string]map[string]any{}
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		fv := v.Field(i)
		switch {
		case f.Type.Kind() == reflect.Map && tag != "":
			objs := map[string]any{}
			iter := fv.MapRange()
			for iter.Next() {
				objs[iter.Key().String()] = iter.Value().Interface()
			}
			out[tag] = objs
		case f.Name == "TrustedCertificates":
			objs := map[string]any{}
			for _, tc := range c.TrustedCertificates {
				objs[tc.SecurityProfileName+"/"+tc.TrustedCertificate] = tc
			}
			out[tag] = objs
		case isSingleton(f.Name):
			out[f.Name] = map[string]any{"": fv.Interface()}
		}
	}
	return out
}

// ObjectCounts counts the named configuration objects of c per type (the
// singletons are not counted). Every type appears, with 0 when it has none.
func ObjectCounts(c *config.Config) map[string]int {
	counts := map[string]int{}
	for typ, objs := range objectsOf(c) {
		if isSingleton(typ) {
			continue
		}
		counts[typ] = len(objs)
	}
	return counts
}

// ObjectChanges lists, for one object type, the names of objects a restore
// adds, changes and removes, each sorted. Names are the admin API's: a
// TrustedCertificate is "<SecurityProfileName>/<TrustedCertificate>", and a
// singleton (ServerName, ServerUID, LogLevel, TraceLevel, AdminEndpoint,
// HighAvailability) has the empty name and can only be Changed.
type ObjectChanges struct {
	Added   []string `json:"Added,omitempty"`
	Changed []string `json:"Changed,omitempty"`
	Removed []string `json:"Removed,omitempty"`
}

// diffObjects compares two documents object by object. Types without any
// change are absent from the result. Generation is not an object.
func diffObjects(from, to *config.Config) map[string]ObjectChanges {
	a, b := objectsOf(from), objectsOf(to)
	out := map[string]ObjectChanges{}
	for typ, bo := range b {
		ao := a[typ]
		var ch ObjectChanges
		for name, bv := range bo {
			av, ok := ao[name]
			switch {
			case !ok:
				ch.Added = append(ch.Added, name)
			case !reflect.DeepEqual(av, bv):
				ch.Changed = append(ch.Changed, name)
			}
		}
		for name := range ao {
			if _, ok := bo[name]; !ok {
				ch.Removed = append(ch.Removed, name)
			}
		}
		if len(ch.Added)+len(ch.Changed)+len(ch.Removed) == 0 {
			continue
		}
		slices.Sort(ch.Added)
		slices.Sort(ch.Changed)
		slices.Sort(ch.Removed)
		out[typ] = ch
	}
	return out
}
