package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// PropertyKind says how a property is written in the REST API and stored.
type PropertyKind int

const (
	KindString    PropertyKind = iota + 1 // JSON string
	KindInt                               // JSON integer number, checked against Min-Max
	KindBool                              // JSON true/false
	KindEnum                              // JSON string, one of Values (case-insensitive in, canonical stored)
	KindEnumList                          // comma string or array; each one of Values
	KindName                              // JSON string naming one object of type Ref
	KindNameList                          // comma string or array of names of objects of type Ref
	KindSecret                            // reversible secret string; never rendered or shown in errors
	KindPassword                          // plaintext in; argon2id PHC hash stored; never rendered
	KindSize                              // "<n>KB" or "<n>MB", stored as "<n>KB"; Min-Max in KB
	KindUnlimited                         // "unlimited" or seconds (string or number), Min-Max seconds
)

var propertyKindNames = [...]string{
	KindString: "string", KindInt: "int", KindBool: "bool", KindEnum: "enum",
	KindEnumList: "enum list", KindName: "name", KindNameList: "list of names",
	KindSecret: "secret", KindPassword: "password", KindSize: "size", KindUnlimited: "unlimited or seconds",
}

func (k PropertyKind) String() string {
	if k > 0 && int(k) < len(propertyKindNames) {
		return propertyKindNames[k]
	}
	return fmt.Sprintf("PropertyKind(%d)", int(k))
}

// Syntax is an extra rule a string property's value must follow (see
// syntax.go for each rule).
type Syntax int

const (
	SyntaxNone               Syntax = iota
	SyntaxObjectName                // name rules (checkName)
	SyntaxQueueName                 // name rules, and no '+' or '#'
	SyntaxClientPattern             // trailing '*' is the only wildcard
	SyntaxAddressList               // "*", IP addresses and ranges a-b, comma separated
	SyntaxDestinationPattern        // topic/subscription/queue pattern with ${...} variables
	SyntaxInterface                 // "All" or an IP address literal
	SyntaxIPAddress                 // an IP address literal
	SyntaxConnectionName            // "host(port)" comma list
	SyntaxFileName                  // a plain file name, no directories
	SyntaxMQName                    // IBM MQ object name characters
	SyntaxTraceLevel                // "5" or "7,mqtt:9"
	SyntaxServerUID                 // 1-64 letters, digits and '-'
)

// Property describes one property of an object type.
type Property struct {
	Name     string
	Kind     PropertyKind
	Default  any      // string, int, bool or List; nil: the zero value
	Min, Max int64    // KindInt, KindSize, KindUnlimited
	MaxLen   int      // maximum length in bytes of string values and list items; 0: none
	Values   []string // KindEnum, KindEnumList: canonical spellings
	Ref      string   // KindName, KindNameList: referenced object type
	Syntax   Syntax
	Required bool // must be non-empty; must be given at creation when it has no Default
	Server   bool // server configuration (see Split)
	ReadOnly bool // cannot be set through SetProperties
}

// ObjectType describes one MessageSight object type as the REST admin API
// sees it.
type ObjectType struct {
	Name       string // REST name, e.g. "Endpoint"
	Singleton  bool   // one instance, addressed without a name
	List       bool   // TrustedCertificate: entries named "<SecurityProfileName>/<TrustedCertificate>"
	Properties []Property
}

// Property returns the property with the given name.
func (t ObjectType) Property(name string) (Property, bool) {
	for _, p := range t.Properties {
		if p.Name == name {
			return p, true
		}
	}
	return Property{}, false
}

// Types returns a copy of the object type table, in a fixed order.
func Types() []ObjectType {
	out := make([]ObjectType, len(registry.list))
	for i, t := range registry.list {
		out[i] = t.ObjectType
		out[i].Properties = make([]Property, len(t.Properties))
		for j, p := range t.Properties {
			p.Values = slices.Clone(p.Values)
			if l, ok := p.Default.(List); ok {
				p.Default = slices.Clone(l)
			}
			out[i].Properties[j] = p
		}
	}
	return out
}

// LookupType returns the object type with the given REST name.
func LookupType(name string) (ObjectType, bool) {
	for _, t := range Types() {
		if t.Name == name {
			return t, true
		}
	}
	return ObjectType{}, false
}

// location says where a type's objects live in a Config.
type location int

