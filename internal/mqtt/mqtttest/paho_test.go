package mqtttest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mochi-mqtt/server/v2/packets"
)

// TestPahoReceive: the raw client publishes at every QoS; a paho.golang
// (MQTT 5) and a paho.mqtt.golang (3.1.1) subscriber record what arrives.
func TestPahoReceive(t *testing.T) {
	addr := StartMosquitto(t)
	rec := NewRecorder() // shared: both clients record into it
	v5 := StartV5(t, addr, V5Options{Recorder: rec})
	v5.Subscribe("mqtttest/paho/in/#", 2)
	v3 := StartV311(t, addr, V311Options{Recorder: rec})
	v3.Subscribe("mqtttest/paho/in/#", 2)

	pub := Dial(t, addr, V5)
	pub.MustConnect(ConnectOptions{ClientID: ClientID(t), Clean: true})
	for qos := byte(0); qos <= 2; qos++ {
		pk := pub.PublishPacket(fmt.Sprintf("mqtttest/paho/in/%d", qos), []byte{'m', '0' + qos}, qos, false)
		pk.Properties.User = []packets.UserProperty{{Key: "qos", Val: fmt.Sprint(qos)}}
		if _, err := pub.PublishWith(pk); err != nil {
			t.Fatal(err)
		}
	}
	msgs := rec.WaitN(t, 6, DefaultTimeout)
	for _, c := range []string{v5.ID, v3.ID} {
		var got []Message
		for _, m := range msgs {
			if m.Client == c {
				got = append(got, m)
			}
		}
		if len(got) != 3 {
			t.Fatalf("%s received %d messages, want 3: %v", c, len(got), got)
		}
		for i, m := range got {
			if m.QoS != byte(i) || m.Topic != fmt.Sprintf("mqtttest/paho/in/%d", i) || m.Dup || m.Retain {
				t.Errorf("%s message %d: %v", c, i, m)
			}
			if (m.QoS > 0) != (m.PacketID != 0) {
				t.Errorf("%s message %d: QoS %d with packet id %d", c, i, m.QoS, m.PacketID)
			}
			if c == v5.ID {
				if m.Properties == nil || m.Properties.User.Get("qos") != fmt.Sprint(i) {
					t.Errorf("v5 message %d lost its user property: %+v", i, m.Properties)
				}
			} else if m.Properties != nil {
				t.Errorf("3.1.1 message %d has v5 properties", i)
			}
		}
	}
}

// TestPahoSend: the paho clients publish at every QoS; the raw client
// receives, acknowledges, and checks the flags.
func TestPahoSend(t *testing.T) {
	addr := StartMosquitto(t)
	sub := Dial(t, addr, V5)
	sub.MustConnect(ConnectOptions{ClientID: ClientID(t), Clean: true})
	sub.MustSubscribe(Sub("mqtttest/paho/out/#", 2))

	v5 := StartV5(t, addr, V5Options{})
	v3 := StartV311(t, addr, V311Options{})
	for qos := byte(0); qos <= 2; qos++ {
		topic := fmt.Sprintf("mqtttest/paho/out/v5/%d", qos)
		resp := v5.PublishWith(&paho.Publish{
			Topic: topic, Payload: []byte("from v5"), QoS: qos,
			Properties: &paho.PublishProperties{ContentType: "text/plain"},
		})
		if qos > 0 && (resp == nil || resp.ReasonCode != 0) {
			t.Errorf("QoS %d publish response %+v", qos, resp)
		}
		got := sub.ExpectMessage(topic, []byte("from v5"))
		if got.FixedHeader.Qos != qos || got.Properties.ContentType != "text/plain" {
			t.Errorf("got %s content type %q", Describe(got), got.Properties.ContentType)
		}

		topic = fmt.Sprintf("mqtttest/paho/out/v3/%d", qos)
		v3.Publish(topic, []byte("from 3.1.1"), qos, false)
		if got := sub.ExpectMessage(topic, []byte("from 3.1.1")); got.FixedHeader.Qos != qos {
			t.Errorf("got %s", Describe(got))
		}
	}
	sub.ExpectNothing(short)
}

