package config

import (
	"crypto/rand"
	"encoding/hex"
	"reflect"
)

// Config is one whole configuration document. Named objects live in maps
// keyed by their Name (the key and the object's Name field are always equal in
// a valid document); singletons are plain fields. The JSON name of every
// field is the MessageSight object type name.
//
// Ownership: a *Config held by the Manager (Current, the values passed to
// subscribers) is an immutable snapshot shared by every reader; callers must
// not modify it and must Clone it to build a changed document.
type Config struct {
	// Generation increases by at least one on every change written by the
	// Manager.
	Generation uint64

	ServerName       string
	ServerUID        string // generated once by the Manager; read-only afterwards
	LogLevel         string // MIN, NORMAL, MAX
	TraceLevel       string // "5" or "7,mqtt:9"
	AdminEndpoint    AdminEndpoint
	HighAvailability HighAvailability
	AdminUsers       map[string]*AdminUser `json:"AdminUser"`

	MessageHubs             map[string]*MessageHub             `json:"MessageHub"`
	Endpoints               map[string]*Endpoint               `json:"Endpoint"`
	ConnectionPolicies      map[string]*ConnectionPolicy       `json:"ConnectionPolicy"`
	TopicPolicies           map[string]*TopicPolicy            `json:"TopicPolicy"`
	SubscriptionPolicies    map[string]*SubscriptionPolicy     `json:"SubscriptionPolicy"`
	QueuePolicies           map[string]*QueuePolicy            `json:"QueuePolicy"`
	Queues                  map[string]*Queue                  `json:"Queue"`
	Users                   map[string]*User                   `json:"User"`
	Groups                  map[string]*Group                  `json:"Group"`
	SecurityProfiles        map[string]*SecurityProfile        `json:"SecurityProfile"`
	CertificateProfiles     map[string]*CertificateProfile     `json:"CertificateProfile"`
	TrustedCertificates     []TrustedCertificate               `json:"TrustedCertificate"` // sorted by (SecurityProfileName, TrustedCertificate)
	QueueManagerConnections map[string]*QueueManagerConnection `json:"QueueManagerConnection"`
	DestinationMappingRules map[string]*DestinationMappingRule `json:"DestinationMappingRule"`
}

// New returns an empty document: every singleton at its default, no named
// objects, all maps allocated.
func New() *Config {
	c := &Config{}
	for _, t := range registry.list {
		if t.loc == locConfig || t.loc == locStruct {
			applyDefaults(t, t.object(c))
		}
	}
	c.ensureMaps()
	return c
}

// Default returns the embedded default configuration: MessageHub DemoHub,
// Endpoint DemoEndpoint (MQTT on port 1883, all interfaces, no TLS), the
// permissive DemoConnectionPolicy (ClientID "*", Protocol MQTT) and
// DemoTopicPolicy (Topic "*", Publish and Subscribe, ClientID "*"),
// DemoQueuePolicy (Queue "*", Send, Receive and Browse, ClientID "*"), the
// AdminEndpoint on port 9089, ServerName "mqsight", LogLevel NORMAL. It has no
// ServerUID (the Manager generates one) and no admin user (the server adds
// one with NewAdminUser). Each call returns a fresh document.
func Default() *Config {
	c := New()
	c.ServerName = "mqsight"
	c.MessageHubs["DemoHub"] = &MessageHub{Name: "DemoHub", Description: "Demo message hub"}
	cp := newObject[ConnectionPolicy]("ConnectionPolicy", "DemoConnectionPolicy")
	cp.ClientID = "*"
	cp.Protocol = List{"MQTT"}
	cp.Description = "Demo policy: any MQTT client may connect"
	c.ConnectionPolicies[cp.Name] = cp
	tp := newObject[TopicPolicy]("TopicPolicy", "DemoTopicPolicy")
	tp.Topic = "*"
	tp.ClientID = "*"
	tp.ActionList = List{"Publish", "Subscribe"}
	tp.Description = "Demo policy: any client may publish and subscribe on any topic"
	c.TopicPolicies[tp.Name] = tp
	qp := newObject[QueuePolicy]("QueuePolicy", "DemoQueuePolicy")
	qp.Queue = "*"
	qp.ClientID = "*"
	qp.ActionList = List{"Send", "Receive", "Browse"}
	qp.Description = "Demo policy: any client may send to, receive from and browse any queue"
	c.QueuePolicies[qp.Name] = qp
	ep := newObject[Endpoint]("Endpoint", "DemoEndpoint")
	ep.Port = 1883
	ep.Protocol = List{"MQTT"}
	ep.MessageHub = "DemoHub"
	ep.ConnectionPolicies = List{cp.Name}
	ep.TopicPolicies = List{tp.Name}
	ep.QueuePolicies = List{qp.Name}
	ep.Description = "Demo MQTT endpoint"
	c.Endpoints[ep.Name] = ep
	return c
}

// newObject returns a named object of the given registry type with every
// property at its default.
func newObject[T any](typ, name string) *T {
	v := new(T)
	t := registry.byName[typ]
	applyDefaults(t, reflect.ValueOf(v).Elem())
	reflect.ValueOf(v).Elem().FieldByName("Name").SetString(name)
	return v
}

// ensureMaps allocates every nil map so that code may insert directly and
// the canonical JSON writes {} rather than null.
func (c *Config) ensureMaps() {
	v := reflect.ValueOf(c).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() == reflect.Map && f.IsNil() {
			f.Set(reflect.MakeMap(f.Type()))
		}
	}
}

// Clone returns a deep copy that shares no memory with c.
func (c *Config) Clone() *Config {
	if c == nil {
		return nil
	}
	out := deepCopy(reflect.ValueOf(c).Elem()).Interface().(Config)
	out.ensureMaps()
	return &out
}

// deepCopy copies structs, pointers, maps, slices and scalars. It is used
// for the document's own types only, which hold no cycles, channels or funcs.
func deepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return reflect.Zero(v.Type())
		}
		p := reflect.New(v.Type().Elem())
		p.Elem().Set(deepCopy(v.Elem()))
		return p
	case reflect.Struct:
		s := reflect.New(v.Type()).Elem()
		for i := range v.NumField() {
			s.Field(i).Set(deepCopy(v.Field(i)))
		}
		return s
	case reflect.Map:
		if v.IsNil() {
			return reflect.Zero(v.Type())
		}
		m := reflect.MakeMapWithSize(v.Type(), v.Len())
		iter := v.MapRange()
		for iter.Next() {
			m.SetMapIndex(iter.Key(), deepCopy(iter.Value()))
		}
		return m
	case reflect.Slice:
		if v.IsNil() {
			return reflect.Zero(v.Type())
		}
		s := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			s.Index(i).Set(deepCopy(v.Index(i)))
		}
		return s
	}
	c := reflect.New(v.Type()).Elem()
	c.Set(v)
	return c
}

// GenerateServerUID returns a new random server UID: 16 lowercase hex digits.
func GenerateServerUID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go >= 1.24)
	return hex.EncodeToString(b[:])
}
