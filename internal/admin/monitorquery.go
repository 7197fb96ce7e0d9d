package admin

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// A monitoring query narrows, orders and bounds the list that one
// GET /ima/v1/monitor/<Type> returns, with the query parameters Eclipse
// Amlen documents for that type (docs/admin-api.md lists them). It is
// decided, then applied: parseMonitorQuery checks the parameters against
// the type's monitorSpec and yields a monitorQuery; monitorQuery.apply
// filters, orders and cuts the rows. Both are pure and table-tested.
//
// Nothing is ignored: an unknown parameter is refused (CodeBadRequest), and
// so is a value mqsight cannot honour (CodeBadValue), with the reason.
// Without parameters a list is what it always was: every row, in the
// type's own order.

// monitorRow is one entry of a monitoring list, as it is sent.
type monitorRow = map[string]any

// ordering is one StatType: the number rows are ordered by, and whether
// the highest comes first.
type ordering struct {
	key     func(monitorRow) float64
	highest bool
}

// monitorSpec is what one monitoring type accepts.
type monitorSpec struct {
	// match maps a parameter whose value is a pattern ('*' matches any run
	// of characters, everything else itself) to the row field it matches.
	match map[string]string
	// choice maps a parameter with a fixed set of values to those values,
	// each with the rows it keeps (nil keeps every row).
	choice map[string]map[string]func(monitorRow) bool
	// stat maps each StatType value mqsight can honour to its ordering.
	stat map[string]ordering
	// unsupported maps an Amlen parameter ("Duration") or parameter value
	// ("SubType=History") that mqsight cannot honour to the reason.
	unsupported map[string]string
	// resultCount says whether ResultCount is accepted.
	resultCount bool
}

// resultCounts are the values Amlen allows for ResultCount.
func resultCounts() []int { return []int{10, 25, 50, 100} }

// monitorQuery is a checked query. The zero value keeps every row in
// its order.
type monitorQuery struct {
	match map[string]string // row field → pattern
	keep  []func(monitorRow) bool
	order *ordering
	limit int // 0: no limit
}

// params returns the parameter names spec accepts, sorted.
func (s monitorSpec) params() []string {
	var out []string
	for p := range s.match {
		out = append(out, p)
	}
	for p := range s.choice {
		out = append(out, p)
	}
	if s.stat != nil {
		out = append(out, "StatType")
	}
	if s.resultCount {
		out = append(out, "ResultCount")
	}
	sort.Strings(out)
	return out
}

// parseMonitorQuery checks rawQuery (the URL's query, still encoded)
// against spec. typ names the monitoring type in messages.
func parseMonitorQuery(typ, rawQuery string, spec monitorSpec) (monitorQuery, error) {
	var q monitorQuery
	values, err := url.ParseQuery(rawQuery)
	if err != nil {
		return q, apiError(CodeBadRequest, "the query of /ima/v1/monitor/"+typ+" is malformed: "+err.Error())
	}
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		if len(values[name]) != 1 {
			return q, apiError(CodeBadRequest, "query parameter "+name+" is given more than once")
		}
		v := values[name][0]
		if err := q.set(typ, spec, name, v); err != nil {
			return monitorQuery{}, err
		}
	}
	return q, nil
}

// set checks one parameter and records it in q.
func (q *monitorQuery) set(typ string, spec monitorSpec, name, v string) error {
	refuse := func(why string) error {
		return apiError(CodeBadValue, name+"="+strconv.Quote(v)+" "+why)
	}
	unsupported := func() (string, bool) {
		if why, ok := spec.unsupported[name+"="+v]; ok {
			return why, true
		}
		why, ok := spec.unsupported[name]
		return why, ok
	}
	if field, ok := spec.match[name]; ok {
		if v == "" {
			return refuse("is empty; use * to match everything")
		}
		if q.match == nil {
			q.match = map[string]string{}
		}
		q.match[field] = v
		return nil
	}
	if choices, ok := spec.choice[name]; ok {
		keep, ok := choices[v]
		if !ok {
			if why, ok := unsupported(); ok {
				return refuse("is not supported: " + why)
			}
			return refuse("is not one of " + strings.Join(sortedKeys(choices), ", "))
		}
		if keep != nil {
			q.keep = append(q.keep, keep)
		}
		return nil
	}
	switch {
	case name == "StatType" && spec.stat != nil:
		o, ok := spec.stat[v]
		if !ok {
			if why, ok := unsupported(); ok {
				return refuse("is not supported: " + why)
			}
			return refuse("is not one of " + strings.Join(sortedKeys(spec.stat), ", "))
		}
		q.order = &o
		return nil
	case name == "ResultCount" && spec.resultCount:
		n, err := strconv.Atoi(v)
		for _, allowed := range resultCounts() {
			if err == nil && n == allowed {
				q.limit = n
				return nil
			}
		}
		return refuse("is not one of 10, 25, 50, 100")
	}
	if why, ok := spec.unsupported[name]; ok {
		return refuse("is not supported: " + why)
	}
	return apiError(CodeBadRequest, "unknown query parameter "+strconv.Quote(name)+" for /ima/v1/monitor/"+typ+
		acceptedList(spec.params()))
}

