package config

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func addSeeds(f *testing.F) {
	for _, path := range []string{"testdata/seed.conf", "../pushinator.example.conf"} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		`{}`, `module.exports = {};`, `[1, -2.5e3, 0x1f, "a\u00e9\x41\n", 'b', true, false, null, {a: [],},]`,
		`{"a": {"b": {"c": [1, 2, {"d": "\ud83d\ude00"}]}}}`, "/* c */ {a: 1 // x\n}", `{a: 1, a: 2}`,
		`{client: {port: 'abc', socketIoTransports: ['flashsocket', 'websocket']}}`,
		`{admin: {host: 0, port: 9600}, client: {host: '::1', corsOrigins: ['https://x.org']}}`,
		`{log: {syslog: {facility: 'LOG_LOCAL0', address: 'udp:h:514'}}, engine: {type: 'redis'}}`,
		"{a: 'x\\\ny', b: \"\\u{10FFFF}\"}", `{a: 010}`, `{a: 1e999}`, "[[[[[[[[]]]]]]]]",
	} {
		f.Add([]byte(s))
	}
}

// FuzzParseJS checks that the parser never panics, that what it accepts
// survives a round trip through JSON, and that it reads every JSON document
// as encoding/json does.
func FuzzParseJS(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		v, warnings, err := parseJS("f", data)
		for _, w := range warnings {
			if !strings.HasPrefix(w, "config: f:") {
				t.Fatalf("warning %q", w)
			}
		}
		var std any
		if json.Valid(data) && json.Unmarshal(data, &std) == nil {
			if err != nil {
				if strings.Contains(err.Error(), "nested deeper than") {
					return
				}
				t.Fatalf("valid JSON %q refused: %v", data, err)
			}
			if got := plain(v); !reflect.DeepEqual(got, std) {
				t.Fatalf("JSON %q read as %#v, encoding/json reads %#v", data, got, std)
			}
		}
		if err != nil {
			var se *syntaxError
			if !errors.As(err, &se) || se.pos.line < 1 || se.pos.col < 1 || !strings.HasPrefix(err.Error(), "config: f:") {
				t.Fatalf("error %v", err)
			}
			return
		}
		checkPositions(t, v)
		out, err := json.Marshal(plain(v))
		if err != nil {
			t.Fatalf("marshal %#v: %v", plain(v), err)
		}
		v2, _, err := parseJS("f", out)
		if err != nil {
			t.Fatalf("round trip of %q: %q: %v", data, out, err)
		}
		if !reflect.DeepEqual(plain(v), plain(v2)) {
			t.Fatalf("round trip of %q: %#v != %#v", data, plain(v), plain(v2))
		}
	})
}

func checkPositions(t *testing.T, v *value) {
	t.Helper()
	if v.pos.line < 1 || v.pos.col < 1 {
		t.Fatalf("value at %v", v.pos)
	}
	for _, e := range v.elems {
		checkPositions(t, e)
	}
	for _, m := range v.members {
		if m.pos.line < 1 || m.pos.col < 1 || m.pos.line > m.val.pos.line {
			t.Fatalf("key %q at %v, value at %v", m.key, m.pos, m.val.pos)
		}
		checkPositions(t, m.val)
	}
}

// FuzzParse checks that any file either fails with a "config: " error or
// gives a Config that keeps the package's guarantees.
func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, warnings, err := Parse("f", data)
		for _, w := range warnings {
			if !strings.HasPrefix(w, "config: f:") {
				t.Fatalf("warning %q", w)
			}
		}
		if err != nil {
			if c != nil || !strings.HasPrefix(err.Error(), "config: f") {
				t.Fatalf("config %v with error %v", c, err)
			}
			return
		}
		if c.File != "f" || c.PIDFile == "" {
			t.Fatalf("file %q, pidfile %q", c.File, c.PIDFile)
		}
		for _, port := range []int{c.Admin.Port, c.Client.Port} {
			if port < 1 || port > 65535 {
				t.Fatalf("port %d", port)
			}
		}
		if c.Admin.Port == c.Client.Port && (c.Admin.Host == c.Client.Host || c.Admin.Host == "" || c.Client.Host == "") {
			t.Fatalf("admin and client both on %d", c.Admin.Port)
		}
		if len(c.Client.Transports) == 0 {
			t.Fatal("no transports")
		}
		seen := map[string]bool{}
		for _, tr := range c.Client.Transports {
			if tr != TransportWebSocket && tr != TransportPolling && tr != TransportJSONP || seen[tr] {
				t.Fatalf("transports %q", c.Client.Transports)
			}
			seen[tr] = true
		}
		if !strings.HasPrefix(c.Client.Path, "/") || !strings.HasSuffix(c.Client.Path, "/") {
			t.Fatalf("path %q", c.Client.Path)
		}
		if _, err := c.Log.Syslog.Priority(); err != nil {
			t.Fatal(err)
		}
		if c.Client.UseSSL && (c.Client.SSLKey == "" || c.Client.SSLCert == "") {
			t.Fatal("useSSL without key or cert")
		}
		if c.Client.PingInterval <= 0 || c.Client.PingTimeout <= 0 || c.Client.AuthTimeout < 0 ||
			c.Delivery.BufferTTL < 0 || c.Delivery.RecoveryWindow < 0 || c.Delivery.WriteTimeout <= 0 {
			t.Fatalf("durations %+v %+v", c.Client, c.Delivery)
		}
		if c.Admin.MaxBodyBytes < 1 || c.Client.MaxPayload < 1 || c.Delivery.BufferBytes < 1 ||
			c.Delivery.QueueSize < 1 || c.Delivery.BufferSize < 0 || c.Engine.Redis.DB < 0 ||
			c.Limits.MaxConnections < 0 || c.Limits.MaxSessionsPerUser < 0 || c.Limits.HandshakesPerSecondPerIP < 0 {
			t.Fatalf("sizes %+v", c)
		}
		if c.Engine.Type != EngineMemory && c.Engine.Type != EngineRedis {
			t.Fatalf("engine %q", c.Engine.Type)
		}
		for _, o := range c.Client.CORSOrigins {
			if o != strings.ToLower(o) || o == "" {
				t.Fatalf("origin %q", o)
			}
		}
	})
}
