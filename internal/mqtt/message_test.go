package mqtt

import (
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

func TestEncodePropsKeepsOnlyMessageProperties(t *testing.T) {
	// Nothing to keep: no bytes, whatever per-delivery properties are set.
	for _, p := range []packets.Properties{
		{},
		{SubscriptionIdentifier: []int{3}, TopicAlias: 2, TopicAliasFlag: true, MessageExpiryInterval: 60},
	} {
		if b := encodeProps(p); b != nil {
			t.Fatalf("encodeProps(%+v) = % x, want nil", p, b)
		}
	}
	in := packets.Properties{
		ContentType:     "text/plain",
		ResponseTopic:   "r/t",
		CorrelationData: []byte{1, 2},
		User:            []packets.UserProperty{{Key: "k", Val: "v"}},
		TopicAlias:      5, TopicAliasFlag: true,
	}
	b := encodeProps(in)
	if b == nil {
		t.Fatal("message properties were dropped")
	}
	out, err := decodeProps(b)
	if err != nil {
		t.Fatal(err)
	}
	if out.ContentType != "text/plain" || out.ResponseTopic != "r/t" || string(out.CorrelationData) != "\x01\x02" ||
		len(out.User) != 1 || out.User[0].Val != "v" || out.TopicAlias != 0 {
		t.Fatalf("round trip gave %+v", out)
	}
}

// BenchmarkMessageRecord is the store record of a QoS 1 message published
// by a 3.1.1 client (no properties), built once per durable message.
func BenchmarkMessageRecord(b *testing.B) {
	m := &message{id: 1, topic: "bench/t", payload: make([]byte, 64), qos: 1}
	b.ReportAllocs()
	for b.Loop() {
		_ = m.record().Encode()
	}
}
