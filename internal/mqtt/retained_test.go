package mqtt

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
)

// A new subscription gets every matching retained message (3.1.1
// [MQTT-3.3.1-6], 5.0 [MQTT-3.3.1-9]), also more than its MaxMessages, in
// topic order whatever the order they were published in.
func TestRetainedAllMatchingInTopicOrder(t *testing.T) {
	for _, behavior := range []string{"RejectNewMessages", "DiscardOldMessages"} {
		t.Run(behavior, func(t *testing.T) {
			ts := startServer(t, withTopicLimit(10, behavior))
			pub := mqtttest.Dial(t, ts.addr, 5)
			pub.MustConnect(mqtttest.ConnectOptions{ClientID: "retainer", Clean: true})
			var want []string
			for i := range 30 {
				want = append(want, fmt.Sprintf("ret/%02d", i))
			}
			for _, i := range rand.Perm(len(want)) {
				pub.MustPublish(want[i], []byte(want[i]), 1, true)
			}
			pub.MustPublish("other/x", []byte("no match"), 1, true)
			for _, v := range []byte{4, 5} {
				sub := mqtttest.Dial(t, ts.addr, v)
				sub.MustConnect(mqtttest.ConnectOptions{ClientID: fmt.Sprint("reader", v), Clean: true})
				sub.MustSubscribe(mqtttest.Sub("ret/+", 1))
				var got []string
				for range want {
					pk := sub.ExpectPublish()
					if !pk.FixedHeader.Retain {
						t.Fatalf("v%d: %s without RETAIN", v, pk.TopicName)
					}
					got = append(got, pk.TopicName)
					sub.MustAcknowledge(pk)
				}
				if !slices.Equal(got, want) {
					t.Errorf("v%d: retained messages in the order\n%q\nwant topic order\n%q", v, got, want)
				}
				// Nothing more: a PINGRESP, queued behind anything else
				// the acknowledgements let out, comes next.
				sub.MustSend(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
				sub.Expect(packets.Pingresp)
			}
		})
	}
}
