package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestDeleteReferencedObjectIsRefusedNamingReferrers(t *testing.T) {
	cases := []struct {
		setup     func(c *Config)
		typ, name string
		want      string
	}{
		{nil, "MessageHub", "H1", `MessageHub "H1": cannot be deleted: referred to by Endpoint "E1" (MessageHub)`},
		{nil, "ConnectionPolicy", "CP1", `ConnectionPolicy "CP1": cannot be deleted: referred to by Endpoint "E1" (ConnectionPolicies)`},
		{func(c *Config) { c.Endpoints["E1"].TopicPolicies = List{"TP1"} }, "TopicPolicy", "TP1",
			`TopicPolicy "TP1": cannot be deleted: referred to by Endpoint "E1" (TopicPolicies)`},
		{func(c *Config) { c.Endpoints["E1"].SubscriptionPolicies = List{"SP1"} }, "SubscriptionPolicy", "SP1",
			`SubscriptionPolicy "SP1": cannot be deleted: referred to by Endpoint "E1" (SubscriptionPolicies)`},
		{func(c *Config) { c.Endpoints["E1"].QueuePolicies = List{"QP1"} }, "QueuePolicy", "QP1",
			`QueuePolicy "QP1": cannot be deleted: referred to by Endpoint "E1" (QueuePolicies)`},
		{nil, "SecurityProfile", "S1", `SecurityProfile "S1": cannot be deleted: referred to by TrustedCertificate "S1/ca.pem" (SecurityProfileName)`},
		{func(c *Config) { c.AdminEndpoint.SecurityProfile = "S1"; c.Endpoints["E1"].SecurityProfile = "S1" }, "SecurityProfile", "S1",
			`SecurityProfile "S1": cannot be deleted: referred to by AdminEndpoint (SecurityProfile), Endpoint "E1" (SecurityProfile), TrustedCertificate "S1/ca.pem" (SecurityProfileName)`},
		{nil, "CertificateProfile", "C1", `CertificateProfile "C1": cannot be deleted: referred to by SecurityProfile "S1" (CertificateProfile)`},
		{nil, "Group", "G1", `Group "G1": cannot be deleted: referred to by User "U1" (GroupMembership), Group "G2" (GroupMembership)`},
		{nil, "QueueManagerConnection", "QM1", `QueueManagerConnection "QM1": cannot be deleted: referred to by DestinationMappingRule "D1" (QueueManagerConnection)`},
	}
	for _, c := range cases {
		doc := fixture(t)
		if c.setup != nil {
			c.setup(doc)
		}
		before, _ := Marshal(doc)
		err := Delete(doc, c.typ, c.name)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Kind != InUse || err.Error() != c.want {
			t.Errorf("Delete %s %s:\n got: %v\nwant: %s", c.typ, c.name, err, c.want)
		}
		if after, _ := Marshal(doc); string(after) != string(before) {
			t.Errorf("Delete %s %s: document changed on refusal", c.typ, c.name)
		}
	}
}

func TestDelete(t *testing.T) {
	doc := fixture(t)
	for _, step := range []struct{ typ, name string }{
		{"DestinationMappingRule", "D1"},
		{"QueueManagerConnection", "QM1"},
		{"TrustedCertificate", "S1/ca.pem"},
		{"SecurityProfile", "S1"},
		{"CertificateProfile", "C1"},
		{"Queue", "Q1"},
		{"User", "U1"},
		{"Group", "G2"},
		{"Group", "G1"},
	} {
		if err := Delete(doc, step.typ, step.name); err != nil {
			t.Fatalf("Delete %s %s: %v", step.typ, step.name, err)
		}
		if _, err := ObjectProperties(doc, step.typ, step.name); err == nil {
			t.Fatalf("%s %s still there", step.typ, step.name)
		}
	}
	if err := doc.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		typ, name string
		kind      ErrorKind
	}{
		{"Queue", "Q1", NotFound},
		{"TrustedCertificate", "S1/ca.pem", NotFound},
		{"LogLevel", "", Invalid},
		{"Widget", "W", Unknown},
	} {
		var ve *ValidationError
		if err := Delete(doc, c.typ, c.name); !errors.As(err, &ve) || ve.Kind != c.kind {
			t.Errorf("Delete %s %q: %v, want kind %v", c.typ, c.name, err, c.kind)
		}
	}
}

