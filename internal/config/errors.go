package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// ErrCorrupt marks a configuration document that cannot be decoded: a
// truncated or partly written file, bytes that are not JSON, or JSON that does
// not have the document's shape. Callers branch on it with errors.Is; the
// configuration is never silently replaced when it occurs.
var ErrCorrupt = errors.New("corrupt configuration document")

// ErrNewerFormat marks a document written by a newer mqsight whose
// FormatVersion this build does not understand.
var ErrNewerFormat = errors.New("configuration format is newer than this build supports")

// ErrFrozen is returned by Manager.Update and Manager.Replace while the
// configuration is frozen (Manager.Freeze): a restore is in progress.
var ErrFrozen = errors.New("configuration changes are refused while a restore is in progress")

// ErrorKind classifies a ValidationError so that the admin API can map it to a
// MessageSight reply code without parsing text.
type ErrorKind int

const (
	// Invalid: a value has the wrong JSON type, is out of range or is malformed
	// (MessageSight CWLNA0112).
	Invalid ErrorKind = iota + 1
	// Unknown: an unknown object type or property (CWLNA0111).
	Unknown
	// Missing: a required property is absent or empty (CWLNA0134).
	Missing
	// Reference: a property names an object that does not exist.
	Reference
	// InUse: an object cannot be deleted because another object refers to it.
	InUse
	// ReadOnly: the property cannot be changed (ServerUID).
	ReadOnly
	// NotFound: the named object does not exist (CWLNA0136).
	NotFound
)

var kindNames = [...]string{
	Invalid:   "Invalid",
	Unknown:   "Unknown",
	Missing:   "Missing",
	Reference: "Reference",
	InUse:     "InUse",
	ReadOnly:  "ReadOnly",
	NotFound:  "NotFound",
}

func (k ErrorKind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "ErrorKind(" + strconv.Itoa(int(k)) + ")"
}

// ValidationError is the one error type returned for a refused configuration
// change or an invalid document. Its text has the form
//
//	Endpoint "E1": Port 70000 is out of range 1-65535
//
// (for singletons the quoted name is left out). Msg starts with the property
// name when Property is set. Secret values never appear in Msg.
type ValidationError struct {
	Type     string    // object type, e.g. "Endpoint"
	Name     string    // object name; empty for singletons and unknown types
	Property string    // property name; empty for object-level rules
	Kind     ErrorKind // what the caller should report
	Msg      string    // human text after the "Type "Name": " prefix
}

func (e *ValidationError) Error() string {
	if e.Name == "" {
		return e.Type + ": " + e.Msg
	}
	return e.Type + " " + strconv.Quote(e.Name) + ": " + e.Msg
}

// errList collects validation errors in the order they are found.
type errList []*ValidationError

func (l *errList) add(typ, name, prop string, kind ErrorKind, format string, args ...any) {
	*l = append(*l, &ValidationError{Type: typ, Name: name, Property: prop, Kind: kind, Msg: fmt.Sprintf(format, args...)})
}

// join returns nil, the single error, or all of them joined by errors.Join.
func (l errList) join() error {
	switch len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	}
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// first returns the first error or nil.
func (l errList) first() error {
	if len(l) == 0 {
		return nil
	}
	return l[0]
}

// describe renders a value for an error message: strings quoted and cut
// to a readable length, numbers and booleans as JSON would print them.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		const max = 64
		if len(x) > max {
			return strconv.Quote(x[:max]) + "..."
		}
		return strconv.Quote(x)
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case json.Number:
		return string(x)
	case fmt.Stringer:
		return describe(x.String())
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%v", v)
}
