package config

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// fixtureOnce builds, once per test binary, a valid document with one object
// of every type (hashing passwords is the slow part); tests clone it.
var fixtureOnce = sync.OnceValues(func() (*Config, error) {
	c := Default()
	c.ServerUID = "0123456789abcdef"
	steps := []struct {
		typ, name string
		props     map[string]any
	}{
		{"MessageHub", "H1", nil},
		{"ConnectionPolicy", "CP1", map[string]any{"ClientID": "*"}},
		{"ConnectionPolicy", "CP2", map[string]any{"UserID": "u*"}},
		{"TopicPolicy", "TP1", map[string]any{"Topic": "a/*", "ClientID": "*", "ActionList": "Publish"}},
		{"SubscriptionPolicy", "SP1", map[string]any{"Subscription": "s*", "ClientID": "*", "ActionList": "Receive"}},
		{"QueuePolicy", "QP1", map[string]any{"Queue": "q*", "ClientID": "*", "ActionList": "Send"}},
		{"Endpoint", "E1", map[string]any{"Port": 1884, "MessageHub": "H1", "ConnectionPolicies": "CP1"}},
		{"Queue", "Q1", nil},
		{"Group", "G1", nil},
		{"Group", "G2", map[string]any{"GroupMembership": "G1"}},
		{"User", "U1", map[string]any{"Password": "pw", "GroupMembership": "G1"}},
		{"AdminUser", "A1", map[string]any{"Password": "pw", "Role": "SystemAdministrator"}},
		{"CertificateProfile", "C1", map[string]any{"Certificate": "c.pem", "Key": "k.pem"}},
		{"SecurityProfile", "S1", map[string]any{"CertificateProfile": "C1"}},
		{"TrustedCertificate", "", map[string]any{"SecurityProfileName": "S1", "TrustedCertificate": "ca.pem"}},
		{"QueueManagerConnection", "QM1", map[string]any{"QueueManagerName": "QM1", "ConnectionName": "mq(1414)", "ChannelName": "CH"}},
		{"DestinationMappingRule", "D1", map[string]any{"QueueManagerConnection": "QM1", "RuleType": 1, "Source": "a", "Destination": "b"}},
	}
	for _, s := range steps {
		if err := SetProperties(c, s.typ, s.name, s.props); err != nil {
			return nil, err
		}
	}
	return c, c.Validate()
})

func fixture(t testing.TB) *Config {
	t.Helper()
	c, err := fixtureOnce()
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return c.Clone()
}

type propCase struct {
	line      int
	typ, name string
	props     map[string]any
	want      string         // "ok" or "<Kind>: <text>"
	wantProps map[string]any // subset of ObjectProperties after an ok
}

func readPropCases(t *testing.T) []propCase {
	data, err := os.ReadFile("testdata/properties.txt")
	if err != nil {
		t.Fatal(err)
	}
	var cases []propCase
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		typ, rest, _ := strings.Cut(line, " ")
		c := propCase{line: n, typ: typ}
		dec := json.NewDecoder(strings.NewReader(rest))
		dec.UseNumber()
		if err := dec.Decode(&c.name); err != nil {
			t.Fatalf("line %d: name: %v", n, err)
		}
		if err := dec.Decode(&c.props); err != nil {
			t.Fatalf("line %d: props: %v", n, err)
		}
		tail := strings.TrimSpace(rest[dec.InputOffset():])
		want, ok := strings.CutPrefix(tail, "=> ")
		if !ok {
			t.Fatalf("line %d: no =>", n)
		}
		if sub, ok := strings.CutPrefix(want, "ok "); ok {
			want = "ok"
			d := json.NewDecoder(strings.NewReader(sub))
			d.UseNumber()
			if err := d.Decode(&c.wantProps); err != nil {
				t.Fatalf("line %d: expected properties: %v", n, err)
			}
		}
		c.want = want
		cases = append(cases, c)
	}
	return cases
}

