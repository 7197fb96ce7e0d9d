// Package queuebench measures point-to-point queue throughput: one sender
// publishing QoS 1 to $queue/<name> (each message committed to the store
// with fsync before its PUBACK) and three consumers receiving at QoS 1 and
// acknowledging, on a real engine and store over loopback TCP.
//
// Run:
//
//	go test -run '^$' -bench . -benchtime 20000x ./bench/mqtt/queue
//
// msgs/s is messages sent, stored, delivered to one consumer each and
// acknowledged, per second of wall time.
package queuebench
