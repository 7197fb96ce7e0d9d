package admin

import (
	"net/http"
	"sort"
	"strconv"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mqsight/mqsight/internal/mqtt"
)

// registerMonitor registers /ima/v1/monitor/<Type> and /metrics.
func (a *API) registerMonitor() {
	a.route("GET /ima/v1/monitor/Server", readAccess, a.monitorServer)
	a.route("GET /ima/v1/monitor/Endpoint", readAccess, a.monitorEndpoint)
	a.route("GET /ima/v1/monitor/Connection", readAccess, a.monitorConnection)
	a.route("GET /ima/v1/monitor/Subscription", readAccess, a.monitorSubscription)
	a.route("GET /ima/v1/monitor/Queue", readAccess, a.monitorQueue)
	a.route("GET /ima/v1/monitor/Store", readAccess, a.monitorStore)
	metrics := promhttp.HandlerFor(a.metrics, promhttp.HandlerOpts{})
	a.route("GET /metrics", readAccess, func(w http.ResponseWriter, r *http.Request, _ *caller) error {
		metrics.ServeHTTP(w, r)
		return nil
	})
}

// monitor checks the request's query against spec (400 before anything
// else), runs fn with the components acquired and sends its value as
// {"Version":"v1","<typ>":value}. A list value is filtered, ordered and
// cut by the query (monitorquery.go).
func (a *API) monitor(w http.ResponseWriter, r *http.Request, typ string, spec monitorSpec, fn func(Components) (any, error)) error {
	q, err := parseMonitorQuery(typ, r.URL.RawQuery, spec)
	if err != nil {
		return err
	}
	c, release, err := a.acquire()
	if err != nil {
		return err
	}
	defer release()
	v, err := fn(c)
	if err != nil {
		return err
	}
	if rows, ok := v.([]monitorRow); ok {
		v = q.apply(rows)
	}
	writeJSON(w, http.StatusOK, map[string]any{"Version": "v1", typ: v})
	return nil
}

func (a *API) monitorServer(w http.ResponseWriter, r *http.Request, _ *caller) error {
	return a.monitor(w, r, "Server", monitorSpec{}, func(c Components) (any, error) {
		n := c.Engine.Counters()
		endpoints := 0
		for _, ep := range c.Config.Current().Endpoints {
			if c.Engine.ListenerAddr(ep.Name) != nil {
				endpoints++
			}
		}
		return map[string]any{
			"ActiveConnections": n.ConnectionsActive, "TotalConnections": n.ConnectionsTotal,
			"BadConnCount": n.ConnectsRefused, "MsgRead": n.MessagesIn, "MsgWrite": n.MessagesOut,
			"BytesRead": n.BytesIn, "BytesWrite": n.BytesOut, "DroppedMessages": n.Dropped,
			"RejectedMessages": n.Rejected, "Sessions": n.Sessions, "Subscriptions": n.Subscriptions,
			"RetainedMessages": n.Retained, "TotalEndpoints": endpoints,
		}, nil
	})
}

func (a *API) monitorEndpoint(w http.ResponseWriter, r *http.Request, _ *caller) error {
	return a.monitor(w, r, "Endpoint", endpointSpec(), func(c Components) (any, error) {
		active := map[string]int{}
		for _, conn := range c.Engine.Connections() {
			active[conn.Endpoint]++
		}
		eps := c.Config.Current().Endpoints
		names := make([]string, 0, len(eps))
		for n := range eps {
			names = append(names, n)
		}
		sort.Strings(names)
		out := []monitorRow{}
		for _, n := range names {
			ep := eps[n]
			addr := ""
			if a := c.Engine.ListenerAddr(n); a != nil {
				addr = a.String()
			}
			out = append(out, map[string]any{
				"Name": n, "Enabled": ep.Enabled, "Port": ep.Port, "Interface": ep.Interface,
				"Listening": addr != "", "Address": addr, "ActiveConnections": active[n],
			})
		}
		return out, nil
	})
}