// TestPropertyTable runs testdata/properties.txt: every property of every
// type with accepted and refused values and the exact error text.
func TestPropertyTable(t *testing.T) {
	for _, c := range readPropCases(t) {
		t.Run(fmt.Sprintf("line%d", c.line), func(t *testing.T) {
			doc := fixture(t)
			err := SetProperties(doc, c.typ, c.name, c.props)
			if err == nil {
				err = doc.Validate()
			}
			got := "ok"
			if err != nil {
				var ve *ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("error is not a *ValidationError: %v", err)
				}
				got = ve.Kind.String() + ": " + ve.Error()
			}
			if got != c.want {
				t.Fatalf("%s %q %v\n got: %s\nwant: %s", c.typ, c.name, c.props, got, c.want)
			}
			if got != "ok" || c.wantProps == nil {
				return
			}
			name := c.name
			props, err := ObjectProperties(doc, c.typ, name)
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range c.wantProps {
				if fmt.Sprint(props[k]) != fmt.Sprint(want) {
					t.Errorf("%s = %#v, want %v", k, props[k], want)
				}
			}
		})
	}
}

// TestPropertyTableCoversEveryProperty makes the table above prove the
// acceptance rule "every property: a valid value accepted, an invalid one
// refused".
func TestPropertyTableCoversEveryProperty(t *testing.T) {
	okSeen, errSeen := map[string]bool{}, map[string]bool{}
	for _, c := range readPropCases(t) {
		for k := range c.props {
			if c.want == "ok" {
				okSeen[c.typ+"."+k] = true
			} else {
				errSeen[c.typ+"."+k] = true
			}
		}
	}
	for _, typ := range Types() {
		for _, p := range typ.Properties {
			key := typ.Name + "." + p.Name
			if p.Name == "Name" {
				continue // names are the second column of many lines
			}
			if !okSeen[key] && !p.ReadOnly {
				t.Errorf("%s: no line accepts a value", key)
			}
			if !errSeen[key] {
				t.Errorf("%s: no line refuses a value", key)
			}
		}
	}
}

func TestSetPropertiesLeavesDocumentUnchangedOnError(t *testing.T) {
	doc := fixture(t)
	before, _ := Marshal(doc)
	for _, c := range []struct {
		typ, name string
		props     map[string]any
	}{
		{"Endpoint", "E1", map[string]any{"Port": 1, "Enabled": "x"}},        // first valid, second not
		{"Endpoint", "E1", map[string]any{"Description": "d", "Port": 0}},    // value valid, range not
		{"Endpoint", "E9", map[string]any{"Port": 1885, "MessageHub": "H1"}}, // create missing required
		{"HighAvailability", "", map[string]any{"EnableHA": true}},
		{"TrustedCertificate", "", map[string]any{"SecurityProfileName": "S1"}},
		{"User", "U1", map[string]any{"Password": "new", "Colour": 1}},
	} {
		if err := SetProperties(doc, c.typ, c.name, c.props); err == nil {
			t.Fatalf("%s %s %v: accepted", c.typ, c.name, c.props)
		}
		after, _ := Marshal(doc)
		if !bytes.Equal(before, after) {
			t.Fatalf("%s %s %v: document changed on error", c.typ, c.name, c.props)
		}
	}
}

func TestNameLengthLimit(t *testing.T) {
	doc := fixture(t)
	if err := SetProperties(doc, "MessageHub", strings.Repeat("h", 256), nil); err != nil {
		t.Fatalf("256-byte name refused: %v", err)
	}
	long := strings.Repeat("h", 257)
	err := SetProperties(doc, "MessageHub", long, nil)
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Kind != Invalid || !strings.Contains(ve.Msg, "is longer than 256 bytes") {
		t.Fatalf("257-byte name: %v", err)
	}
}

