package topic

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxLen is the largest topic name or filter in bytes ([MQTT-4.7.3-3]).
const MaxLen = 65535

// Category sentinels: every validation error wraps exactly one of these, so
// the engine can choose the reason code with errors.Is.
var (
	// ErrInvalidName marks an invalid topic name (v5 reason 0x90 Topic Name invalid).
	ErrInvalidName = errors.New("invalid topic name")
	// ErrInvalidFilter marks an invalid topic filter or shared subscription
	// (v5 reason 0x8F Topic Filter invalid).
	ErrInvalidFilter = errors.New("invalid topic filter")
)

// Detail sentinels: every validation error also wraps one of these to say why.
var (
	ErrEmpty          = errors.New("empty")                                      // [MQTT-4.7.3-1]
	ErrTooLong        = errors.New("longer than 65535 bytes")                    // [MQTT-4.7.3-3]
	ErrBadUTF8        = errors.New("not well-formed UTF-8")                      // [MQTT-1.5.4-1]
	ErrNullChar       = errors.New("contains U+0000")                            // [MQTT-1.5.4-2] [MQTT-4.7.3-2]
	ErrWildcardInName = errors.New("wildcard in topic name")                     // 3.1.1 [MQTT-4.7.1-1], 5.0 [MQTT-4.7.0-1]
	ErrMisplacedHash  = errors.New("'#' not alone in the last level")            // 3.1.1 [MQTT-4.7.1-2], 5.0 [MQTT-4.7.1-1]
	ErrMisplacedPlus  = errors.New("'+' not alone in its level")                 // 3.1.1 [MQTT-4.7.1-3], 5.0 [MQTT-4.7.1-2]
	ErrBadShareName   = errors.New("share name empty or contains '/', '+', '#'") // [MQTT-4.8.2-1] [MQTT-4.8.2-2]
	ErrNoSharedFilter = errors.New("shared subscription without a topic filter") // [MQTT-4.8.2-2]
)

// quoteMax bounds how much of an offending string an error message repeats.
const quoteMax = 64

// invalid builds an error wrapping the category and the detail.
func invalid(category error, s string, detail error) error {
	if len(s) > quoteMax {
		s = s[:quoteMax] + "..."
	}
	return fmt.Errorf("%w %q: %w", category, s, detail)
}

// checkString applies the rules common to names and filters: non-empty
// [MQTT-4.7.3-1], at most 65535 bytes [MQTT-4.7.3-3], well-formed UTF-8
// without surrogates [MQTT-1.5.4-1] and without U+0000 [MQTT-1.5.4-2]
// [MQTT-4.7.3-2].
func checkString(s string) error {
	switch {
	case s == "":
		return ErrEmpty
	case len(s) > MaxLen:
		return ErrTooLong
	case !utf8.ValidString(s):
		return ErrBadUTF8
	case strings.IndexByte(s, 0) >= 0:
		return ErrNullChar
	}
	return nil
}

// ValidName reports whether name may be used as a PUBLISH topic name (or a
// will topic). The error wraps ErrInvalidName and one detail sentinel.
// Names are not normalised in any way [MQTT-4.7.3-4].
func ValidName(name string) error {
	if err := checkString(name); err != nil {
		return invalid(ErrInvalidName, name, err)
	}
	if strings.ContainsAny(name, "+#") {
		return invalid(ErrInvalidName, name, ErrWildcardInName)
	}
	return nil
}

// ValidFilter reports whether filter is a syntactically valid topic filter.
// It does not interpret a share prefix: "$share/g/a" is valid here as an
// ordinary three-level filter; use ParseSubscription for SUBSCRIBE filters.
// The error wraps ErrInvalidFilter and one detail sentinel.
func ValidFilter(filter string) error {
	if err := checkString(filter); err != nil {
		return invalid(ErrInvalidFilter, filter, err)
	}
	if err := checkWildcards(filter); err != nil {
		return invalid(ErrInvalidFilter, filter, err)
	}
	return nil
}

// checkWildcards enforces that '#' is alone in the last level and '+' is
// alone in its level.
func checkWildcards(filter string) error {
	for i := 0; i < len(filter); i++ {
		c := filter[i]
		if c != '+' && c != '#' {
			continue
		}
		alone := (i == 0 || filter[i-1] == '/') && (i == len(filter)-1 || filter[i+1] == '/')
		if c == '#' && (!alone || i != len(filter)-1) {
			return ErrMisplacedHash
		}
		if c == '+' && !alone {
			return ErrMisplacedPlus
		}
	}
	return nil
}