func (a *API) monitorConnection(w http.ResponseWriter, r *http.Request, _ *caller) error {
	return a.monitor(w, r, "Connection", connectionSpec(), func(c Components) (any, error) {
		out := []monitorRow{}
		for _, conn := range c.Engine.Connections() {
			protocol := "mqtt"
			if conn.ProtocolVersion == 5 {
				protocol = "mqtt5"
			}
			out = append(out, map[string]any{
				"Name": conn.ClientID, "Endpoint": conn.Endpoint, "ClientAddr": conn.RemoteAddr,
				"Protocol": protocol, "ProtocolVersion": conn.ProtocolVersion, "Durable": conn.Durable,
				"ConnectedAt": conn.Connected.UTC(),
			})
		}
		return out, nil
	})
}

func (a *API) monitorSubscription(w http.ResponseWriter, r *http.Request, _ *caller) error {
	return a.monitor(w, r, "Subscription", subscriptionSpec(), func(c Components) (any, error) {
		subs := c.Engine.Subscriptions()
		sort.Slice(subs, func(i, j int) bool {
			if subs[i].ClientID != subs[j].ClientID {
				return subs[i].ClientID < subs[j].ClientID
			}
			return subs[i].Filter < subs[j].Filter
		})
		out := []monitorRow{}
		for _, s := range subs {
			out = append(out, map[string]any{
				"ClientID": s.ClientID, "TopicString": s.Filter, "SubName": s.ShareName,
				"IsShared": s.ShareName != "", "IsDurable": s.Durable, "BufferedMsgs": s.Buffered,
				"InflightMsgs": s.Inflight, "PublishedMsgs": s.Enqueued, "DeliveredMsgs": s.Delivered,
				"DiscardedMsgs": s.Dropped, "RejectedMsgs": s.Rejected, "MaxMessages": s.MaxMessages,
			})
		}
		return out, nil
	})
}

func (a *API) monitorQueue(w http.ResponseWriter, r *http.Request, _ *caller) error {
	return a.monitor(w, r, "Queue", queueSpec(), func(c Components) (any, error) {
		qs := c.Config.Current().Queues
		stats := map[string]mqtt.QueueStats{}
		for _, q := range c.Engine.Queues() {
			stats[q.Name] = q
		}
		names := make([]string, 0, len(qs))
		for n := range qs {
			names = append(names, n)
		}
		sort.Strings(names)
		out := []monitorRow{}
		for _, n := range names {
			st := stats[n]
			depth, err := a.opts.Service.QueueMessages(c, n)
			if err != nil {
				return nil, err
			}
			out = append(out, map[string]any{
				"Name": n, "BufferedMsgs": depth, "InflightMsgs": st.Inflight, "Consumers": st.Consumers,
				"ProducedMsgs": st.Enqueued, "ConsumedMsgs": st.Delivered, "RejectedMsgs": st.Rejected,
				"MaxMessages": qs[n].MaxMessages,
			})
		}
		return out, nil
	})
}

func (a *API) monitorStore(w http.ResponseWriter, r *http.Request, _ *caller) error {
	return a.monitor(w, r, "Store", monitorSpec{}, func(c Components) (any, error) {
		s := c.Store.Stats()
		avg := int64(0)
		if s.Commits > 0 {
			avg = s.LatencySum.Microseconds() / int64(s.Commits)
		}
		groups := map[string]uint64{}
		for i, n := range s.GroupSizes {
			groups[strconv.Itoa(1<<i)] = n
		}
		return map[string]any{
			"StoreUID": c.Store.UID(), "LastLSN": s.LastLSN, "Commits": s.Commits, "FailedCommits": s.Failed,
			"SyncGroups": s.Groups, "MaxGroup": s.MaxGroup, "GroupSizes": groups,
			"CommitLatencyAvgMicros": avg, "CommitLatencyMaxMicros": s.LatencyMax.Microseconds(),
			"Cleans": s.Cleans, "Checkpoints": s.Checkpoints,
			"FreeBytes": s.FreeBytes, "FreeReserveBytes": s.ReserveBytes, "DiskSpaceLow": s.SpaceLow,
		}, nil
	})
}
