package topic

import (
	"errors"
	"strings"
	"testing"
)

func TestValidName(t *testing.T) {
	long := strings.Repeat("a", MaxLen)
	tests := []struct {
		id     string
		name   string
		detail error // nil: valid
	}{
		{"MQTT-4.7.3-1", "", ErrEmpty},
		{"MQTT-4.7.3-1", "a", nil},
		{"MQTT-4.7.3-1", "/", nil},
		{"MQTT-4.7.3-3", long, nil},
		{"MQTT-4.7.3-3", long + "a", ErrTooLong},
		{"MQTT-1.5.4-1", "a/\xff", ErrBadUTF8},
		{"MQTT-1.5.4-1", "a/\xed\xa0\x80", ErrBadUTF8}, // U+D800 surrogate encoded
		{"MQTT-1.5.4-2", "a/\x00b", ErrNullChar},
		{"MQTT-4.7.1-1", "sport/+", ErrWildcardInName},
		{"MQTT-4.7.1-1", "sport/#", ErrWildcardInName},
		{"MQTT-4.7.1-1", "sport+", ErrWildcardInName},
		{"MQTT-4.7.1-1", "#", ErrWildcardInName},
		{"4.7.3", "Accounts payable", nil},
		{"4.7.3", "$SYS/broker", nil},
		{"4.7.3", "a//b", nil},
		{"4.7.3", "\u00e9t\u00e9/\U0001F600", nil},
	}
	for _, tt := range tests {
		err := ValidName(tt.name)
		if tt.detail == nil {
			if err != nil {
				t.Errorf("[%s] ValidName(%.20q) = %v, want nil", tt.id, tt.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidName) || !errors.Is(err, tt.detail) {
			t.Errorf("[%s] ValidName(%.20q) = %v, want ErrInvalidName and %v", tt.id, tt.name, err, tt.detail)
		}
		if errors.Is(err, ErrInvalidFilter) {
			t.Errorf("[%s] ValidName error %v also wraps ErrInvalidFilter", tt.id, err)
		}
	}
}

func TestValidFilter(t *testing.T) {
	long := strings.Repeat("a/", MaxLen/2) + "#"
	tests := []struct {
		id     string
		filter string
		detail error
	}{
		{"MQTT-4.7.3-1", "", ErrEmpty},
		{"MQTT-4.7.3-3", long, nil},
		{"MQTT-4.7.3-3", long + "/", ErrTooLong},
		{"MQTT-1.5.4-1", "\xc3", ErrBadUTF8},
		{"MQTT-1.5.4-2", "\x00", ErrNullChar},
		// '#': v3 [MQTT-4.7.1-2], v5 [MQTT-4.7.1-1]
		{"MQTT-4.7.1-2", "#", nil},
		{"MQTT-4.7.1-2", "sport/tennis/#", nil},
		{"MQTT-4.7.1-2", "sport/tennis#", ErrMisplacedHash},
		{"MQTT-4.7.1-2", "sport/tennis/#/ranking", ErrMisplacedHash},
		{"MQTT-4.7.1-2", "#/", ErrMisplacedHash},
		{"MQTT-4.7.1-2", "##", ErrMisplacedHash},
		{"MQTT-4.7.1-2", "/#", nil},
		{"MQTT-4.7.1-2", "+/#", nil},
		// '+': v3 [MQTT-4.7.1-3], v5 [MQTT-4.7.1-2]
		{"MQTT-4.7.1-3", "+", nil},
		{"MQTT-4.7.1-3", "+/tennis/#", nil},
		{"MQTT-4.7.1-3", "sport/+/player1", nil},
		{"MQTT-4.7.1-3", "/+", nil},
		{"MQTT-4.7.1-3", "+/", nil},
		{"MQTT-4.7.1-3", "+/+", nil},
		{"MQTT-4.7.1-3", "sport+", ErrMisplacedPlus},
		{"MQTT-4.7.1-3", "sport/+a", ErrMisplacedPlus},
		{"MQTT-4.7.1-3", "++", ErrMisplacedPlus},
		{"4.7.3", "a//b", nil},
		{"4.7.3", "$SYS/#", nil},
	}
	for _, tt := range tests {
		err := ValidFilter(tt.filter)
		if tt.detail == nil {
			if err != nil {
				t.Errorf("[%s] ValidFilter(%.20q) = %v, want nil", tt.id, tt.filter, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidFilter) || !errors.Is(err, tt.detail) {
			t.Errorf("[%s] ValidFilter(%.20q) = %v, want ErrInvalidFilter and %v", tt.id, tt.filter, err, tt.detail)
		}
	}
}

func TestErrorQuotesBoundedInput(t *testing.T) {
	err := ValidName(strings.Repeat("x", MaxLen+1))
	if err == nil || len(err.Error()) > 200 {
		t.Fatalf("error for an oversized name should be short, got %d bytes", len(err.Error()))
	}
}
