// Package mqtttest is the conformance test kit for mqsight's MQTT engine.
// Only tests and benchmarks import it.
//
// It holds three kinds of helper:
//
//   - Conn, a raw-packet MQTT client over one TCP connection to a broker
//     on 127.0.0.1. It sends arbitrary bytes or packets encoded with the
//     mochi packets codec, reads the broker's packets with deadlines and
//     decodes them for MQTT 3.1.1 (protocol version 4) or 5. Its Expect
//     family fails a testing.TB with a message that shows what arrived
//     instead; ExpectClosed tells a close by the broker from a timeout.
//     Connect, Subscribe, Unsubscribe and Publish run whole flows; every
//     step is also available on its own (Send, AwaitAck, AckPacket,
//     Acknowledge) for tests that stop half way through a QoS 2 exchange.
//
//   - V5Client and V311Client, real independent clients
//     (github.com/eclipse/paho.golang for MQTT 5,
//     github.com/eclipse/paho.mqtt.golang for MQTT 3.1.1) whose received
//     messages go to a Recorder. A Recorder waits for conditions on what
//     it has seen, driven by arrivals and bounded by a timeout: tests never
//     sleep for a fixed time to let messages arrive.
//
//   - StartMosquitto (and StartMosquittoWith, for extra configuration
//     lines), which runs a private Mosquitto broker on a free 127.0.0.1
//     port for the life of a test, so the kit can be proven against a
//     reference broker and so benchmarks can compare against it.
//
// The numbered statements of the MQTT specifications and the tests planned
// for each are listed in docs/mqtt-conformance.md; TestConformanceDoc keeps
// that file consistent with the tests. docs/decisions/mqtt-conformance.md
// says why the kit is built as it is.
//
// Ownership and concurrency: a Conn belongs to the test goroutine that
// dialled it. One background goroutine per Conn reads frames from the
// socket into a bounded queue; everything else (reading that queue, the
// stash of frames set aside while waiting for an acknowledgement, packet
// identifiers) is touched only by the owning goroutine. Send and SendRaw
// may be called from other goroutines. Every wait is bounded by a timeout
// (DefaultTimeout when the caller gives none) and every helper registers
// its cleanup with the testing.TB, so nothing outlives the test.
package mqtttest
