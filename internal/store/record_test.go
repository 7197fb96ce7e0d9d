package store

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/records.golden from the current encoders")

const goldenFile = "testdata/records.golden"

// encodable is a record type under test.
type encodable interface{ Encode() []byte }

// recordCases are the records pinned by testdata/records.golden. Their
// encodings must never change: stores on disk hold them.
func recordCases() map[string]encodable {
	return map[string]encodable{
		"message/empty": &Message{},
		"message/full": &Message{
			ID: 0x0102030405060708, Topic: "sensors/a\x00b", Payload: []byte("hello"), QoS: 2, Retain: true,
			Properties: []byte{0x01, 0x01}, Created: 1_700_000_000_000_000_000, Expiry: -1, Flags: FlagFromBackup,
		},
		"message/long-topic": &Message{ID: 1, Topic: strings.Repeat("t", 200), QoS: 1},
		"client/empty":       &ClientState{},
		"client/full": &ClientState{
			ClientID: "dev-1", ProtocolVersion: 5, SessionExpiry: 3600, Disconnected: 42,
			Will: []byte("will"), NextPacketID: 65535,
		},
		"client/owner":         &ClientState{ClientID: "dev-3", SessionExpiry: 60, Owner: "alice\x00", OwnerKnown: true},
		"client/owner-inbound": &ClientState{ClientID: "dev-4", InboundQoS2: []uint16{7}, Owner: "", OwnerKnown: true},
		"client/inbound-qos2": &ClientState{
			ClientID: "dev-2", ProtocolVersion: 4, SessionExpiry: 0xFFFFFFFF, InboundQoS2: []uint16{1, 513, 65535},
		},
		"subscription/empty": &Subscription{},
		"subscription/full": &Subscription{
			ClientID: "dev-1", Filter: "a/+/#", ShareName: "grp", QoS: 1, NoLocal: true,
			RetainAsPublished: true, RetainHandling: 2, SubscriptionID: 268435455, MaxMessages: 5000, Behavior: 1,
		},
		"reference/queued":                &Reference{MessageID: 7},
		"reference/inflight-qos":          &Reference{MessageID: 9, State: RefSent, PacketID: 3, QoS: 1},
		"reference/inflight-qos-consumer": &Reference{MessageID: 10, State: RefPubrecRecvd, PacketID: 4, QoS: 2, Consumer: "member-2"},
		"reference/sent":                  &Reference{MessageID: 1 << 63, State: RefPubrecRecvd, PacketID: 513},
		"reference/shared-consumer": &Reference{
			MessageID: 12, State: RefSent, PacketID: 7, Consumer: "member-1",
		},
		"retained": &Retained{MessageID: 99},
	}
}

// decode decodes b as the record type of like.
func decode(like encodable, b []byte) (any, error) {
	switch like.(type) {
	case *Message:
		return DecodeMessage(b)
	case *ClientState:
		return DecodeClientState(b)
	case *Subscription:
		return DecodeSubscription(b)
	case *Reference:
		return DecodeReference(b)
	case *Retained:
		return DecodeRetained(b)
	}
	panic(fmt.Sprintf("no decoder for %T", like))
}

