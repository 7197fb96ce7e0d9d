package topic

import (
	"errors"
	"testing"
)

func TestParseSubscription(t *testing.T) {
	tests := []struct {
		id     string
		in     string
		want   Subscription
		detail error
	}{
		{"plain", "a/b", Subscription{Filter: "a/b"}, nil},
		{"plain", "$SYS/#", Subscription{Filter: "$SYS/#"}, nil},
		{"plain", "$shared/g/a", Subscription{Filter: "$shared/g/a"}, nil},
		{"plain", "a/$share/g/a", Subscription{Filter: "a/$share/g/a"}, nil},
		{"MQTT-4.8.2-1", "$share/consumer1/sport/tennis/+", Subscription{ShareMQTT, "consumer1", "sport/tennis/+"}, nil},
		{"MQTT-4.8.2-1", "$share/consumer2/sport/tennis/+", Subscription{ShareMQTT, "consumer2", "sport/tennis/+"}, nil},
		{"MQTT-4.8.2-1", "$share/g/#", Subscription{ShareMQTT, "g", "#"}, nil},
		{"MQTT-4.8.2-1", "$share/g//", Subscription{ShareMQTT, "g", "/"}, nil},
		{"MQTT-4.8.2-1", "$share/g/$SYS/x", Subscription{ShareMQTT, "g", "$SYS/x"}, nil},
		{"MQTT-4.8.2-1", "$share", Subscription{}, ErrBadShareName},
		{"MQTT-4.8.2-1", "$share/", Subscription{}, ErrBadShareName},
		{"MQTT-4.8.2-1", "$share//a", Subscription{}, ErrBadShareName},
		{"MQTT-4.8.2-2", "$share/+/a", Subscription{}, ErrBadShareName},
		{"MQTT-4.8.2-2", "$share/#", Subscription{}, ErrBadShareName},
		{"MQTT-4.8.2-2", "$share/g+/a", Subscription{}, ErrMisplacedPlus}, // caught by filter syntax first
		{"MQTT-4.8.2-2", "$share/g", Subscription{}, ErrNoSharedFilter},
		{"MQTT-4.8.2-2", "$share/g/", Subscription{}, ErrNoSharedFilter},
		{"MQTT-4.7.1-2", "$share/g/a#", Subscription{}, ErrMisplacedHash},
		{"MessageSight", "$SharedSubscription/sub1/a/+", Subscription{ShareMessageSight, "sub1", "a/+"}, nil},
		{"MessageSight", "$SharedSubscription//a", Subscription{}, ErrBadShareName},
		{"MessageSight", "$SharedSubscription/sub1", Subscription{}, ErrNoSharedFilter},
		{"MQTT-4.7.3-1", "", Subscription{}, ErrEmpty},
	}
	for _, tt := range tests {
		got, err := ParseSubscription(tt.in)
		if tt.detail != nil {
			if !errors.Is(err, ErrInvalidFilter) || !errors.Is(err, tt.detail) {
				t.Errorf("[%s] ParseSubscription(%q) error = %v, want ErrInvalidFilter and %v", tt.id, tt.in, err, tt.detail)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("[%s] ParseSubscription(%q) = %+v, %v; want %+v", tt.id, tt.in, got, err, tt.want)
			continue
		}
		if got.String() != tt.in {
			t.Errorf("[%s] %+v.String() = %q, want the input back", tt.id, got, got.String())
		}
		if got.Shared() != (tt.want.Form != NotShared) {
			t.Errorf("[%s] Shared() = %v", tt.id, got.Shared())
		}
	}
}