func acceptedList(params []string) string {
	if len(params) == 0 {
		return " (it takes none)"
	}
	return " (it takes " + strings.Join(params, ", ") + ")"
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// apply returns the rows q keeps, in q's order (stable, so rows that tie
// keep the type's own order), at most q.limit of them. It does not
// change rows.
func (q monitorQuery) apply(rows []monitorRow) []monitorRow {
	out := make([]monitorRow, 0, len(rows))
	for _, r := range rows {
		if q.keeps(r) {
			out = append(out, r)
		}
	}
	if o := q.order; o != nil {
		sort.SliceStable(out, func(i, j int) bool {
			a, b := o.key(out[i]), o.key(out[j])
			if o.highest {
				return a > b
			}
			return a < b
		})
	}
	if q.limit > 0 && len(out) > q.limit {
		out = out[:q.limit]
	}
	return out
}

func (q monitorQuery) keeps(r monitorRow) bool {
	for field, pattern := range q.match {
		s, _ := r[field].(string)
		if !wildcardMatch(pattern, s) {
			return false
		}
	}
	for _, keep := range q.keep {
		if !keep(r) {
			return false
		}
	}
	return true
}

// wildcardMatch reports whether s matches pattern, in which '*' matches
// any run of bytes (none included) and every other byte itself, case
// included, as in Amlen's monitoring filters. MQTT wildcards ('+', '#')
// are plain characters here.
func wildcardMatch(pattern, s string) bool {
	p, i := 0, 0
	star, resume := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, resume = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			// Let the last '*' swallow one more byte and retry.
			resume++
			p, i = star+1, resume
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// number reads a numeric row field as a float64 (0 if absent).
func number(r monitorRow, field string) float64 {
	switch v := r[field].(type) {
	case int:
		return float64(v)
	case int64:
		return float64(v)
	case uint64:
		return float64(v)
	case float64:
		return v
	}
	return 0
}

// byField orders rows by a numeric field: Highest and Lowest StatTypes.
func byField(stats map[string]ordering, stat, field string) {
	key := func(r monitorRow) float64 { return number(r, field) }
	stats[stat+"Highest"] = ordering{key, true}
	stats[stat+"Lowest"] = ordering{key, false}
}

// bufferedPercent is BufferedMsgs as a percentage of MaxMessages (0 when
// there is no limit).
func bufferedPercent(r monitorRow) float64 {
	max := number(r, "MaxMessages")
	if max <= 0 {
		return 0
	}
	return 100 * number(r, "BufferedMsgs") / max
}

// endpointSpec: Amlen's Name, SubType, Duration and StatType.
func endpointSpec() monitorSpec {
	noCounters := "the engine keeps no per-endpoint traffic counters; only ActiveConnections orders endpoints"
	s := monitorSpec{
		match:  map[string]string{"Name": "Name"},
		choice: map[string]map[string]func(monitorRow) bool{"SubType": {"Current": nil}},
		stat:   map[string]ordering{"ActiveConnections": {func(r monitorRow) float64 { return number(r, "ActiveConnections") }, true}},
		unsupported: map[string]string{
			"SubType=History": "mqsight keeps no endpoint history", "Duration": "mqsight keeps no endpoint history",
		},
	}
	for _, st := range []string{"Connections", "BadConnections", "ReadMsgs", "WriteMsgs", "ReadBytes", "WriteBytes"} {
		s.unsupported["StatType="+st] = noCounters
	}
	return s
}

// connectionSpec: Amlen's Endpoint, StatType and ResultCount, and
// mqsight's ClientID (the Name field).
func connectionSpec() monitorSpec {
	connected := func(r monitorRow) float64 {
		t, _ := r["ConnectedAt"].(time.Time)
		return float64(t.UnixMicro()) // exact: below 2^53 for millennia
	}
	s := monitorSpec{
		match: map[string]string{"Endpoint": "Endpoint", "ClientID": "Name"},
		stat: map[string]ordering{
			"NewestConnection": {connected, true},
			"OldestConnection": {connected, false},
		},
		unsupported: map[string]string{},
		resultCount: true,
	}
	for _, st := range []string{"HighestThroughputMsgs", "LowestThroughputMsgs", "HighestThroughputKB", "LowestThroughputKB"} {
		s.unsupported["StatType="+st] = "the engine keeps no per-connection traffic counters"
	}
	return s
}

// subscriptionSpec: Amlen's SubName, TopicString, ClientID, SubType,
// MessagingPolicy (only *), StatType and ResultCount.
func subscriptionSpec() monitorSpec {
	durable := func(want bool) func(monitorRow) bool {
		return func(r monitorRow) bool { d, _ := r["IsDurable"].(bool); return d == want }
	}
	s := monitorSpec{
		match: map[string]string{"SubName": "SubName", "TopicString": "TopicString", "ClientID": "ClientID"},
		choice: map[string]map[string]func(monitorRow) bool{
			"SubType":         {"All": nil, "Durable": durable(true), "Nondurable": durable(false)},
			"MessagingPolicy": {"*": nil},
		},
		stat: map[string]ordering{
			"BufferedPercentHighest": {bufferedPercent, true},
			"BufferedPercentLowest":  {bufferedPercent, false},
		},
		unsupported: map[string]string{
			"MessagingPolicy":                    "subscriptions do not record the policy that allowed them; only * is accepted",
			"StatType=BufferedHWMPercentHighest": "mqsight keeps no buffer high-water mark",
			"StatType=BufferedHWMPercentLowest":  "mqsight keeps no buffer high-water mark",
			"StatType=ExpiredMsgsHighest":        "expired messages are counted in DiscardedMsgs",
			"StatType=ExpiredMsgsLowest":         "expired messages are counted in DiscardedMsgs",
		},
		resultCount: true,
	}
	byField(s.stat, "PublishedMsgs", "PublishedMsgs")
	byField(s.stat, "BufferedMsgs", "BufferedMsgs")
	byField(s.stat, "RejectedMsgs", "RejectedMsgs")
	byField(s.stat, "DiscardedMsgs", "DiscardedMsgs")
	return s
}

// queueSpec: Amlen's Name, StatType and ResultCount.
func queueSpec() monitorSpec {
	s := monitorSpec{
		match: map[string]string{"Name": "Name"},
		stat: map[string]ordering{
			// Amlen's pages spell it both ways.
			"BufferedPercentHighest":    {bufferedPercent, true},
			"BufferedPercentLowest":     {bufferedPercent, false},
			"BufferedPercentageHighest": {bufferedPercent, true},
			"BufferedPercentageLowest":  {bufferedPercent, false},
		},
		unsupported: map[string]string{
			"StatType=BufferedHWMPercentHighest": "mqsight keeps no buffer high-water mark",
			"StatType=BufferedHWMPercentLowest":  "mqsight keeps no buffer high-water mark",
			"StatType=ProducersHighest":          "mqsight does not count a queue's producers",
			"StatType=ProducersLowest":           "mqsight does not count a queue's producers",
			"StatType=ExpiredMsgsHighest":        "mqsight does not count a queue's expired messages",
			"StatType=ExpiredMsgsLowest":         "mqsight does not count a queue's expired messages",
		},
		resultCount: true,
	}
	byField(s.stat, "BufferedMsgs", "BufferedMsgs")
	byField(s.stat, "ProducedMsgs", "ProducedMsgs")
	byField(s.stat, "ConsumedMsgs", "ConsumedMsgs")
	byField(s.stat, "Consumers", "Consumers")
	return s
}
