package admin

import (
	"github.com/prometheus/client_golang/prometheus"
)

// newMetricsRegistry builds the /metrics registry of one API: a collector
// that reads the engine's and the store's counters at scrape time. Each API
// has its own registry (no package-global one), so several servers can run
// in one process.
func newMetricsRegistry(svc Service) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{svc: svc})
	return reg
}

// collector is a prometheus.Collector over the server's counters. While the
// server restarts only mqsight_up (0) is reported.
type collector struct{ svc Service }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("mqsight_"+name, help, labels, nil)
}

var _ prometheus.Collector = (*collector)(nil)

// descs lists every metric; Describe and Collect agree on it.
func (c *collector) descs() map[string]*prometheus.Desc {
	return map[string]*prometheus.Desc{
		"up":                 desc("up", "1 when the server's components are running, 0 while it restarts."),
		"connections_active": desc("connections_active", "Connected MQTT clients."),
		"connections_total":  desc("connections_total", "Accepted MQTT CONNECTs since start."),
		"connects_refused":   desc("connects_refused_total", "Refused MQTT CONNECTs since start."),
		"messages_in":        desc("messages_received_total", "PUBLISH packets received."),
		"messages_out":       desc("messages_sent_total", "PUBLISH packets sent, redeliveries included."),
		"bytes_in":           desc("bytes_received_total", "Bytes received from MQTT clients."),
		"bytes_out":          desc("bytes_sent_total", "Bytes sent to MQTT clients."),
		"dropped":            desc("messages_dropped_total", "Messages discarded from subscription buffers."),
		"rejected":           desc("messages_rejected_total", "Publishes refused because a buffer was full."),
		"sessions":           desc("sessions", "MQTT sessions, connected or not."),
		"subscriptions":      desc("subscriptions", "Subscriptions."),
		"retained":           desc("retained_messages", "Retained messages."),
		"store_commits":      desc("store_commits_total", "Store batches committed."),
		"store_failed":       desc("store_commits_failed_total", "Store commits that failed."),
		"store_groups":       desc("store_sync_groups_total", "Store fsyncs of the commit path."),
		"store_lsn":          desc("store_last_lsn", "LSN of the last committed store batch."),
		"store_latency":      desc("store_commit_latency_seconds_total", "Sum of store commit latencies."),
		"store_free":         desc("store_free_bytes", "Free space of the store's filesystem at its last check."),
		"store_reserve":      desc("store_free_reserve_bytes", "Free space the store keeps; below it the server refuses publishes."),
		"store_space_low":    desc("store_space_low", "1 while the server refuses publishes for lack of free space for the store."),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs() {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	d := c.descs()
	comps, release, err := c.svc.Acquire()
	if err != nil {
		ch <- prometheus.MustNewConstMetric(d["up"], prometheus.GaugeValue, 0)
		return
	}
	defer release()
	n := comps.Engine.Counters()
	s := comps.Store.Stats()
	gauge := func(name string, v float64) { ch <- prometheus.MustNewConstMetric(d[name], prometheus.GaugeValue, v) }
	counter := func(name string, v float64) { ch <- prometheus.MustNewConstMetric(d[name], prometheus.CounterValue, v) }
	gauge("up", 1)
	gauge("connections_active", float64(n.ConnectionsActive))
	counter("connections_total", float64(n.ConnectionsTotal))
	counter("connects_refused", float64(n.ConnectsRefused))
	counter("messages_in", float64(n.MessagesIn))
	counter("messages_out", float64(n.MessagesOut))
	counter("bytes_in", float64(n.BytesIn))
	counter("bytes_out", float64(n.BytesOut))
	counter("dropped", float64(n.Dropped))
	counter("rejected", float64(n.Rejected))
	gauge("sessions", float64(n.Sessions))
	gauge("subscriptions", float64(n.Subscriptions))
	gauge("retained", float64(n.Retained))
	counter("store_commits", float64(s.Commits))
	counter("store_failed", float64(s.Failed))
	counter("store_groups", float64(s.Groups))
	gauge("store_lsn", float64(s.LastLSN))
	counter("store_latency", s.LatencySum.Seconds())
	gauge("store_free", float64(s.FreeBytes))
	gauge("store_reserve", float64(s.ReserveBytes))
	low := 0.0
	if s.SpaceLow {
		low = 1
	}
	gauge("store_space_low", low)
}
