package policybench

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/mqtt"
	"github.com/mqsight/mqsight/internal/mqtt/mqtttest"
	"github.com/mqsight/mqsight/internal/policy"
	"github.com/mqsight/mqsight/internal/store"
	"github.com/mqsight/mqsight/internal/testport"
)

// users is how many messaging users the benchmark configuration holds.
const users = 50

// policies is the number of connection and of topic policies per endpoint.
const policies = 20

// benchConfig is DemoEndpoint on a free loopback port with, when auth is
// set, a password-authenticating SecurityProfile, `users` users and
// `policies` connection and topic policies of which only the last matches
// (so every CONNECT evaluates all of them).
func benchConfig(b *testing.B, auth bool) *config.Config {
	c := config.Default()
	ep := c.Endpoints["DemoEndpoint"]
	ep.Interface = "127.0.0.1"
	ep.Port = testport.Free(b)
	if !auth {
		return c
	}
	set := func(typ, name string, props map[string]any) {
		if err := config.SetProperties(c, typ, name, props); err != nil {
			b.Fatal(err)
		}
	}
	set("Group", "devices", map[string]any{})
	for i := range users {
		set("User", fmt.Sprint("user", i), map[string]any{"Password": fmt.Sprint("secret-", i), "GroupMembership": "devices"})
	}
	set("SecurityProfile", "SP", map[string]any{"TLSEnabled": false, "UsePasswordAuthentication": true})
	var cps, tps config.List
	for i := range policies - 1 {
		set("ConnectionPolicy", fmt.Sprint("CP", i), map[string]any{"ClientID": fmt.Sprint("other", i, "-*"), "UserID": "nobody*"})
		set("TopicPolicy", fmt.Sprint("TP", i), map[string]any{"ClientID": fmt.Sprint("other", i, "-*"),
			"Topic": fmt.Sprint("other/", i, "/*"), "ActionList": "Publish"})
		cps, tps = append(cps, fmt.Sprint("CP", i)), append(tps, fmt.Sprint("TP", i))
	}
	set("ConnectionPolicy", "Devices", map[string]any{"GroupID": "devices", "ClientAddress": "127.0.0.1", "Protocol": "MQTT"})
	set("TopicPolicy", "Own", map[string]any{"GroupID": "devices", "Topic": "devices/${ClientID}/*", "ActionList": "Publish,Subscribe"})
	set("Endpoint", "DemoEndpoint", map[string]any{"SecurityProfile": "SP",
		"ConnectionPolicies": append(cps, "Devices"), "TopicPolicies": append(tps, "Own")})
	if err := c.Validate(); err != nil {
		b.Fatal(err)
	}
	return c
}

// startEngine runs an engine with policy.Policy on a temporary store.
func startEngine(b *testing.B, c *config.Config) (addr string, p *policy.Policy) {
	st, err := store.Open(filepath.Join(b.TempDir(), "store"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	p = policy.New(policy.Options{})
	e, err := mqtt.New(mqtt.Options{Store: st, Policy: p})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Apply(c); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		e.Close()
		st.Close()
	})
	ep := c.Endpoints["DemoEndpoint"]
	return net.JoinHostPort(ep.Interface, strconv.Itoa(ep.Port)), p
}

// connectOnce opens a TCP connection, sends CONNECT (3.1.1, clean
// session), reads the CONNACK, sends DISCONNECT and closes.
func connectOnce(addr string, connect []byte) error {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write(connect); err != nil {
		return err
	}
	var ack [4]byte
	if _, err := io.ReadFull(bufio.NewReader(nc), ack[:]); err != nil {
		return err
	}
	if ack[0] != 0x20 || ack[3] != 0 {
		return fmt.Errorf("CONNACK % x", ack)
	}
	_, err = nc.Write([]byte{0xE0, 0})
	return err
}

func connectPacket(b *testing.B, id, user, password string) []byte {
	o := mqtttest.ConnectOptions{ClientID: id, Clean: true, KeepAlive: 30}
	if user != "" {
		o.Username, o.Password = []byte(user), []byte(password)
	}
	pk, err := mqtttest.Encode(mqtttest.ConnectPacket(o, 4), 4)
	if err != nil {
		b.Fatal(err)
	}
	return pk
}

// BenchmarkConnect measures connections per second, one CONNECT after
// another per goroutine (GOMAXPROCS goroutines), each with a fresh client
// identifier: anonymous clients under the default policies, then clients
// authenticated by password and admitted by the last of 20 connection
// policies. The users cycle through 50 accounts whose first logins happen
// before the timer starts, so every timed password check is a
// credential-cache hit (a reconnect storm); BenchmarkVerifyPassword is
// the cost of a first login.
func BenchmarkConnect(b *testing.B) {
	for _, tc := range []struct {
		name string
		auth bool
	}{{"anonymous", false}, {"password-20-policies", true}} {
		b.Run(tc.name, func(b *testing.B) {
			addr, p := startEngine(b, benchConfig(b, tc.auth))
			if tc.auth { // first logins: fill the credential cache
				for i := range users {
					if err := connectOnce(addr, connectPacket(b, fmt.Sprint("warm", i), fmt.Sprint("user", i), fmt.Sprint("secret-", i))); err != nil {
						b.Fatal(err)
					}
				}
			}
			var next atomic.Int64
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1)
					user, password := "", ""
					if tc.auth {
						user, password = fmt.Sprint("user", i%users), fmt.Sprint("secret-", i%users)
					}
					if err := connectOnce(addr, connectPacket(b, fmt.Sprint("dev", i), user, password)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "connects/s")
			if n := p.Stats().FailedLogins.Load(); n != 0 {
				b.Fatalf("%d failed logins", n)
			}
		})
	}
}

// BenchmarkVerifyPassword is one argon2id verification with the stored
// parameters (config.HashPassword): what a first login, or one after the
// credential cache forgot it, costs on top of BenchmarkConnect's figure.
func BenchmarkVerifyPassword(b *testing.B) {
	h, err := config.HashPassword("secret-0")
	if err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !config.VerifyPassword(h, "secret-0") {
				b.Error("verify failed")
				return
			}
		}
	})
}
