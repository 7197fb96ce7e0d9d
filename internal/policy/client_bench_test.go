package policy

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/mqsight/mqsight/internal/config"
)

// BenchmarkMayPublish is the per-PUBLISH policy check (the engine makes
// it under its routing lock) with 20 TopicPolicies on the endpoint, the
// last one granting, with a ${ClientID} pattern and an address filter.
func BenchmarkMayPublish(b *testing.B) {
	c := config.Default()
	var names config.List
	for i := range 19 {
		name := fmt.Sprint("TP", i)
		if err := config.SetProperties(c, "TopicPolicy", name, map[string]any{"ClientID": fmt.Sprint("other", i, "*"),
			"Topic": fmt.Sprint("other/", i, "/*"), "ActionList": "Publish"}); err != nil {
			b.Fatal(err)
		}
		names = append(names, name)
	}
	if err := config.SetProperties(c, "TopicPolicy", "Own", map[string]any{"ClientID": "dev*", "ClientAddress": "10.0.0.0-10.255.255.255",
		"Topic": "devices/${ClientID}/*", "ActionList": "Publish"}); err != nil {
		b.Fatal(err)
	}
	c.Endpoints["DemoEndpoint"].TopicPolicies = append(names, "Own")
	cl := &client{id: identity{endpoint: "DemoEndpoint", clientID: "dev42", protocol: "MQTT", addr: netip.MustParseAddr("10.1.2.3")}}
	if !cl.MayPublish(c, "devices/dev42/temp") {
		b.Fatal("denied")
	}
	b.ReportAllocs()
	for b.Loop() {
		cl.MayPublish(c, "devices/dev42/temp")
	}
}
