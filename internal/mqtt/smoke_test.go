package mqtt

import (
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

func TestPublishSubscribeAllQoS(t *testing.T) {
	ts := startServer(t)
	for _, v := range []byte{4, 5} {
		for qos := byte(0); qos <= 2; qos++ {
			sub := mqtttest.Dial(t, ts.addr, v)
			sub.MustConnect(mqtttest.ConnectOptions{ClientID: "sub", Clean: true})
			sub.MustSubscribe(mqtttest.Sub("a/+", 2))
			pub := mqtttest.Dial(t, ts.addr, v)
			pub.MustConnect(mqtttest.ConnectOptions{ClientID: "pub", Clean: true})
			pub.MustPublish("a/b", []byte("hello"), qos, false)
			got := sub.ExpectMessage("a/b", []byte("hello"))
			if got.FixedHeader.Qos != qos {
				t.Fatalf("v%d: delivered at QoS %d, want %d", v, got.FixedHeader.Qos, qos)
			}
			if got.FixedHeader.Dup {
				t.Fatalf("v%d: DUP set on first delivery", v)
			}
			sub.MustAcknowledge(got)
			pub.Disconnect(0)
			sub.Disconnect(0)
		}
	}
	_ = packets.Publish
}