func TestPasswordsAreHashedAndNeverRendered(t *testing.T) {
	doc := fixture(t)
	const plain = "correct horse battery staple"
	if err := SetProperties(doc, "User", "U1", map[string]any{"Password": plain}); err != nil {
		t.Fatal(err)
	}
	if err := SetProperties(doc, "AdminUser", "A1", map[string]any{"Password": plain}); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{doc.Users["U1"].Password, doc.AdminUsers["A1"].Password} {
		if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || !VerifyPassword(h, plain) {
			t.Fatalf("stored password %q is not an argon2id hash of the plaintext", h)
		}
	}
	b, _ := Marshal(doc)
	if bytes.Contains(b, []byte(plain)) {
		t.Fatal("document holds the plaintext password")
	}
	for _, typ := range []string{"User", "AdminUser"} {
		name := map[string]string{"User": "U1", "AdminUser": "A1"}[typ]
		props, err := ObjectProperties(doc, typ, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := props["Password"]; ok {
			t.Fatalf("%s rendered with its Password", typ)
		}
	}
	// A plaintext put straight into the document is refused by validation.
	doc.Users["U1"].Password = plain
	err := doc.Validate()
	if err == nil || strings.Contains(err.Error(), plain) || !strings.Contains(err.Error(), `User "U1": Password is not an argon2id password hash`) {
		t.Fatalf("plaintext stored password: %v", err)
	}
}

func TestSecretNeverRenderedNorInErrors(t *testing.T) {
	doc := fixture(t)
	const secret = "mq-Secret-0042"
	if err := SetProperties(doc, "QueueManagerConnection", "QM1", map[string]any{"ChannelUserPassword": secret}); err != nil {
		t.Fatal(err)
	}
	if doc.QueueManagerConnections["QM1"].ChannelUserPassword != secret {
		t.Fatal("ChannelUserPassword not kept reversibly")
	}
	props, _ := ObjectProperties(doc, "QueueManagerConnection", "QM1")
	if _, ok := props["ChannelUserPassword"]; ok {
		t.Fatal("ChannelUserPassword rendered")
	}
	long := secret + strings.Repeat("x", 1024)
	err := SetProperties(doc, "QueueManagerConnection", "QM1", map[string]any{"ChannelUserPassword": long})
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("over-long secret: %v", err)
	}
	err = SetProperties(doc, "User", "U1", map[string]any{"Password": long})
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("over-long password: %v", err)
	}
}

func TestObjectPropertiesShape(t *testing.T) {
	doc := fixture(t)
	got, err := ObjectProperties(doc, "Endpoint", "DemoEndpoint")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"Name": "DemoEndpoint", "Description": "Demo MQTT endpoint", "Port": 1883, "Interface": "All",
		"Protocol": "MQTT", "Enabled": true, "MessageHub": "DemoHub", "SecurityProfile": "",
		"ConnectionPolicies": "DemoConnectionPolicy", "TopicPolicies": "DemoTopicPolicy",
		"SubscriptionPolicies": "", "QueuePolicies": "DemoQueuePolicy", "MaxMessageSize": "1024KB",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v\nwant %#v", got, want)
	}
	got, err = ObjectProperties(doc, "LogLevel", "")
	if err != nil || !reflect.DeepEqual(got, map[string]any{"LogLevel": "NORMAL"}) {
		t.Fatalf("LogLevel: %v %v", got, err)
	}
	for _, c := range []struct{ typ, name string }{{"Endpoint", "Nope"}, {"LogLevel", "x"}, {"TrustedCertificate", "S1/nope.pem"}} {
		_, err := ObjectProperties(doc, c.typ, c.name)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Kind != NotFound {
			t.Fatalf("%s %q: %v", c.typ, c.name, err)
		}
	}
}

func TestObjectNames(t *testing.T) {
	doc := fixture(t)
	got, err := ObjectNames(doc, "ConnectionPolicy")
	if err != nil || !reflect.DeepEqual(got, []string{"CP1", "CP2", "DemoConnectionPolicy"}) {
		t.Fatalf("ConnectionPolicy names: %v %v", got, err)
	}
	got, err = ObjectNames(doc, "TrustedCertificate")
	if err != nil || !reflect.DeepEqual(got, []string{"S1/ca.pem"}) {
		t.Fatalf("TrustedCertificate names: %v %v", got, err)
	}
	if _, err := ObjectNames(doc, "Widget"); err == nil {
		t.Fatal("unknown type accepted")
	}
}

func TestJSONNumbersFromUseNumber(t *testing.T) {
	doc := fixture(t)
	if err := SetProperties(doc, "Endpoint", "E1", map[string]any{"Port": json.Number("1890")}); err != nil {
		t.Fatal(err)
	}
	if doc.Endpoints["E1"].Port != 1890 {
		t.Fatalf("Port = %d", doc.Endpoints["E1"].Port)
	}
	err := SetProperties(doc, "Endpoint", "E1", map[string]any{"Port": json.Number("99999999999999999999")})
	if err == nil || err.Error() != `Endpoint "E1": Port 99999999999999999999 is out of range 1-65535` {
		t.Fatalf("huge json.Number: %v", err)
	}
}