const (
	locMap    location = iota // map[string]*T field
	locStruct                 // struct field (HighAvailability, AdminEndpoint)
	locConfig                 // a scalar field of Config itself (ServerName, ...)
	locList                   // []TrustedCertificate field
)

// objectType is a registry entry: the public description plus how to reach
// the objects in a Config by reflection. Entries are built once and never
// modified.
type objectType struct {
	ObjectType
	loc    location
	field  int          // index of the Config field (locMap, locStruct, locList)
	goType reflect.Type // the object struct type (Config for locConfig)
	props  map[string]*Property
}

// object returns the addressable struct holding a singleton's properties.
func (t *objectType) object(c *Config) reflect.Value {
	v := reflect.ValueOf(c).Elem()
	if t.loc == locConfig {
		return v
	}
	return v.Field(t.field)
}

type registryTable struct {
	list   []*objectType
	byName map[string]*objectType
	byGo   map[reflect.Type]*objectType
}

// registry is the immutable object type table, built once from typeTable.
var registry = buildRegistry(typeTable())

func buildRegistry(types []ObjectType) *registryTable {
	r := &registryTable{byName: map[string]*objectType{}, byGo: map[reflect.Type]*objectType{}}
	ct := reflect.TypeFor[Config]()
	fieldByType := map[string]int{}
	for i := range ct.NumField() {
		f := ct.Field(i)
		name := f.Name
		if tag := f.Tag.Get("json"); tag != "" {
			name = strings.Split(tag, ",")[0]
		}
		fieldByType[name] = i
	}
	for _, pub := range types {
		t := &objectType{ObjectType: pub, props: map[string]*Property{}}
		for i := range t.Properties {
			t.props[t.Properties[i].Name] = &t.Properties[i]
		}
		idx, ok := fieldByType[pub.Name]
		if !ok {
			panic("config: no Config field for type " + pub.Name)
		}
		ft := ct.Field(idx).Type
		t.field = idx
		switch {
		case ft.Kind() == reflect.Map:
			t.loc, t.goType = locMap, ft.Elem().Elem()
		case ft.Kind() == reflect.Slice:
			t.loc, t.goType = locList, ft.Elem()
		case ft.Kind() == reflect.Struct:
			t.loc, t.goType = locStruct, ft
		default:
			t.loc, t.goType = locConfig, ct
		}
		if t.loc != locConfig {
			r.byGo[t.goType] = t
		}
		r.list = append(r.list, t)
		r.byName[t.Name] = t
	}
	return r
}

// Property constructors keep the table below readable.
func nameProp(max int) Property {
	return Property{Name: "Name", Kind: KindString, Required: true, MaxLen: max, Syntax: SyntaxObjectName}
}

func descProp() Property { return Property{Name: "Description", Kind: KindString, MaxLen: 1024} }

func boolProp(name string, def bool) Property {
	return Property{Name: name, Kind: KindBool, Default: def}
}

func intProp(name string, def int, min, max int64) Property {
	p := Property{Name: name, Kind: KindInt, Min: min, Max: max}
	if def != 0 {
		p.Default = def
	}
	return p
}

func enumProp(name, def string, values ...string) Property {
	return Property{Name: name, Kind: KindEnum, Default: def, Required: true, Values: values}
}

func refProp(name, ref string) Property {
	return Property{Name: name, Kind: KindName, Ref: ref, MaxLen: 256, Syntax: SyntaxObjectName}
}

func refListProp(name, ref string) Property {
	return Property{Name: name, Kind: KindNameList, Ref: ref, MaxLen: 256, Syntax: SyntaxObjectName}
}

func required(p Property) Property { p.Required = true; return p }

func server(ps ...Property) []Property {
	for i := range ps {
		ps[i].Server = true
	}
	return ps
}

func ttlProp(name string) Property {
	return Property{Name: name, Kind: KindUnlimited, Default: "unlimited", Required: true, Min: 1, Max: 2147483647}
}

const maxMessagesLimit = 20000000

func filterProps() []Property {
	pattern := func(n string) Property {
		return Property{Name: n, Kind: KindString, MaxLen: 1024, Syntax: SyntaxClientPattern}
	}
	return []Property{
		pattern("ClientID"),
		pattern("UserID"),
		pattern("GroupID"),
		{Name: "ClientAddress", Kind: KindString, MaxLen: 1024, Syntax: SyntaxAddressList},
		pattern("CommonNames"),
		{Name: "Protocol", Kind: KindEnumList, Values: []string{"MQTT", "JMS"}},
	}
}