func readGolden(t *testing.T) map[string][]byte {
	t.Helper()
	f, err := os.Open(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hexBytes, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("golden line %q", line)
		}
		b, err := hex.DecodeString(hexBytes)
		if err != nil {
			t.Fatalf("golden %s: %v", name, err)
		}
		out[name] = b
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRecordGolden(t *testing.T) {
	cases := recordCases()
	if *updateGolden {
		names := make([]string, 0, len(cases))
		for name := range cases {
			names = append(names, name)
		}
		sort.Strings(names)
		var buf bytes.Buffer
		buf.WriteString("# name hex(encoding): store records (version byte first); never change an existing line\n")
		for _, name := range names {
			fmt.Fprintf(&buf, "%s %x\n", name, cases[name].Encode())
		}
		if err := os.WriteFile(goldenFile, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden := readGolden(t)
	if len(golden) != len(cases) {
		t.Fatalf("golden file has %d records, cases %d", len(golden), len(cases))
	}
	for name, rec := range cases {
		t.Run(name, func(t *testing.T) {
			want, ok := golden[name]
			if !ok {
				t.Fatalf("no golden bytes for %s", name)
			}
			if got := rec.Encode(); !bytes.Equal(got, want) {
				t.Fatalf("encoding changed\n got %x\nwant %x", got, want)
			}
			got, err := decode(rec, want)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, reflect.ValueOf(rec).Elem().Interface()) {
				t.Fatalf("decode(golden) = %+v, want %+v", got, rec)
			}
		})
	}
}

// latestVersion is the newest record version of rec's type.
func latestVersion(rec encodable) byte {
	switch rec.(type) {
	case *Reference:
		return referenceV3
	case *ClientState:
		return clientStateV3
	}
	return recordV1
}

func TestRecordDecodeRejectsCorruption(t *testing.T) {
	full := recordCases()
	for name, rec := range full {
		enc := rec.Encode()
		t.Run(name, func(t *testing.T) {
			// Every truncation fails.
			for n := range len(enc) {
				if _, err := decode(rec, enc[:n]); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("truncated to %d bytes: %v, want ErrCorrupt", n, err)
				}
			}
			// Trailing bytes fail.
			if _, err := decode(rec, append(bytes.Clone(enc), 0)); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("trailing byte: %v", err)
			}
			// Unknown versions fail.
			for _, v := range []byte{0, 2, 3, 4, 0xff} {
				if v == enc[0] || v >= 1 && v <= latestVersion(rec) {
					continue // a known layout may read these bytes too
				}
				bad := bytes.Clone(enc)
				bad[0] = v
				if _, err := decode(rec, bad); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("version %d: %v", v, err)
				}
			}
		})
	}
	cases := map[string]struct {
		like encodable
		hex  string
	}{
		"bool 2":               {&Message{}, "01" + "0000000000000000" + "00" + "02" + strings.Repeat("00", 8+8+4) + "000000"},
		"length beyond input":  {&Message{}, "01" + "0000000000000000" + "00" + "00" + strings.Repeat("00", 8+8+4) + "05616263"},
		"huge length":          {&Message{}, "01" + "0000000000000000" + "00" + "00" + strings.Repeat("00", 8+8+4) + "ffffffffffffffffff01"},
		"non-minimal length":   {&ClientState{}, "01" + "00" + "00000000" + "0000000000000000" + "0000" + "8000" + "00"},
		"v2 without inbound":   {&ClientState{}, "02" + "00" + "00000000" + "0000000000000000" + "0000" + "00" + "00" + "0000"},
		"unknown option bits":  {&Subscription{}, "01" + "00" + "04" + "00" + "00000000" + "00000000" + "00" + "000000"},
		"reference too short":  {&Reference{}, "01000000000000000700"},
		"v2 without consumer":  {&Reference{}, "02" + "0000000000000007" + "01" + "0007" + "00"},
		"v3 with QoS 0":        {&Reference{}, "03" + "0000000000000007" + "01" + "0007" + "00" + "00"},
		"v3 with QoS 3":        {&Reference{}, "03" + "0000000000000007" + "01" + "0007" + "03" + "00"},
		"retained with suffix": {&Retained{}, "01000000000000006300"},
	}
	for name, c := range cases {
		b, err := hex.DecodeString(c.hex)
		if err != nil {
			t.Fatal(name, err)
		}
		if _, err := decode(c.like, b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}

// fuzzDecoder checks that decode never panics and that whatever decodes
// re-encodes to the same bytes (the encoding is canonical).
func fuzzDecoder(f *testing.F, like encodable) {
	golden := map[string][]byte{}
	if data, err := os.ReadFile(goldenFile); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			name, h, ok := strings.Cut(line, " ")
			if b, err := hex.DecodeString(h); ok && err == nil {
				golden[name] = b
			}
		}
	}
	for name, rec := range recordCases() {
		if reflect.TypeOf(rec) == reflect.TypeOf(like) {
			f.Add(golden[name])
			f.Add(rec.Encode())
		}
	}
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decode(like, b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		p := reflect.New(reflect.TypeOf(v))
		p.Elem().Set(reflect.ValueOf(v))
		if re := p.Interface().(encodable).Encode(); !bytes.Equal(re, b) {
			t.Fatalf("decoded %x to %+v which encodes to %x", b, v, re)
		}
	})
}

func FuzzDecodeMessage(f *testing.F)      { fuzzDecoder(f, &Message{}) }
func FuzzDecodeClientState(f *testing.F)  { fuzzDecoder(f, &ClientState{}) }
func FuzzDecodeSubscription(f *testing.F) { fuzzDecoder(f, &Subscription{}) }
func FuzzDecodeReference(f *testing.F)    { fuzzDecoder(f, &Reference{}) }
func FuzzDecodeRetained(f *testing.F)     { fuzzDecoder(f, &Retained{}) }
