package admin

import (
	"bytes"
	"encoding/json"
	"strings"
)

// DuplicateName returns the path of the first member name that occurs
// twice in one JSON object of body (e.g. "MessageHub" or
// "User/alice/Password"), or "". A decoder keeps only the last of such
// members, so half of a request would otherwise be dropped with a success
// reply. body must be valid JSON.
func DuplicateName(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var walk func(path []string) (string, bool)
	// walk reads one value whose first token is next; it reports a
	// duplicate's path, or false on a token error (invalid JSON, which
	// the caller reports otherwise).
	walk = func(path []string) (string, bool) {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return "", false
				}
				name, _ := k.(string)
				if seen[name] {
					return strings.Join(append(path, name), "/"), true
				}
				seen[name] = true
				if dup, ok := walk(append(path, name)); dup != "" || !ok {
					return dup, ok
				}
			}
			_, err = dec.Token() // '}'
			return "", err == nil
		case json.Delim('['):
			for dec.More() {
				if dup, ok := walk(path); dup != "" || !ok {
					return dup, ok
				}
			}
			_, err = dec.Token() // ']'
			return "", err == nil
		}
		return "", true
	}
	dup, _ := walk(nil)
	return dup
}
