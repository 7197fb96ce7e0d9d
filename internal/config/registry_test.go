package config

import (
	"reflect"
	"slices"
	"testing"
)

// jsonFields lists a struct's JSON property names in encoding order,
// flattening embedded structs as encoding/json does.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		out = append(out, f.Name)
	}
	return out
}

// TestRegistryMatchesStructs: the table and the Go types describe the same
// properties in the same order, so the REST view and the document agree.
func TestRegistryMatchesStructs(t *testing.T) {
	for _, rt := range registry.list {
		var props []string
		for _, p := range rt.Properties {
			props = append(props, p.Name)
		}
		if rt.loc == locConfig {
			if !slices.Equal(props, []string{rt.Name}) {
				t.Errorf("%s: scalar singleton must have one property named like it: %v", rt.Name, props)
			}
			continue
		}
		if fields := jsonFields(rt.goType); !slices.Equal(fields, props) {
			t.Errorf("%s:\n struct   %v\n registry %v", rt.Name, fields, props)
		}
	}
	ct := reflect.TypeFor[Config]()
	if got := ct.NumField() - 1; got != len(registry.list) { // Generation is not an object type
		t.Errorf("Config has %d object fields, registry %d types", got, len(registry.list))
	}
}

func TestRegistryDefaultsAndKinds(t *testing.T) {
	for _, typ := range Types() {
		for _, p := range typ.Properties {
			where := typ.Name + "." + p.Name
			if (p.Kind == KindName || p.Kind == KindNameList) != (p.Ref != "") {
				t.Errorf("%s: Ref %q with kind %v", where, p.Ref, p.Kind)
			}
			if p.Ref != "" {
				if rt, ok := LookupType(p.Ref); !ok || rt.Singleton || rt.List {
					t.Errorf("%s: refers to %q, not a named type", where, p.Ref)
				}
			}
			if (p.Kind == KindEnum || p.Kind == KindEnumList) != (len(p.Values) > 0) {
				t.Errorf("%s: Values %v with kind %v", where, p.Values, p.Kind)
			}
		}
	}
	// Types returns copies: changing them does not change the registry.
	ts := Types()
	ts[0].Properties[0].Name = "Changed"
	if Types()[0].Properties[0].Name == "Changed" {
		t.Fatal("Types exposes the registry's memory")
	}
	if _, ok := LookupType("Widget"); ok {
		t.Fatal("LookupType found an unknown type")
	}
}

// TestServerPropertiesAreWhatSplitMoves ties the table's Server flags to
// Split: the messaging part holds no non-zero server property, and the
// server flags mark exactly the list.
func TestServerPropertiesAreWhatSplitMoves(t *testing.T) {
	var server []string
	for _, typ := range Types() {
		for _, p := range typ.Properties {
			if p.Server {
				server = append(server, typ.Name+"."+p.Name)
			}
		}
	}
	want := []string{
		"ServerName.ServerName", "ServerUID.ServerUID", "LogLevel.LogLevel", "TraceLevel.TraceLevel",
		"AdminEndpoint.Port", "AdminEndpoint.Interface", "AdminEndpoint.SecurityProfile",
		"HighAvailability.EnableHA", "HighAvailability.Group", "HighAvailability.StartupMode",
		"HighAvailability.PreferredPrimary", "HighAvailability.LocalReplicationNIC",
		"HighAvailability.LocalDiscoveryNIC", "HighAvailability.RemoteDiscoveryNIC",
		"HighAvailability.DiscoveryTimeout", "HighAvailability.HeartbeatTimeout",
		"AdminUser.Name", "AdminUser.Password", "AdminUser.Role", "AdminUser.Description",
		"Endpoint.Interface",
	}
	if !slices.Equal(server, want) {
		t.Fatalf("server properties:\n got %v\nwant %v", server, want)
	}
	_, messaging := Split(fixture(t))
	messaging.eachObject(func(ot *objectType, name string, v reflect.Value) {
		for _, p := range ot.Properties {
			if p.Server && !v.FieldByName(p.Name).IsZero() {
				t.Errorf("messaging part keeps %s %q %s", ot.Name, name, p.Name)
			}
		}
	})
}