// TestValidateDocument covers what only whole-document validation sees:
// documents built or edited without SetProperties.
func TestValidateDocument(t *testing.T) {
	cases := []struct {
		name string
		edit func(c *Config)
		want []string // every error, in order
	}{
		{"valid", func(c *Config) {}, nil},
		{"key differs from Name", func(c *Config) { c.Queues["Q1"].Name = "Q2" },
			[]string{`Queue "Q1": Name "Q2" does not match the object's key`}},
		{"nil object", func(c *Config) { c.Queues["Q3"] = nil }, []string{`Queue "Q3": object is null`}},
		{"several errors", func(c *Config) {
			c.Endpoints["E1"].Port = 0
			c.Endpoints["E1"].MessageHub = "Gone"
			c.LogLevel = "LOUD"
		}, []string{
			`LogLevel: LogLevel "LOUD" is not one of MIN, NORMAL, MAX`,
			`Endpoint "E1": Port 0 is out of range 1-65535`,
			`Endpoint "E1": MessageHub refers to MessageHub "Gone", which does not exist`,
		}},
		{"duplicate trusted certificate", func(c *Config) {
			c.TrustedCertificates = append(c.TrustedCertificates, c.TrustedCertificates[0])
		}, []string{`TrustedCertificate "S1/ca.pem": entry appears more than once`}},
		{"endpoints on distinct addresses share a port", func(c *Config) {
			c.Endpoints["E1"].Interface = "127.0.0.1"
			e2 := *c.Endpoints["E1"]
			e2.Name, e2.Interface = "E2", "127.0.0.2"
			c.Endpoints["E2"] = &e2
		}, nil},
		{"same address written two ways", func(c *Config) {
			c.Endpoints["E1"].Interface = "::1"
			e2 := *c.Endpoints["E1"]
			e2.Name, e2.Interface = "E2", "[::1]"
			c.Endpoints["E2"] = &e2
		}, []string{`Endpoint "E2": Port 1884 is already used by Endpoint "E1"`}},
		{"three group cycle reported once", func(c *Config) {
			c.Groups["G3"] = &Group{Name: "G3", GroupMembership: List{"G2"}}
			c.Groups["G1"].GroupMembership = List{"G3"}
		}, []string{`Group "G1": GroupMembership forms a cycle: G1 -> G3 -> G2 -> G1`}},
		{"HA enabled without NICs", func(c *Config) { c.HighAvailability.EnableHA = true }, []string{
			`HighAvailability: LocalReplicationNIC is required when EnableHA is true`,
			`HighAvailability: LocalDiscoveryNIC is required when EnableHA is true`,
			`HighAvailability: RemoteDiscoveryNIC is required when EnableHA is true`,
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := fixture(t)
			c.edit(doc)
			err := doc.Validate()
			var got []string
			if err != nil {
				if j, ok := err.(interface{ Unwrap() []error }); ok {
					for _, e := range j.Unwrap() {
						got = append(got, e.Error())
					}
				} else {
					got = []string{err.Error()}
				}
				var ve *ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("not a *ValidationError: %v", err)
				}
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

func TestEachTypeValidatesItself(t *testing.T) {
	objs := []interface{ Validate() error }{
		&MessageHub{Name: "h"},
		&Queue{Name: "q", MaxMessages: 1},
		&AdminEndpoint{Port: 1, Interface: "All"},
	}
	for _, o := range objs {
		if err := o.Validate(); err != nil {
			t.Errorf("%T: %v", o, err)
		}
	}
	bad := []struct {
		obj  interface{ Validate() error }
		want string
	}{
		{&MessageHub{}, `MessageHub: Name is required`},
		{&Endpoint{Name: "E1", Port: 70000, Interface: "All", Protocol: List{"MQTT"}, MessageHub: "H", ConnectionPolicies: List{"C"}, MaxMessageSize: "1KB"},
			`Endpoint "E1": Port 70000 is out of range 1-65535`},
		{&ConnectionPolicy{Name: "P", MaxSessionExpiryInterval: "unlimited"},
			`ConnectionPolicy "P": at least one of ClientID, UserID, GroupID, ClientAddress, CommonNames, Protocol is required`},
		{&TopicPolicy{Name: "T", Topic: "x", Filters: Filters{ClientID: "*"}, ActionList: List{"Publish"}, MaxMessages: 0, MaxMessagesBehavior: "RejectNewMessages", MaxMessageTimeToLive: "unlimited"},
			`TopicPolicy "T": MaxMessages 0 is out of range 1-20000000`},
		{&SubscriptionPolicy{Name: "S", Subscription: "x", Filters: Filters{ClientID: "*"}, ActionList: List{"Receive"}, MaxMessages: 1, MaxMessagesBehavior: "Drop"},
			`SubscriptionPolicy "S": MaxMessagesBehavior "Drop" is not one of RejectNewMessages, DiscardOldMessages`},
		{&QueuePolicy{Name: "Q", Queue: "x", Filters: Filters{ClientID: "*"}, MaxMessageTimeToLive: "unlimited"},
			`QueuePolicy "Q": ActionList is required`},
		{&User{Name: "u", Password: "plain"}, `User "u": Password is not an argon2id password hash`},
		{&Group{Name: "g", GroupMembership: List{"a,b"}}, `Group "g": GroupMembership "a,b" contains "a,b", which contains a comma`},
		{&AdminUser{Name: "a", Role: "User"}, `AdminUser "a": Password is required`},
		{&SecurityProfile{Name: "s", TLSEnabled: true, MinimumProtocolMethod: "TLSv1.2", Ciphers: "Best"},
			`SecurityProfile "s": CertificateProfile is required when TLSEnabled is true`},
		{&CertificateProfile{Name: "c", Certificate: "a/b", Key: "k"}, `CertificateProfile "c": Certificate "a/b" is not a plain file name`},
		{&TrustedCertificate{SecurityProfileName: "s"}, `TrustedCertificate "s/": TrustedCertificate is required`},
		{&QueueManagerConnection{Name: "q", QueueManagerName: "QM", ConnectionName: "h(1)"}, `QueueManagerConnection "q": ChannelName is required`},
		{&DestinationMappingRule{Name: "d", QueueManagerConnection: List{"q"}, RuleType: 1, Source: "s", Destination: "d", MaxMessages: 1}, `DestinationMappingRule "d": RetainedMessages is required`},
		{&HighAvailability{StartupMode: "AutoDetect", DiscoveryTimeout: 1, HeartbeatTimeout: 1}, `HighAvailability: DiscoveryTimeout 1 is out of range 10-2147483647`},
		{&AdminEndpoint{Port: 1, Interface: "eth0"}, `AdminEndpoint: Interface "eth0" is neither "All" nor an IP address`},
	}
	for _, b := range bad {
		err := b.obj.Validate()
		if err == nil || err.Error() != b.want {
			t.Errorf("%T:\n got: %v\nwant: %s", b.obj, err, b.want)
		}
	}
}

// TestPortConflictNamesTheChangedObject: of two listeners on one port, the
// error is reported on the one the change moved there, whichever comes
// first in the document's order; without a previous document, on the later.
func TestPortConflictNamesTheChangedObject(t *testing.T) {
	old := fixture(t)
	old.AdminEndpoint.Port = 9089
	e1 := old.Endpoints["E1"]
	if !e1.Enabled || e1.Interface != "All" {
		t.Fatalf("fixture E1: %+v", e1)
	}
	cases := []struct {
		name string
		edit func(c *Config)
		want string
	}{
		{"admin endpoint moved onto an endpoint's port", func(c *Config) { c.AdminEndpoint.Port = e1.Port },
			fmt.Sprintf(`AdminEndpoint: Port %d is already used by Endpoint "E1"`, e1.Port)},
		{"endpoint moved onto the admin port", func(c *Config) { c.Endpoints["E1"].Port = 9089 },
			`Endpoint "E1": Port 9089 is already used by AdminEndpoint`},
		{"new endpoint on a taken port", func(c *Config) {
			e0 := *c.Endpoints["E1"]
			e0.Name = "E0" // sorts before E1
			c.Endpoints["E0"] = &e0
		}, fmt.Sprintf(`Endpoint "E0": Port %d is already used by Endpoint "E1"`, e1.Port)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cand := old.Clone()
			tc.edit(cand)
			err := cand.ValidateChange(old)
			var ve *ValidationError
			if err == nil || err.Error() != tc.want || !errors.As(err, &ve) || ve.Property != "Port" || ve.Kind != Invalid {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
		})
	}
	// Without a previous document the later listener is blamed, as before.
	cand := old.Clone()
	cand.AdminEndpoint.Port = e1.Port
	if err := cand.Validate(); err == nil || err.Error() != fmt.Sprintf(`Endpoint "E1": Port %d is already used by AdminEndpoint`, e1.Port) {
		t.Fatalf("Validate: %v", err)
	}
}

// TestManagerUpdateReportsPortConflictOnChangedObject: Update (the path
// of every admin POST) validates the candidate as a change of the
// document in force.
func TestManagerUpdateReportsPortConflictOnChangedObject(t *testing.T) {
	m, _ := openTemp(t)
	var demo int
	for _, e := range m.Current().Endpoints {
		if e.Enabled {
			demo = e.Port
		}
	}
	if demo == 0 {
		t.Skip("the default configuration has no enabled endpoint")
	}
	_, err := m.Update(func(c *Config) error { c.AdminEndpoint.Port = demo; return nil })
	if err == nil || !strings.HasPrefix(err.Error(), "AdminEndpoint: Port ") {
		t.Fatalf("Update: %v", err)
	}
}
