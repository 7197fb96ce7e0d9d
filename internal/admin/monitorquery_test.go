package admin

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestWildcardMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "anything", true},
		{"abc", "abc", true},
		{"abc", "ABC", false}, // case matters, as in client IDs
		{"abc", "abcd", false},
		{"a*", "a", true},
		{"a*", "abc", true},
		{"*c", "abc", true},
		{"*c", "abd", false},
		{"a*b*c", "a-b-b-c", true},
		{"a*b*c", "a-c-b", false},
		{"**", "x", true},
		{"sensor/+/temp", "sensor/+/temp", true}, // MQTT wildcards are plain characters
		{"sensor/+/temp", "sensor/1/temp", false},
		{"sensor/*", "sensor/1/temp", true},
		{"zzz", "client-1", false},
		{"*ü*", "grün", true},
	}
	for _, tc := range tests {
		if got := wildcardMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

// TestParseMonitorQuery: every documented parameter is honoured, nothing
// is ignored: unknown parameters are CodeBadRequest, values mqsight cannot
// honour CodeBadValue, with the reason in the message.
func TestParseMonitorQuery(t *testing.T) {
	specs := map[string]monitorSpec{
		"Server": {}, "Store": {}, "Endpoint": endpointSpec(), "Connection": connectionSpec(),
		"Subscription": subscriptionSpec(), "Queue": queueSpec(),
	}
	tests := []struct {
		typ, query string
		code       Code   // "" for accepted
		msg        string // part of the message
	}{
		{"Subscription", "", "", ""},
		{"Subscription", "ClientID=zzz&ResultCount=10", "", ""},
		{"Subscription", "SubName=*&TopicString=a%2F*&ClientID=c*&SubType=Durable&StatType=PublishedMsgsHighest&ResultCount=100&MessagingPolicy=*", "", ""},
		{"Subscription", "SubType=Nondurable", "", ""},
		{"Subscription", "SubType=durable", CodeBadValue, "All, Durable, Nondurable"},
		{"Subscription", "ResultCount=20", CodeBadValue, "10, 25, 50, 100"},
		{"Subscription", "ResultCount=ten", CodeBadValue, "10, 25, 50, 100"},
		{"Subscription", "ResultCount=0", CodeBadValue, "10, 25, 50, 100"},
		{"Subscription", "StatType=Fastest", CodeBadValue, "BufferedMsgsHighest"},
		{"Subscription", "StatType=ExpiredMsgsHighest", CodeBadValue, "DiscardedMsgs"},
		{"Subscription", "StatType=BufferedHWMPercentLowest", CodeBadValue, "high-water mark"},
		{"Subscription", "MessagingPolicy=DemoPolicy", CodeBadValue, "only * is accepted"},
		{"Subscription", "ClientID=", CodeBadValue, "use * to match everything"},
		{"Subscription", "ClientID=a&ClientID=b", CodeBadRequest, "more than once"},
		{"Subscription", "clientid=zzz", CodeBadRequest, `unknown query parameter "clientid"`},
		{"Subscription", "Name=x", CodeBadRequest, "ClientID, MessagingPolicy, ResultCount, StatType, SubName, SubType, TopicString"},
		{"Subscription", "ClientID=%zz", CodeBadRequest, "malformed"},
		{"Connection", "ClientID=zzz", "", ""},
		{"Connection", "Endpoint=Demo*&StatType=OldestConnection&ResultCount=25", "", ""},
		{"Connection", "StatType=HighestThroughputKB", CodeBadValue, "per-connection traffic"},
		{"Connection", "SubType=All", CodeBadRequest, "unknown query parameter"},
		{"Endpoint", "Name=E4", "", ""},
		{"Endpoint", "Name=E*&SubType=Current&StatType=ActiveConnections", "", ""},
		{"Endpoint", "SubType=History", CodeBadValue, "no endpoint history"},
		{"Endpoint", "Duration=1800", CodeBadValue, "no endpoint history"},
		{"Endpoint", "StatType=ReadMsgs", CodeBadValue, "per-endpoint traffic"},
		{"Endpoint", "ResultCount=10", CodeBadRequest, "Name, StatType, SubType"},
		{"Queue", "Name=Q*&StatType=BufferedMsgsHighest&ResultCount=50", "", ""},
		{"Queue", "StatType=BufferedPercentageLowest", "", ""},
		{"Queue", "StatType=ProducersHighest", CodeBadValue, "producers"},
		{"Server", "", "", ""},
		{"Server", "Name=x", CodeBadRequest, "it takes none"},
		{"Store", "SubType=History", CodeBadRequest, "it takes none"},
	}
	for _, tc := range tests {
		_, err := parseMonitorQuery(tc.typ, tc.query, specs[tc.typ])
		if tc.code == "" {
			if err != nil {
				t.Errorf("%s?%s: %v", tc.typ, tc.query, err)
			}
			continue
		}
		e, ok := err.(*Error)
		if !ok || e.Code != tc.code || !strings.Contains(e.Error(), tc.msg) || e.Status() != http.StatusBadRequest {
			t.Errorf("%s?%s: error %v, want %s with %q", tc.typ, tc.query, err, tc.code, tc.msg)
		}
	}
}

// TestMonitorQueryApply: filters, then orders (stable: ties keep the
// type's own order), then cuts to ResultCount.
func TestMonitorQueryApply(t *testing.T) {
	subs := func() []monitorRow {
		var rows []monitorRow
		for _, s := range []struct {
			client, topic, share string
			durable              bool
			published            uint64
			buffered, max        int
		}{
			{"a", "t/1", "", true, 5, 1, 10},
			{"b", "t/2", "g", false, 9, 5, 10},
			{"c", "u/1", "", false, 5, 9, 100},
			{"zz", "t/3", "", true, 0, 0, 0},
		} {
			rows = append(rows, monitorRow{"ClientID": s.client, "TopicString": s.topic, "SubName": s.share,
				"IsDurable": s.durable, "PublishedMsgs": s.published, "BufferedMsgs": s.buffered, "MaxMessages": s.max})
		}
		return rows
	}
	tests := []struct {
		query string
		want  string // client IDs in order
	}{
		{"", "a b c zz"},
		{"ClientID=zzz", ""},
		{"ClientID=z*", "zz"},
		{"TopicString=t/*", "a b zz"},
		{"SubName=g", "b"},
		{"SubType=Durable", "a zz"},
		{"SubType=Nondurable&TopicString=u*", "c"},
		{"StatType=PublishedMsgsHighest", "b a c zz"}, // a and c tie: own order
		{"StatType=PublishedMsgsLowest", "zz a c b"},
		{"StatType=BufferedMsgsHighest&ResultCount=10", "c b a zz"},
		{"StatType=BufferedPercentHighest", "b a c zz"}, // 50%, 10%, 9%, no limit
	}
	for _, tc := range tests {
		q, err := parseMonitorQuery("Subscription", tc.query, subscriptionSpec())
		if err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		var got []string
		for _, r := range q.apply(subs()) {
			got = append(got, r["ClientID"].(string))
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%s: %q, want %q", tc.query, strings.Join(got, " "), tc.want)
		}
	}

	// ResultCount cuts after ordering.
	var many []monitorRow
	for i := range 30 {
		many = append(many, monitorRow{"Name": "Q", "BufferedMsgs": i})
	}
	q, _ := parseMonitorQuery("Queue", "ResultCount=10&StatType=BufferedMsgsHighest", queueSpec())
	got := q.apply(many)
	if len(got) != 10 || got[0]["BufferedMsgs"] != 29 || got[9]["BufferedMsgs"] != 20 {
		t.Fatalf("ResultCount=10: %v", got)
	}
	if q, _ := parseMonitorQuery("Queue", "", queueSpec()); len(q.apply(many)) != 30 {
		t.Fatal("no ResultCount cut the list")
	}

	// Connections order by the time the CONNECT was accepted.
	t0 := time.Unix(1_800_000_000, 0).UTC()
	conns := []monitorRow{
		{"Name": "mid", "ConnectedAt": t0.Add(time.Microsecond)},
		{"Name": "old", "ConnectedAt": t0},
		{"Name": "new", "ConnectedAt": t0.Add(time.Second)},
	}
	for query, want := range map[string]string{
		"StatType=NewestConnection": "new mid old", "StatType=OldestConnection": "old mid new",
		"ClientID=*d": "mid old",
	} {
		q, err := parseMonitorQuery("Connection", query, connectionSpec())
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, r := range q.apply(conns) {
			names = append(names, r["Name"].(string))
		}
		if strings.Join(names, " ") != want {
			t.Errorf("%s: %v, want %s", query, names, want)
		}
	}
}

// TestMonitorQueryRefusedBeforeComponents: a bad query is a 400 even while
// the server restarts (it is the request that is wrong).
func TestMonitorQueryRefusedBeforeComponents(t *testing.T) {
	a, _ := newTestAPI(t)
	for path, code := range map[string]Code{
		"/ima/v1/monitor/Connection?clientid=zzz":    CodeBadRequest,
		"/ima/v1/monitor/Subscription?ResultCount=7": CodeBadValue,
		"/ima/v1/monitor/Server?Name=x":              CodeBadRequest,
	} {
		status, body := call(t, a, "GET", path, "")
		if status != http.StatusBadRequest || body["Code"] != string(code) {
			t.Errorf("%s: %d %v", path, status, body)
		}
	}
	if status, _ := call(t, a, "GET", "/ima/v1/monitor/Subscription?ClientID=zzz", ""); status != http.StatusServiceUnavailable {
		t.Errorf("a good query while restarting: %d, want 503", status)
	}
}
