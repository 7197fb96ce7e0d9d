package config

import (
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The string rules below return "" when value is well formed, or the
// reason it is not, worded to follow the property name and quoted value in
// an error message: `Port 0 is out of range`, `ClientID "a*b" may use '*' only
// at the end`. Empty values are not checked here (Required is).

// checkName applies the object name rules: valid UTF-8, no control
// characters, no leading or trailing white space, and no comma (lists of names
// are comma separated). Length is checked by MaxLen.
func checkName(v string) string {
	if !utf8.ValidString(v) {
		return "is not valid UTF-8"
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return "contains a control character"
		}
		if r == ',' {
			return "contains a comma"
		}
	}
	first, _ := utf8.DecodeRuneInString(v)
	last, _ := utf8.DecodeLastRuneInString(v)
	if unicode.IsSpace(first) || unicode.IsSpace(last) {
		return "has leading or trailing white space"
	}
	return ""
}

// checkText refuses invalid UTF-8 and control characters in free text that
// is not a name (descriptions may hold tabs and newlines).
func checkText(v string, allowLayout bool) string {
	if !utf8.ValidString(v) {
		return "is not valid UTF-8"
	}
	for _, r := range v {
		if unicode.IsControl(r) && !(allowLayout && (r == '\t' || r == '\n' || r == '\r')) {
			return "contains a control character"
		}
	}
	return ""
}

func checkSyntax(s Syntax, v string) string {
	switch s {
	case SyntaxObjectName:
		return checkName(v)
	case SyntaxQueueName:
		if msg := checkName(v); msg != "" {
			return msg
		}
		if strings.ContainsAny(v, "+#") {
			return "must not contain '+' or '#'"
		}
	case SyntaxClientPattern:
		if msg := checkText(v, false); msg != "" {
			return msg
		}
		if i := strings.IndexByte(v, '*'); i >= 0 && i != len(v)-1 {
			return "may use '*' only as the last character"
		}
	case SyntaxAddressList:
		return checkAddressList(v)
	case SyntaxDestinationPattern:
		return checkDestinationPattern(v)
	case SyntaxInterface:
		if v == "All" {
			return ""
		}
		if _, ok := parseIP(v); !ok {
			return `is neither "All" nor an IP address`
		}
	case SyntaxIPAddress:
		if _, ok := parseIP(v); !ok {
			return "is not an IP address"
		}
	case SyntaxConnectionName:
		return checkConnectionName(v)
	case SyntaxFileName:
		if msg := checkText(v, false); msg != "" {
			return msg
		}
		if v == "." || v == ".." || strings.ContainsAny(v, `/\`) {
			return "is not a plain file name"
		}
	case SyntaxMQName:
		for _, r := range v {
			if !(r < utf8.RuneSelf && (isAlnum(byte(r)) || strings.ContainsRune("._/%", r))) {
				return "may contain only letters, digits and . _ / %"
			}
		}
	case SyntaxTraceLevel:
		return checkTraceLevel(v)
	case SyntaxServerUID:
		for i := range len(v) {
			if !isAlnum(v[i]) && v[i] != '-' {
				return "may contain only letters, digits and '-'"
			}
		}
	case SyntaxNone:
		return checkText(v, true)
	}
	return ""
}

func isAlnum(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// parseIP parses an IPv4 or IPv6 literal; IPv6 may be written in brackets.
// Zones ("fe80::1%eth0") are refused.
func parseIP(s string) (netip.Addr, bool) {
	if len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a, true
}

// checkAddressList checks a ClientAddress filter: a comma-separated list
// whose items are "*", an address, or a range "low-high" of two addresses of
// the same family with low <= high.
func checkAddressList(v string) string {
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "*" {
			continue
		}
		if item == "" {
			return "contains an empty item"
		}
		lowS, highS, isRange := strings.Cut(item, "-")
		low, ok := parseIP(strings.TrimSpace(lowS))
		if !ok {
			return "contains " + strconv.Quote(item) + ", which is not an IP address or range"
		}
		if !isRange {
			continue
		}
		high, ok := parseIP(strings.TrimSpace(highS))
		if !ok || low.Is4() != high.Is4() {
			return "contains " + strconv.Quote(item) + ", which is not an IP address or range"
		}
		if high.Less(low) {
			return "contains the range " + strconv.Quote(item) + ", whose end is below its start"
		}
	}
	return ""
}

// destinationVariables are the substitutions a topic, subscription or
// queue pattern may contain; the policy engine replaces them with the
// connecting client's attributes.
var destinationVariables = []string{"${ClientID}", "${UserID}", "${GroupID}", "${CommonName}"}

// checkDestinationPattern checks a Topic, Subscription or Queue pattern:
// printable text whose only wildcard is a trailing '*', holding no "${"
// other than one of destinationVariables.
func checkDestinationPattern(v string) string {
	if msg := checkText(v, false); msg != "" {
		return msg
	}
	rest := v
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			break
		}
		rest = rest[i:]
		known := false
		for _, name := range destinationVariables {
			if strings.HasPrefix(rest, name) {
				rest = rest[len(name):]
				known = true
				break
			}
		}
		if !known {
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return "contains an unterminated ${"
			}
			return "contains the unknown variable " + strconv.Quote(rest[:end+1]) +
				" (allowed: " + strings.Join(destinationVariables, ", ") + ")"
		}
	}
	if i := strings.IndexByte(v, '*'); i >= 0 && i != len(v)-1 {
		return "may use '*' only as the last character"
	}
	return ""
}

// checkConnectionName checks an IBM MQ connection name list:
// "host(port)[,host(port)...]" with port 1-65535.
func checkConnectionName(v string) string {
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		open := strings.IndexByte(item, '(')
		if open <= 0 || !strings.HasSuffix(item, ")") {
			return "is not a list of host(port)"
		}
		host, port := item[:open], item[open+1:len(item)-1]
		if strings.ContainsAny(host, "() \t") {
			return "is not a list of host(port)"
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strings.TrimLeft(port, "0123456789") != "" {
			return "has port " + strconv.Quote(port) + ", which is not in range 1-65535"
		}
	}
	return ""
}

// checkTraceLevel checks MessageSight's trace level: a level 1-9, optionally
// followed by component overrides ",component:level".
func checkTraceLevel(v string) string {
	items := strings.Split(v, ",")
	if len(items[0]) != 1 || items[0][0] < '1' || items[0][0] > '9' {
		return "must start with a level 1-9"
	}
	for _, item := range items[1:] {
		comp, lvl, ok := strings.Cut(item, ":")
		if !ok || comp == "" || len(lvl) != 1 || lvl[0] < '1' || lvl[0] > '9' {
			return "has " + strconv.Quote(item) + ", which is not component:level (1-9)"
		}
		for i := range len(comp) {
			if !isAlnum(comp[i]) && comp[i] != '_' {
				return "has " + strconv.Quote(item) + ", which is not component:level (1-9)"
			}
		}
	}
	return ""
}