// TestPahoRetained: a retained message reaches later subscribers of both
// versions with RETAIN set, and a live subscriber without it.
func TestPahoRetained(t *testing.T) {
	addr := StartMosquitto(t)
	live := StartV311(t, addr, V311Options{})
	live.Subscribe("mqtttest/paho/retained", 1)
	v5 := StartV5(t, addr, V5Options{})
	v5.Publish("mqtttest/paho/retained", []byte("state"), 1, true)
	if m := live.Rec.WaitN(t, 1, DefaultTimeout)[0]; m.Retain {
		t.Errorf("live subscriber got RETAIN=1: %v", m)
	}

	late5 := StartV5(t, addr, V5Options{})
	late5.Subscribe("mqtttest/paho/retained", 1)
	late3 := StartV311(t, addr, V311Options{})
	late3.Subscribe("mqtttest/paho/retained", 1)
	for _, rec := range []*Recorder{late5.Rec, late3.Rec} {
		m := rec.WaitN(t, 1, DefaultTimeout)[0]
		if !m.Retain || string(m.Payload) != "state" || m.QoS != 1 {
			t.Errorf("late subscriber got %v, want retained QoS 1 \"state\"", m)
		}
	}
}

// TestPahoSessionResume: a v5 client with a kept session receives, on
// reconnect, what was published while it was away.
func TestPahoSessionResume(t *testing.T) {
	addr := StartMosquitto(t)
	id := ClientID(t)
	first := StartV5(t, addr, V5Options{ClientID: id, KeepSession: true})
	first.Subscribe("mqtttest/paho/offline", 1)
	if err := first.Disconnect(0); err != nil {
		t.Fatal(err)
	}
	pub := Dial(t, addr, V311)
	pub.MustConnect(ConnectOptions{ClientID: ClientID(t), Clean: true})
	for i := 0; i < 5; i++ {
		pub.MustPublish("mqtttest/paho/offline", []byte{byte('a' + i)}, 1, false)
	}
	second := StartV5(t, addr, V5Options{ClientID: id, KeepSession: true})
	if !second.Connack.SessionPresent {
		t.Errorf("resumed without session present: %v", second.Connack)
	}
	msgs := second.Rec.WaitN(t, 5, DefaultTimeout)
	for i, m := range msgs {
		if string(m.Payload) != string(rune('a'+i)) {
			t.Errorf("offline message %d is %v, want %q (in order)", i, m, rune('a'+i))
		}
	}
}

// TestPahoRefused: DialV5 reports a refused connection with its CONNACK.
func TestPahoRefused(t *testing.T) {
	addr := StartMosquitto(t)
	c, err := DialV5(t, addr, V5Options{Connect: func(cp *paho.Connect) {
		// An authentication method the broker does not know.
		cp.Properties = &paho.ConnectProperties{AuthMethod: "mqtttest-unknown"}
	}})
	if err == nil {
		t.Fatal("connect with an unknown authentication method succeeded")
	}
	if c == nil || c.Connack == nil || c.Connack.ReasonCode < 0x80 {
		t.Errorf("refusal without an error CONNACK: %v", err)
	}
}

func TestRecorderWait(t *testing.T) {
	rec := NewRecorder()
	go func() {
		for i := 0; i < 3; i++ {
			rec.Add(Message{Client: "c", Topic: "t", Payload: []byte{byte('0' + i)}})
		}
	}()
	if msgs := rec.WaitN(t, 3, DefaultTimeout); len(msgs) != 3 || len(rec.On("t")) != 3 {
		t.Errorf("got %v", msgs)
	}

	fake := &fakeTB{TB: t}
	rec.WaitFor(fake, 50*time.Millisecond, "a message on topic u", func(m []Message) bool {
		for _, x := range m {
			if x.Topic == "u" {
				return true
			}
		}
		return false
	})
	if !fake.failed || !strings.Contains(fake.msg, "a message on topic u") || !strings.Contains(fake.msg, `topic="t"`) {
		t.Errorf("WaitFor on timeout: failed=%v msg=%q, want a failure naming the condition and listing what came", fake.failed, fake.msg)
	}
}

func TestClientID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		id := ClientID(t)
		if len(id) == 0 || len(id) > 23 || seen[id] {
			t.Fatalf("ClientID %q: empty, too long or repeated", id)
		}
		for _, r := range id {
			if !strings.ContainsRune("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", r) {
				t.Fatalf("ClientID %q has %q", id, r)
			}
		}
		seen[id] = true
	}
}
