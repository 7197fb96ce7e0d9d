package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// TestDefaultGolden pins the canonical form of Default() (with a fixed
// ServerUID) to testdata/default.json.
func TestDefaultGolden(t *testing.T) {
	c := Default()
	c.ServerUID = "0123456789abcdef"
	c.Generation = 1
	got, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("testdata/default.json", got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/default.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Marshal(Default()) differs from testdata/default.json (run with -update if intended):\n%s", got)
	}
	back, err := Unmarshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatal("Unmarshal(default.json) != Default()")
	}
	if err := back.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestRoundTripIsByteIdentical(t *testing.T) {
	c := fixture(t)
	c.QueueManagerConnections["QM1"].ChannelUserPassword = `s<e>c&"r"et`
	c.MessageHubs["H1"].Description = "ünïcödé <b>&</b>\n\ttab"
	b, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatal("Unmarshal(Marshal(c)) != c")
	}
	b2, _ := Marshal(back)
	if !bytes.Equal(b, b2) {
		t.Fatal("Marshal(Unmarshal(b)) != b")
	}
	if !bytes.Contains(b, []byte("<b>&</b>")) {
		t.Fatal("HTML characters escaped; canonical form writes them as they are")
	}
	if !bytes.HasPrefix(b, []byte("{\n  \"FormatVersion\": 1,\n  \"Generation\": ")) || !bytes.HasSuffix(b, []byte("}\n")) {
		t.Fatalf("unexpected framing:\n%s", b)
	}
}

// TestEqualDocumentsMarshalIdentically builds the same configuration in two
// different orders (and with nil versus empty lists and maps).
func TestEqualDocumentsMarshalIdentically(t *testing.T) {
	a := Default()
	b := Default()
	for _, n := range []string{"Q1", "Q2", "Q3"} {
		if err := SetProperties(a, "Queue", n, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"Q3", "Q1", "Q2"} {
		if err := SetProperties(b, "Queue", n, nil); err != nil {
			t.Fatal(err)
		}
	}
	b.Users = nil
	b.Endpoints["DemoEndpoint"].QueuePolicies = nil
	a.Endpoints["DemoEndpoint"].QueuePolicies = List{}
	tcs := []TrustedCertificate{{"P", "b.pem"}, {"P", "a.pem"}}
	a.TrustedCertificates = tcs
	b.TrustedCertificates = []TrustedCertificate{tcs[1], tcs[0]}
	ma, _ := Marshal(a)
	mb, _ := Marshal(b)
	if !bytes.Equal(ma, mb) {
		t.Fatalf("equal documents marshal differently:\n%s\n---\n%s", ma, mb)
	}
	if a.TrustedCertificates[0].TrustedCertificate != "b.pem" {
		t.Fatal("Marshal modified its argument")
	}
}

func TestTruncatedDocumentIsCorrupt(t *testing.T) {
	b, err := Marshal(fixture(t))
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(b) {
		_, err := Unmarshal(b[:n])
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("prefix of %d/%d bytes: %v, want ErrCorrupt", n, len(b), err)
		}
	}
}

func TestUnmarshalRefusesMalformedDocuments(t *testing.T) {
	good, _ := Marshal(Default())
	replace := func(old, new string) []byte {
		if !bytes.Contains(good, []byte(old)) {
			t.Fatalf("golden text %q not found", old)
		}
		return bytes.Replace(good, []byte(old), []byte(new), 1)
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"not json", []byte("hello\n"), "invalid character"},
		{"array", []byte("[]\n"), "cannot unmarshal array"},
		{"no version", []byte("{}\n"), "no FormatVersion"},
		{"version zero", replace(`"FormatVersion": 1`, `"FormatVersion": 0`), "FormatVersion 0 is not valid"},
		{"unknown top field", replace(`"Generation"`, `"Colour": 1, "Generation"`), `unknown field "Colour"`},
		{"unknown object field", replace(`"Name": "DemoHub",`, `"Name": "DemoHub", "Colour": 1,`), `unknown field "Colour"`},
		{"unknown singleton field", replace(`"EnableHA": false,`, `"EnableHA": false, "Colour": 1,`), `unknown field "Colour"`},
		{"wrong type", replace(`"Port": 1883`, `"Port": "1883"`), "cannot unmarshal string"},
		{"null object", replace(`"DemoHub": {`, `"X": null, "DemoHub": {`), "object is null"},
		{"trailing data", append(bytes.TrimSuffix(good, []byte("\n")), []byte(" {}\n")...), "invalid character"},
	}
	for _, c := range cases {
		_, err := Unmarshal(c.data)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrCorrupt mentioning %q", c.name, err, c.want)
		}
	}
}

func TestUnmarshalRefusesNewerFormat(t *testing.T) {
	good, _ := Marshal(Default())
	newer := bytes.Replace(good, []byte(`"FormatVersion": 1,`), []byte(`"FormatVersion": 2, "FutureThing": {},`), 1)
	_, err := Unmarshal(newer)
	if !errors.Is(err, ErrNewerFormat) || errors.Is(err, ErrCorrupt) ||
		!strings.Contains(err.Error(), "format version 2") || !strings.Contains(err.Error(), "up to version 1") {
		t.Fatalf("newer format: %v", err)
	}
}

// TestUnmarshalFillsMissingPropertiesWithDefaults: a property absent from the
// file (an older or hand-written document) takes its default, so a
// default-true boolean is not silently false.
func TestUnmarshalFillsMissingPropertiesWithDefaults(t *testing.T) {
	doc := []byte(`{"FormatVersion": 1, "Generation": 3,
 "MessageHub": {"H": {"Name": "H"}},
 "ConnectionPolicy": {"C": {"Name": "C", "ClientID": "*"}},
 "Endpoint": {"E": {"Name": "E", "Port": 1999, "MessageHub": "H", "ConnectionPolicies": ["C"]}},
 "HighAvailability": {"EnableHA": false}
}
`)
	c, err := Unmarshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	e := c.Endpoints["E"]
	if !e.Enabled || e.Interface != "All" || e.MaxMessageSize != "1024KB" || !e.Protocol.Contains("All") {
		t.Fatalf("endpoint defaults not filled: %+v", e)
	}
	if c.HighAvailability.DiscoveryTimeout != 600 || c.AdminEndpoint.Port != 9089 || c.LogLevel != "NORMAL" {
		t.Fatalf("singleton defaults not filled: %+v %+v %q", c.HighAvailability, c.AdminEndpoint, c.LogLevel)
	}
	if !c.ConnectionPolicies["C"].AllowDurable {
		t.Fatal("AllowDurable default not filled")
	}
	if c.Generation != 3 {
		t.Fatalf("Generation = %d", c.Generation)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestExplicitFalseSurvivesRoundTrip(t *testing.T) {
	c := fixture(t)
	if err := SetProperties(c, "Endpoint", "E1", map[string]any{"Enabled": false}); err != nil {
		t.Fatal(err)
	}
	b, _ := Marshal(c)
	back, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.Endpoints["E1"].Enabled {
		t.Fatal("explicit Enabled=false read back as true")
	}
}