func destinationProp(name string) Property {
	return Property{Name: name, Kind: KindString, Required: true, MaxLen: 65535, Syntax: SyntaxDestinationPattern}
}

func concat(parts ...[]Property) []Property {
	var out []Property
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// typeTable is the object model: every type, its properties in document
// order (the order of the Go struct fields), defaults and limits.
func typeTable() []ObjectType {
	one := func(p Property) []Property { return []Property{p} }
	return []ObjectType{
		{Name: "ServerName", Singleton: true, Properties: server(Property{Name: "ServerName", Kind: KindString, Default: "mqsight", Required: true, MaxLen: 256, Syntax: SyntaxObjectName})},
		{Name: "ServerUID", Singleton: true, Properties: server(Property{Name: "ServerUID", Kind: KindString, ReadOnly: true, MaxLen: 64, Syntax: SyntaxServerUID})},
		{Name: "LogLevel", Singleton: true, Properties: server(enumProp("LogLevel", "NORMAL", "MIN", "NORMAL", "MAX"))},
		{Name: "TraceLevel", Singleton: true, Properties: server(Property{Name: "TraceLevel", Kind: KindString, Default: "5", Required: true, MaxLen: 1024, Syntax: SyntaxTraceLevel})},
		{Name: "AdminEndpoint", Singleton: true, Properties: server(
			required(intProp("Port", 9089, 1, 65535)),
			Property{Name: "Interface", Kind: KindString, Default: "All", Required: true, MaxLen: 64, Syntax: SyntaxInterface},
			refProp("SecurityProfile", "SecurityProfile"),
		)},
		{Name: "HighAvailability", Singleton: true, Properties: server(
			boolProp("EnableHA", false),
			Property{Name: "Group", Kind: KindString, MaxLen: 128, Syntax: SyntaxObjectName},
			enumProp("StartupMode", "AutoDetect", "AutoDetect", "StandAlone"),
			boolProp("PreferredPrimary", false),
			Property{Name: "LocalReplicationNIC", Kind: KindString, MaxLen: 64, Syntax: SyntaxIPAddress},
			Property{Name: "LocalDiscoveryNIC", Kind: KindString, MaxLen: 64, Syntax: SyntaxIPAddress},
			Property{Name: "RemoteDiscoveryNIC", Kind: KindString, MaxLen: 64, Syntax: SyntaxIPAddress},
			intProp("DiscoveryTimeout", 600, 10, 2147483647),
			intProp("HeartbeatTimeout", 10, 1, 2147483647),
		)},
		{Name: "AdminUser", Properties: server(
			nameProp(256),
			required(Property{Name: "Password", Kind: KindPassword, MaxLen: 256}),
			enumProp("Role", "User", "SystemAdministrator", "MessagingAdministrator", "User"),
			descProp(),
		)},
		{Name: "MessageHub", Properties: []Property{nameProp(256), descProp()}},
		{Name: "Endpoint", Properties: []Property{
			nameProp(256),
			descProp(),
			required(intProp("Port", 0, 1, 65535)),
			{Name: "Interface", Kind: KindString, Default: "All", Required: true, MaxLen: 64, Syntax: SyntaxInterface, Server: true},
			{Name: "Protocol", Kind: KindEnumList, Default: List{"All"}, Required: true, Values: []string{"All", "MQTT", "JMS"}},
			boolProp("Enabled", true),
			required(refProp("MessageHub", "MessageHub")),
			refProp("SecurityProfile", "SecurityProfile"),
			required(refListProp("ConnectionPolicies", "ConnectionPolicy")),
			refListProp("TopicPolicies", "TopicPolicy"),
			refListProp("SubscriptionPolicies", "SubscriptionPolicy"),
			refListProp("QueuePolicies", "QueuePolicy"),
			{Name: "MaxMessageSize", Kind: KindSize, Default: "1024KB", Required: true, Min: 1, Max: 262144},
		}},
		{Name: "ConnectionPolicy", Properties: concat(one(nameProp(256)), filterProps(), []Property{
			boolProp("AllowDurable", true),
			boolProp("AllowPersistentMessages", true),
			ttlProp("MaxSessionExpiryInterval"),
			descProp(),
		})},
		{Name: "TopicPolicy", Properties: concat(one(nameProp(256)), one(destinationProp("Topic")), filterProps(), []Property{
			{Name: "ActionList", Kind: KindEnumList, Required: true, Values: []string{"Publish", "Subscribe"}},
			intProp("MaxMessages", 5000, 1, maxMessagesLimit),
			enumProp("MaxMessagesBehavior", "RejectNewMessages", "RejectNewMessages", "DiscardOldMessages"),
			ttlProp("MaxMessageTimeToLive"),
			boolProp("DisconnectedClientNotification", false),
			descProp(),
		})},
		{Name: "SubscriptionPolicy", Properties: concat(one(nameProp(256)), one(destinationProp("Subscription")), filterProps(), []Property{
			{Name: "ActionList", Kind: KindEnumList, Required: true, Values: []string{"Receive", "Control"}},
			intProp("MaxMessages", 5000, 1, maxMessagesLimit),
			enumProp("MaxMessagesBehavior", "RejectNewMessages", "RejectNewMessages", "DiscardOldMessages"),
			descProp(),
		})},
		{Name: "QueuePolicy", Properties: concat(one(nameProp(256)), one(destinationProp("Queue")), filterProps(), []Property{
			{Name: "ActionList", Kind: KindEnumList, Required: true, Values: []string{"Send", "Receive", "Browse"}},
			ttlProp("MaxMessageTimeToLive"),
			descProp(),
		})},
		{Name: "Queue", Properties: []Property{
			{Name: "Name", Kind: KindString, Required: true, MaxLen: 256, Syntax: SyntaxQueueName},
			descProp(),
			boolProp("AllowSend", true),
			boolProp("ConcurrentConsumers", true),
			intProp("MaxMessages", 5000, 1, maxMessagesLimit),
		}},
		{Name: "User", Properties: []Property{
			nameProp(256),
			required(Property{Name: "Password", Kind: KindPassword, MaxLen: 256}),
			refListProp("GroupMembership", "Group"),
			descProp(),
		}},
		{Name: "Group", Properties: []Property{nameProp(256), refListProp("GroupMembership", "Group"), descProp()}},
		{Name: "SecurityProfile", Properties: []Property{
			nameProp(32),
			boolProp("TLSEnabled", true),
			enumProp("MinimumProtocolMethod", "TLSv1.2", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"),
			boolProp("UseClientCertificate", false),
			boolProp("UsePasswordAuthentication", true),
			boolProp("AllowNullPassword", false),
			enumProp("Ciphers", "Medium", "Best", "Medium", "Fast"),
			refProp("CertificateProfile", "CertificateProfile"),
			descProp(),
		}},
		{Name: "CertificateProfile", Properties: []Property{
			nameProp(256),
			{Name: "Certificate", Kind: KindString, Required: true, MaxLen: 255, Syntax: SyntaxFileName},
			{Name: "Key", Kind: KindString, Required: true, MaxLen: 255, Syntax: SyntaxFileName},
			descProp(),
		}},
		{Name: "TrustedCertificate", List: true, Properties: []Property{
			required(refProp("SecurityProfileName", "SecurityProfile")),
			{Name: "TrustedCertificate", Kind: KindString, Required: true, MaxLen: 255, Syntax: SyntaxFileName},
		}},
		{Name: "QueueManagerConnection", Properties: []Property{
			nameProp(256),
			{Name: "QueueManagerName", Kind: KindString, Required: true, MaxLen: 48, Syntax: SyntaxMQName},
			{Name: "ConnectionName", Kind: KindString, Required: true, MaxLen: 1024, Syntax: SyntaxConnectionName},
			{Name: "ChannelName", Kind: KindString, Required: true, MaxLen: 20, Syntax: SyntaxMQName},
			{Name: "SSLCipherSpec", Kind: KindString, MaxLen: 64, Syntax: SyntaxMQName},
			{Name: "ChannelUserName", Kind: KindString, MaxLen: 1024},
			{Name: "ChannelUserPassword", Kind: KindSecret, MaxLen: 1024},
			descProp(),
		}},
		{Name: "DestinationMappingRule", Properties: []Property{
			nameProp(256),
			required(refListProp("QueueManagerConnection", "QueueManagerConnection")),
			required(intProp("RuleType", 0, 1, 14)),
			{Name: "Source", Kind: KindString, Required: true, MaxLen: 65535},
			{Name: "Destination", Kind: KindString, Required: true, MaxLen: 65535},
			intProp("MaxMessages", 5000, 1, maxMessagesLimit),
			boolProp("Enabled", true),
			enumProp("RetainedMessages", "None", "None", "All"),
			descProp(),
		}},
	}
}
