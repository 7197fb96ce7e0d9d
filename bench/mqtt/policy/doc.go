// Package policybench measures what authentication and authorization cost
// a connecting MQTT client: the connect rate of a real engine (real store,
// loopback TCP) through internal/policy, with password authentication and
// 20 connection and 20 topic policies on the endpoint, against the same
// engine admitting anonymous clients.
//
// Run:
//
//	go test -run '^$' -bench . -benchtime 5s ./bench/mqtt/policy
//
// Figures and how to read them: docs/policies.md, "Cost".
package policybench
