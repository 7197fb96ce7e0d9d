package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzSetProperties feeds arbitrary JSON objects to SetProperties on the
// default document: it must not panic; on error the document is unchanged
// and the error is a *ValidationError; on success the document still has a
// stable canonical form and the object renders.
func FuzzSetProperties(f *testing.F) {
	seeds := []struct{ typ, name, props string }{
		{"Endpoint", "DemoEndpoint", `{"Port": 1884}`},
		{"Endpoint", "DemoEndpoint", `{"Port": 70000}`},
		{"Endpoint", "E2", `{"Port": 1885, "MessageHub": "DemoHub", "ConnectionPolicies": "DemoConnectionPolicy,X"}`},
		{"Endpoint", "E2", `{"Port": 1885, "Protocol": ["MQTT", 1]}`},
		{"TopicPolicy", "DemoTopicPolicy", `{"Topic": "a/${ClientID}/*", "ActionList": null}`},
		{"ConnectionPolicy", "CP", `{"ClientAddress": "10.0.0.1-10.0.0.2,[::1]", "MaxSessionExpiryInterval": 1e300}`},
		{"HighAvailability", "", `{"EnableHA": true, "DiscoveryTimeout": -1}`},
		{"LogLevel", "", `{"LogLevel": "max"}`},
		{"ServerUID", "", `{"ServerUID": "x"}`},
		{"TrustedCertificate", "", `{"SecurityProfileName": "S", "TrustedCertificate": "ca.pem"}`},
		{"User", "u", `{"Password": "pw", "GroupMembership": ",,"}`},
		{"MessageHub", "DemoHub", `{"Name": "Other", "Description": "\u0000"}`},
		{"Widget", "w", `{}`},
		{"Queue", "q+", `{"MaxMessages": 1.5}`},
	}
	for _, s := range seeds {
		f.Add(s.typ, s.name, []byte(s.props))
	}
	f.Fuzz(func(t *testing.T, typ, name string, raw []byte) {
		var props map[string]any
		if err := json.Unmarshal(raw, &props); err != nil {
			return
		}
		doc := Default()
		doc.ServerUID = "0123456789abcdef"
		before, err := Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		err = SetProperties(doc, typ, name, props)
		after, merr := Marshal(doc)
		if merr != nil {
			t.Fatal(merr)
		}
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error is not a *ValidationError: %v", err)
			}
			if !bytes.Equal(before, after) {
				t.Fatalf("document changed by a refused SetProperties: %v", err)
			}
			return
		}
		back, err := Unmarshal(after)
		if err != nil {
			t.Fatalf("accepted document does not decode: %v", err)
		}
		again, _ := Marshal(back)
		if !bytes.Equal(again, after) {
			t.Fatal("accepted document is not canonical")
		}
		if rt, _ := LookupType(typ); !rt.List {
			if _, err := ObjectProperties(doc, typ, name); err != nil {
				t.Fatalf("accepted object does not render: %v", err)
			}
		}
	})
}
