package config

import (
	"errors"
	"io/fs"
	"log/syslog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSeedConfigLoadsUnchanged(t *testing.T) {
	// testdata/seed.conf is the seed README's example, byte for byte (its
	// code block's leading tab included).
	c, warnings, err := Load("testdata/seed.conf")
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.File = "testdata/seed.conf"
	want.PIDFile = "/tmp/pushinator.pid"
	want.Admin.Port = 9600
	want.Client.Port = 9601
	want.Client.Transports = []string{"websocket", "polling", "jsonp"}
	want.Client.SSLKey = "/path/to/ssl.key"
	want.Client.SSLCert = "/path/to.crt"
	want.Log.Syslog = Syslog{Enable: true, Tag: "pushinator", Facility: "daemon"}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("seed config:\n got %+v\nwant %+v", c, want)
	}
	wantWarnings := []string{
		`config: testdata/seed.conf:18: client.socketIoTransports: "flashsocket" is obsolete and ignored`,
		`config: testdata/seed.conf:18: client.socketIoTransports: "htmlfile" is obsolete and ignored`,
	}
	if !reflect.DeepEqual(warnings, wantWarnings) {
		t.Errorf("warnings:\n got %q\nwant %q", warnings, wantWarnings)
	}
	if c.Admin.Addr() != ":9600" || c.Client.Addr() != ":9601" {
		t.Errorf("addrs = %q, %q; want all interfaces", c.Admin.Addr(), c.Client.Addr())
	}
	if p, err := c.Log.Syslog.Priority(); err != nil || p != syslog.LOG_DAEMON {
		t.Errorf("Priority() = %v, %v; want LOG_DAEMON", p, err)
	}
}

func TestExampleConfig(t *testing.T) {
	const path = "../pushinator.example.conf"
	c, warnings, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %q", warnings)
	}
	// It runs on a developer machine, as a normal user, in the foreground.
	if c.PIDFile != "/tmp/pushinator.pid" || c.Admin.Addr() != "127.0.0.1:9600" || c.Client.Addr() != ":9601" ||
		c.Client.UseSSL || c.Log.Syslog.Enable {
		t.Errorf("example config = %+v", c)
	}
	if !reflect.DeepEqual(c.Client.Transports, []string{"websocket", "polling", "jsonp"}) {
		t.Errorf("transports = %q", c.Client.Transports)
	}
}

// TestExampleConfigDocumentsEveryKeyAndDefault keeps the example config in
// step with the code: every key that Parse knows appears in it, and the
// "(default: X)" written above each key is the real default.
func TestExampleConfigDocumentsEveryKeyAndDefault(t *testing.T) {
	data, err := os.ReadFile("../pushinator.example.conf")
	if err != nil {
		t.Fatal(err)
	}
	defaultRe := regexp.MustCompile(`\(default: (.*)\)$`)
	keyRe := regexp.MustCompile(`^\s*(\w+): (.*?),?$`)
	var stack []string
	var pending string
	var rebuilt strings.Builder // a config that sets every key to its documented default
	documented := map[string]bool{}
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "//"):
			if m := defaultRe.FindStringSubmatch(trimmed); m != nil {
				pending = m[1]
			}
		case trimmed == "}," || trimmed == "};":
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			rebuilt.WriteString("},\n")
		case strings.HasSuffix(trimmed, ": {"):
			stack = append(stack, strings.TrimSuffix(trimmed, ": {"))
			rebuilt.WriteString(trimmed + "\n")
			pending = ""
		default:
			m := keyRe.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			key := strings.Join(append(append([]string{}, stack...), m[1]), ".")
			if pending == "" {
				t.Errorf("pushinator.example.conf:%d: %s has no (default: ...) comment", i+1, key)
			}
			documented[key] = true
			rebuilt.WriteString(m[1] + ": " + pending + ",\n")
			pending = ""
		}
	}
	for _, key := range allKeys {
		if !documented[key] {
			t.Errorf("pushinator.example.conf does not document %s", key)
		}
	}
	c, warnings, err := Parse("rebuilt", []byte("{\n"+strings.TrimSuffix(rebuilt.String(), "},\n")+"}"))
	if err != nil || len(warnings) != 0 {
		t.Fatalf("the documented defaults do not load: %v %q\n%s", err, warnings, rebuilt.String())
	}
	want := Default()
	want.File = "rebuilt"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("documented defaults differ from Default():\n got %+v\nwant %+v", c, want)
	}
}

// allKeys is every key of the file format (SPEC.md §2 and the additions).
var allKeys = []string{
	"pidfile",
	"admin.host", "admin.port", "admin.token", "admin.maxBodySize",
	"client.host", "client.port", "client.path", "client.socketIoTransports", "client.useSSL",
	"client.sslKey", "client.sslCert", "client.pingInterval", "client.pingTimeout",
	"client.maxPayload", "client.allowEIO3", "client.corsOrigins", "client.authTimeout",
	"log.debug", "log.syslog.enable", "log.syslog.tag", "log.syslog.facility", "log.syslog.address",
	"delivery.bufferSize", "delivery.bufferBytes", "delivery.bufferTTL", "delivery.recoveryWindow",
	"delivery.queueSize", "delivery.writeTimeout",
	"storage.path",
	"engine.type", "engine.redis.addr", "engine.redis.password", "engine.redis.db", "engine.redis.prefix",
	"engine.redis.tls", "engine.redis.tlsCA", "engine.redis.tlsServerName", "engine.redis.advertise",
	"limits.maxConnections", "limits.maxSessionsPerUser", "limits.handshakesPerSecondPerIP",
	"limits.authFailuresPerMinutePerIP",
}

func TestEmptyConfigsAreDefaults(t *testing.T) {
	for _, in := range []string{"{}", "module.exports = {}", "module.exports = {};", "// comment\n{ }\n", "\uFEFF{}"} {
		c, warnings, err := Parse("f.conf", []byte(in))
		if err != nil || len(warnings) != 0 {
			t.Fatalf("Parse(%q): %v %q", in, err, warnings)
		}
		want := Default()
		want.File = "f.conf"
		if !reflect.DeepEqual(c, want) {
			t.Errorf("Parse(%q) = %+v, want the defaults", in, c)
		}
	}
}

func TestDefaults(t *testing.T) {
	c := Default()
	if c.File != "" || c.PIDFile != "/run/pushinator.pid" || c.Admin.Addr() != ":9600" || c.Client.Addr() != ":9601" ||
		c.Client.Path != "/socket.io/" || c.Client.PingInterval != 25*time.Second || c.Client.PingTimeout != 20*time.Second ||
		c.Client.MaxPayload != 1e6 || !c.Client.AllowEIO3 || c.Client.AuthTimeout != 30*time.Second ||
		!reflect.DeepEqual(c.Client.CORSOrigins, []string{"*"}) || c.Admin.Token != "" || c.Admin.MaxBodyBytes != 1<<20 ||
		c.Delivery != (Delivery{100, 1 << 20, 2 * time.Minute, 2 * time.Minute, 1024, 10 * time.Second}) ||
		c.Storage.Path != "" || c.Engine != (Engine{"memory", Redis{Addr: "127.0.0.1:6379", Prefix: "pushinator:"}}) ||
		c.Limits != (Limits{}) || c.Log != (Log{Syslog: Syslog{Tag: "pushinator", Facility: "daemon"}}) {
		t.Errorf("Default() = %+v", c)
	}
	// Each call returns its own slices.
	Default().Client.Transports[0] = "x"
	if Default().Client.Transports[0] != "websocket" {
		t.Error("Default() shares its slices")
	}
}

func TestJSON(t *testing.T) {
	in := `{
  "pidfile": "/var/run/p.pid",
  "admin": {"host": "10.0.0.1", "port": 8000, "token": "s3cret"},
  "client": {"port": 443, "useSSL": true, "sslKey": "/k", "sslCert": "/c", "socketIoTransports": ["polling", "websocket"]},
  "engine": {"type": "redis", "redis": {"addr": "redis:6380", "db": 2}},
  "log": {"syslog": {"facility": "local3", "address": "udp:logs:514"}}
}`
	c, warnings, err := Parse("p.json", []byte(in))
	if err != nil || len(warnings) != 0 {
		t.Fatalf("%v %q", err, warnings)
	}
	if c.PIDFile != "/var/run/p.pid" || c.Admin.Addr() != "10.0.0.1:8000" || c.Admin.Token != "s3cret" ||
		c.Client.Addr() != ":443" || !c.Client.UseSSL || !reflect.DeepEqual(c.Client.Transports, []string{"polling", "websocket"}) ||
		c.Engine.Type != "redis" || c.Engine.Redis.Addr != "redis:6380" || c.Engine.Redis.DB != 2 {
		t.Errorf("config = %+v", c)
	}
	if p, err := c.Log.Syslog.Priority(); err != nil || p != syslog.LOG_LOCAL3 {
		t.Errorf("Priority() = %v, %v", p, err)
	}
	if n, a := c.Log.Syslog.Network(); n != "udp" || a != "logs:514" {
		t.Errorf("Network() = %q, %q", n, a)
	}
}

// TestKeys checks each key: what it accepts, how it is normalized, and the
// exact error for what it refuses.
func TestKeys(t *testing.T) {
	tests := []struct {
		in      string        // the file's contents after "module.exports = {\n"
		want    func(*Config) // applied to Default() to get the expected config
		wantErr string        // or the exact error
	}{
		// pidfile
		{in: `pidfile: '/x/p.pid'`, want: func(c *Config) { c.PIDFile = "/x/p.pid" }},
		{in: `pidfile: ''`, wantErr: `config: f.conf:2: pidfile: expected a file path, got ""`},
		{in: `pidfile: 5`, wantErr: `config: f.conf:2: pidfile: expected a file path, got 5`},
		{in: `pidfile: '/run/p\x00.pid'`, wantErr: `config: f.conf:2: pidfile: expected a file path, got "/run/p\x00.pid"`},
		{in: `pidfile: null`, want: func(c *Config) {}},

		// hosts
		{in: `admin: {host: 0}`, want: func(c *Config) { c.Admin.Host = "" }},
		{in: `admin: {host: '0.0.0.0'}`, want: func(c *Config) { c.Admin.Host = "" }},
		{in: `admin: {host: ''}`, want: func(c *Config) { c.Admin.Host = "" }},
		{in: `admin: {host: '127.0.0.1'}`, want: func(c *Config) { c.Admin.Host = "127.0.0.1" }},
		{in: `admin: {host: 'localhost'}`, want: func(c *Config) { c.Admin.Host = "localhost" }},
		{in: `client: {host: '::1'}`, want: func(c *Config) { c.Client.Host = "::1" }},
		{in: `client: {host: '[::1]'}`, want: func(c *Config) { c.Client.Host = "::1" }},
		{in: `client: {host: 'fe80::1%eth0'}`, want: func(c *Config) { c.Client.Host = "fe80::1%eth0" }},
		{in: `client: {host: 'x'.repeat(3)}`, wantErr: `config: f.conf:2:19: unexpected ".", expected "," or "}"`},
		{in: `client: {host: ' ` + strings.Repeat("é", 40) + `'}`, wantErr: `config: f.conf:2: client.host: expected a host name or IP address, or 0 for all interfaces, got " ` + strings.Repeat("é", 29) + `..."`},
		{in: `admin: {host: 1}`, wantErr: `config: f.conf:2: admin.host: expected a host name or IP address, or 0 for all interfaces, got 1`},
		{in: `admin: {host: true}`, wantErr: `config: f.conf:2: admin.host: expected a host name or IP address, or 0 for all interfaces, got true`},
		{in: `client: {host: 'a b'}`, wantErr: `config: f.conf:2: client.host: expected a host name or IP address, or 0 for all interfaces, got "a b"`},
		{in: `client: {host: '1.2.3.4:80'}`, wantErr: `config: f.conf:2: client.host: expected a host name or IP address, or 0 for all interfaces, got "1.2.3.4:80"`},

		// ports
		{in: `admin: {port: 8080}`, want: func(c *Config) { c.Admin.Port = 8080 }},
		{in: `client: {port: 65535}`, want: func(c *Config) { c.Client.Port = 65535 }},
		{in: "client: {\n\tport: 'abc'}", wantErr: `config: f.conf:3: client.port: expected a number 1-65535, got "abc"`},
		{in: `client: {port: '9601'}`, wantErr: `config: f.conf:2: client.port: expected a number 1-65535, got "9601"`},
		{in: `client: {port: 0}`, wantErr: `config: f.conf:2: client.port: expected a number 1-65535, got 0`},
		{in: `client: {port: 65536}`, wantErr: `config: f.conf:2: client.port: expected a number 1-65535, got 65536`},
		{in: `client: {port: -1}`, wantErr: `config: f.conf:2: client.port: expected a number 1-65535, got -1`},
		{in: `admin: {port: 80.5}`, wantErr: `config: f.conf:2: admin.port: expected a number 1-65535, got 80.5`},
		{in: `admin: {port: 0x1F90}`, want: func(c *Config) { c.Admin.Port = 8080 }},
		{in: `admin: {port: 8.08e3}`, want: func(c *Config) { c.Admin.Port = 8080 }},
		{in: `admin: {port: 9601}`, wantErr: `config: f.conf:2: admin.port: 9601 is both admin.port and client.port; they need different ports`},
		{in: `admin: {port: 9601}, client: {port: 9600}`, want: func(c *Config) { c.Admin.Port, c.Client.Port = 9601, 9600 }},
		{in: `admin: {host: '127.0.0.1'}, client: {host: '127.0.0.2', port: 9600}`,
			want: func(c *Config) { c.Admin.Host, c.Client.Host, c.Client.Port = "127.0.0.1", "127.0.0.2", 9600 }},
		{in: "admin: {host: '127.0.0.1'},\nclient: {port: 9600}", wantErr: `config: f.conf:3: client.port: 9600 is both admin.port and client.port; they need different ports`},

		// admin.token, admin.maxBodySize
		{in: `admin: {token: 'abc'}`, want: func(c *Config) { c.Admin.Token = "abc" }},
		{in: `admin: {token: 12345}`, wantErr: `config: f.conf:2: admin.token: expected a string, got a number`},
		{in: `admin: {maxBodySize: 10}`, want: func(c *Config) { c.Admin.MaxBodyBytes = 10 }},
		{in: `admin: {maxBodySize: 0}`, wantErr: `config: f.conf:2: admin.maxBodySize: expected a size in bytes, an integer >= 1, got 0`},

		// client.path
		{in: `client: {path: '/push'}`, want: func(c *Config) { c.Client.Path = "/push/" }},
		{in: `client: {path: '/'}`, want: func(c *Config) { c.Client.Path = "/" }},
		{in: `client: {path: 'socket.io'}`, wantErr: `config: f.conf:2: client.path: expected a URL path such as "/socket.io/", got "socket.io"`},
		{in: `client: {path: '/a?b'}`, wantErr: `config: f.conf:2: client.path: expected a URL path such as "/socket.io/", got "/a?b"`},

		// transports
		{in: `client: {socketIoTransports: ['websocket']}`, want: func(c *Config) { c.Client.Transports = []string{"websocket"} }},
		{in: `client: {socketIoTransports: ['jsonp-polling', 'xhr-polling', 'polling', 'websocket', 'websocket']}`,
			want: func(c *Config) { c.Client.Transports = []string{"jsonp", "polling", "websocket"} }},
		{in: `client: {socketIoTransports: ['flashsocket', 'htmlfile']}`,
			wantErr: `config: f.conf:2: client.socketIoTransports: no usable transport: expected at least one of "websocket", "xhr-polling", "jsonp-polling"`},
		{in: `client: {socketIoTransports: []}`,
			wantErr: `config: f.conf:2: client.socketIoTransports: no usable transport: expected at least one of "websocket", "xhr-polling", "jsonp-polling"`},
		{in: "client: {socketIoTransports: [\n'websocket',\n'carrier-pigeon']}",
			wantErr: `config: f.conf:4: client.socketIoTransports: expected "websocket", "xhr-polling", "jsonp-polling" or "polling", got "carrier-pigeon"`},
		{in: `client: {socketIoTransports: [1]}`,
			wantErr: `config: f.conf:2: client.socketIoTransports: expected "websocket", "xhr-polling", "jsonp-polling" or "polling", got 1`},
		{in: `client: {socketIoTransports: 'websocket'}`,
			wantErr: `config: f.conf:2: client.socketIoTransports: expected an array of transport names, got "websocket"`},

		// SSL
		{in: `client: {useSSL: true, sslKey: '/k', sslCert: '/c'}`, want: func(c *Config) { c.Client.UseSSL, c.Client.SSLKey, c.Client.SSLCert = true, "/k", "/c" }},
		{in: "client: {\nuseSSL: true, sslKey: '/k'}", wantErr: `config: f.conf:3: client.useSSL: true needs client.sslKey and client.sslCert`},
		{in: `client: {useSSL: 'true'}`, wantErr: `config: f.conf:2: client.useSSL: expected true or false, got "true"`},
		{in: `client: {useSSL: 1}`, wantErr: `config: f.conf:2: client.useSSL: expected true or false, got 1`},
		{in: `client: {sslKey: 1}`, wantErr: `config: f.conf:2: client.sslKey: expected a string, got 1`},

		// durations
		{in: `client: {pingInterval: 300, pingTimeout: 200}`, want: func(c *Config) {
			c.Client.PingInterval, c.Client.PingTimeout = 300*time.Millisecond, 200*time.Millisecond
		}},
		{in: `client: {pingInterval: 0}`, wantErr: `config: f.conf:2: client.pingInterval: expected a duration in milliseconds, an integer >= 1, got 0`},
		{in: `client: {pingTimeout: '20s'}`, wantErr: `config: f.conf:2: client.pingTimeout: expected a duration in milliseconds, an integer >= 1, got "20s"`},
		{in: `client: {pingTimeout: 2147483648}`, wantErr: `config: f.conf:2: client.pingTimeout: expected a duration in milliseconds, an integer >= 1, got 2147483648`},
		{in: `client: {pingInterval: 2147483647}`, wantErr: `config: f.conf:2: client.pingInterval: pingInterval + pingTimeout is 2147503647 ms, expected at most 2147483647 (clients' timers overflow beyond)`},
		{in: `client: {authTimeout: 0}`, want: func(c *Config) { c.Client.AuthTimeout = 0 }},
		{in: `client: {authTimeout: -1}`, wantErr: `config: f.conf:2: client.authTimeout: expected a duration in milliseconds, an integer >= 0, got -1`},
		{in: `client: {authTimeout: 1.5}`, wantErr: `config: f.conf:2: client.authTimeout: expected a duration in milliseconds, an integer >= 0, got 1.5`},
		{in: `delivery: {bufferTTL: 1e300}`, wantErr: `config: f.conf:2: delivery.bufferTTL: expected a duration in milliseconds, an integer >= 0, got 1e300`},
		{in: `delivery: {bufferTTL: 0, recoveryWindow: 0, writeTimeout: 1}`, want: func(c *Config) {
			c.Delivery.BufferTTL, c.Delivery.RecoveryWindow, c.Delivery.WriteTimeout = 0, 0, time.Millisecond
		}},
		{in: `delivery: {writeTimeout: 0}`, wantErr: `config: f.conf:2: delivery.writeTimeout: expected a duration in milliseconds, an integer >= 1, got 0`},

		// sizes and counts
		{in: `client: {maxPayload: 100000000}`, want: func(c *Config) { c.Client.MaxPayload = 1e8 }},
		{in: `client: {maxPayload: 0}`, wantErr: `config: f.conf:2: client.maxPayload: expected a size in bytes, an integer >= 1, got 0`},
		{in: `delivery: {bufferSize: 0, bufferBytes: 1, queueSize: 1}`, want: func(c *Config) {
			c.Delivery.BufferSize, c.Delivery.BufferBytes, c.Delivery.QueueSize = 0, 1, 1
		}},
		{in: `delivery: {bufferSize: -1}`, wantErr: `config: f.conf:2: delivery.bufferSize: expected an integer >= 0, got -1`},
		{in: `delivery: {queueSize: 0}`, wantErr: `config: f.conf:2: delivery.queueSize: expected an integer >= 1, got 0`},
		{in: `delivery: {bufferBytes: [1]}`, wantErr: `config: f.conf:2: delivery.bufferBytes: expected a size in bytes, an integer >= 1, got an array`},

		// client.allowEIO3, client.corsOrigins
		{in: `client: {allowEIO3: false}`, want: func(c *Config) { c.Client.AllowEIO3 = false }},
		{in: `client: {corsOrigins: ['https://App.Example.com', 'http://localhost:3000/', '*', 'null', 'capacitor://localhost']}`,
			want: func(c *Config) {
				c.Client.CORSOrigins = []string{"https://app.example.com", "http://localhost:3000", "*", "null", "capacitor://localhost"}
			}},
		{in: `client: {corsOrigins: []}`, want: func(c *Config) { c.Client.CORSOrigins = []string{} }},
		{in: `client: {corsOrigins: ['example.com']}`, wantErr: `config: f.conf:2: client.corsOrigins: expected "*" or an origin such as "https://example.com", got "example.com"`},
		{in: `client: {corsOrigins: ['https://example.com/app']}`, wantErr: `config: f.conf:2: client.corsOrigins: expected "*" or an origin such as "https://example.com", got "https://example.com/app"`},
		{in: `client: {corsOrigins: '*'}`, wantErr: `config: f.conf:2: client.corsOrigins: expected an array of origins, got "*"`},

		// log
		{in: `log: {debug: true}`, want: func(c *Config) { c.Log.Debug = true }},
		{in: `log: {debug: 'yes'}`, wantErr: `config: f.conf:2: log.debug: expected true or false, got "yes"`},
		{in: `log: {syslog: {enable: true, tag: 'p1', facility: 'LOG_LOCAL7'}}`, want: func(c *Config) {
			c.Log.Syslog = Syslog{Enable: true, Tag: "p1", Facility: "local7"}
		}},
		{in: `log: {syslog: {facility: 'user'}}`, want: func(c *Config) { c.Log.Syslog.Facility = "user" }},
		{in: `log: {syslog: {facility: 'log_daemon'}}`, want: func(c *Config) { c.Log.Syslog.Facility = "daemon" }},
		{in: `log: {syslog: {facility: 'LOG_LOCAL8'}}`, wantErr: `config: f.conf:2: log.syslog.facility: expected a syslog facility such as "LOG_DAEMON" or "LOG_LOCAL0", got "LOG_LOCAL8"`},
		{in: `log: {syslog: {facility: 3}}`, wantErr: `config: f.conf:2: log.syslog.facility: expected a syslog facility such as "LOG_DAEMON" or "LOG_LOCAL0", got 3`},
		{in: `log: {syslog: {address: 'unixgram:/dev/log'}}`, want: func(c *Config) { c.Log.Syslog.Address = "unixgram:/dev/log" }},
		{in: `log: {syslog: {address: 'tcp:[::1]:601'}}`, want: func(c *Config) { c.Log.Syslog.Address = "tcp:[::1]:601" }},
		{in: `log: {syslog: {address: 'udp:logs'}}`, wantErr: `config: f.conf:2: log.syslog.address: expected "", "unixgram:/path", "unix:/path", "udp:host:port" or "tcp:host:port", got "udp:logs"`},
		{in: `log: {syslog: {address: 'udp::514'}}`, wantErr: `config: f.conf:2: log.syslog.address: expected "", "unixgram:/path", "unix:/path", "udp:host:port" or "tcp:host:port", got "udp::514"`},
		{in: `log: {syslog: {address: '/dev/log'}}`, wantErr: `config: f.conf:2: log.syslog.address: expected "", "unixgram:/path", "unix:/path", "udp:host:port" or "tcp:host:port", got "/dev/log"`},
		{in: `log: {syslog: 'on'}`, wantErr: `config: f.conf:2: log.syslog: expected an object, got "on"`},

		// storage, engine
		{in: `storage: {path: '/var/lib/pushinator/state'}`, want: func(c *Config) { c.Storage.Path = "/var/lib/pushinator/state" }},
		{in: `engine: {type: 'redis', redis: {addr: '[::1]:7000', password: 'pw', db: 3, prefix: 'p:'}}`, want: func(c *Config) {
			c.Engine = Engine{Type: "redis", Redis: Redis{Addr: "[::1]:7000", Password: "pw", DB: 3, Prefix: "p:"}}
		}},
		{in: `engine: {type: 'mysql'}`, wantErr: `config: f.conf:2: engine.type: expected "memory" or "redis", got "mysql"`},
		{in: `engine: {redis: {addr: 'localhost'}}`, wantErr: `config: f.conf:2: engine.redis.addr: expected "host:port", got "localhost"`},
		{in: `engine: {redis: {password: true}}`, wantErr: `config: f.conf:2: engine.redis.password: expected a string, got a boolean`},
		{in: `engine: {redis: {db: -1}}`, wantErr: `config: f.conf:2: engine.redis.db: expected an integer >= 0, got -1`},
		{in: `engine: {type: 'redis', redis: {addr: 'r.example:6380', tls: true, tlsCA: '/etc/ssl/redis-ca.pem', tlsServerName: 'redis.internal'}}`, want: func(c *Config) {
			c.Engine = Engine{Type: "redis", Redis: Redis{Addr: "r.example:6380", Prefix: c.Engine.Redis.Prefix, TLS: true, TLSCA: "/etc/ssl/redis-ca.pem", TLSServerName: "redis.internal"}}
		}},
		{in: `engine: {redis: {advertise: '10.0.0.7:9601'}}`, want: func(c *Config) { c.Engine.Redis.Advertise = "10.0.0.7:9601" }},
		{in: `engine: {redis: {advertise: 'node7'}}`, wantErr: `config: f.conf:2: engine.redis.advertise: expected "host:port" or "", got "node7"`},
		{in: `engine: {redis: {tls: 'yes'}}`, wantErr: `config: f.conf:2: engine.redis.tls: expected true or false, got "yes"`},
		{in: `engine: {redis: {tlsCA: 7}}`, wantErr: `config: f.conf:2: engine.redis.tlsCA: expected a string, got 7`},
		{in: `engine: {redis: {tlsCA: '/ca.pem'}}`, wantErr: `config: f.conf:2: engine.redis.tlsCA: needs engine.redis.tls: true`},
		{in: `engine: {redis: {tls: false, tlsServerName: 'r'}}`, wantErr: `config: f.conf:2: engine.redis.tlsServerName: needs engine.redis.tls: true`},

		// limits
		{in: `limits: {maxConnections: 10000, maxSessionsPerUser: 10, handshakesPerSecondPerIP: 20, authFailuresPerMinutePerIP: 30}`, want: func(c *Config) {
			c.Limits = Limits{10000, 10, 20, 30}
		}},
		{in: `limits: {maxConnections: -5}`, wantErr: `config: f.conf:2: limits.maxConnections: expected an integer >= 0, got -5`},

		// sections
		{in: `admin: null`, want: func(c *Config) {}},
		{in: `admin: []`, wantErr: `config: f.conf:2: admin: expected an object, got an array`},
		{in: `client: 9601`, wantErr: `config: f.conf:2: client: expected an object, got 9601`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c, _, err := Parse("f.conf", []byte("module.exports = {\n"+tt.in+"\n}\n"))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("%s:\n got error %v\nwant error %s", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tt.in, err)
			}
			want := Default()
			want.File = "f.conf"
			tt.want(want)
			if !reflect.DeepEqual(c, want) {
				t.Errorf("%s:\n got %+v\nwant %+v", tt.in, c, want)
			}
		})
	}
}

func TestTopLevelMustBeAnObject(t *testing.T) {
	for in, want := range map[string]string{
		"[]":                      `config: f.conf:1: expected an object at the top level, got an array`,
		"module.exports =\n'x';":  `config: f.conf:2: expected an object at the top level, got "x"`,
		"null":                    `config: f.conf:1: expected an object at the top level, got null`,
		"module.exports = 9600\n": `config: f.conf:1: expected an object at the top level, got 9600`,
	} {
		if _, _, err := Parse("f.conf", []byte(in)); err == nil || err.Error() != want {
			t.Errorf("Parse(%q) error = %v, want %s", in, err, want)
		}
	}
}

func TestUnknownKeysWarn(t *testing.T) {
	in := "module.exports = {\n  client: {\n    prot: 9601,\n    port: 9700,\n  },\n  colour: {a: 1},\n  log: {syslog: {enabled: true}},\n}"
	c, warnings, err := Parse("/etc/p.conf", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`config: /etc/p.conf:3: unknown key "client.prot"`,
		`config: /etc/p.conf:6: unknown key "colour"`,
		`config: /etc/p.conf:7: unknown key "log.syslog.enabled"`,
	}
	if !reflect.DeepEqual(warnings, want) {
		t.Errorf("warnings:\n got %q\nwant %q", warnings, want)
	}
	if c.Client.Port != 9700 {
		t.Errorf("client.port = %d", c.Client.Port)
	}
}

func TestDuplicateKeysWarnAndLastWins(t *testing.T) {
	in := "{\n client: {port: 1000},\n client: {host: 'h'},\n}"
	c, warnings, err := Parse("f.conf", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`config: f.conf:3: duplicate key "client" (first at line 2); the last one wins`}
	if !reflect.DeepEqual(warnings, want) {
		t.Errorf("warnings = %q, want %q", warnings, want)
	}
	// As in JavaScript, the second object replaces the first whole.
	if c.Client.Port != 9601 || c.Client.Host != "h" {
		t.Errorf("client = %+v", c.Client)
	}
}

func TestWarningsAreReturnedWithAnError(t *testing.T) {
	in := "{\n client: {socketIoTransports: ['flashsocket', 'websocket'], port: 0},\n}"
	_, warnings, err := Parse("f.conf", []byte(in))
	if err == nil || len(warnings) != 1 {
		t.Fatalf("err = %v, warnings = %q", err, warnings)
	}
}

func TestSecretsStayOutOfMessages(t *testing.T) {
	for _, in := range []string{
		`{admin: {token: 123456789}}`,
		`{engine: {redis: {password: 123456789}}}`,
		`{admin: {token: '123456789', tokne: 1}}`,
	} {
		_, warnings, err := Parse("f.conf", []byte(in))
		all := strings.Join(warnings, "\n")
		if err != nil {
			all += err.Error()
		}
		if strings.Contains(all, "123456789") {
			t.Errorf("Parse(%q) shows the secret: %s", in, all)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	_, _, err := Load(filepath.Join(dir, "missing.conf"))
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "config: open "+dir) {
		t.Errorf("missing file: %v", err)
	}
	_, _, err = Load(dir)
	if err == nil || err.Error() != "config: "+dir+" is not a regular file" {
		t.Errorf("directory: %v", err)
	}
	// A FIFO is refused before it is opened (the open would wait for a writer for ever).
	fifo := filepath.Join(dir, "fifo.conf")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err = Load(fifo); err == nil || err.Error() != "config: "+fifo+" is not a regular file" {
		t.Errorf("FIFO: %v", err)
	}
	// A value is quoted at most 60 bytes long in an error.
	long := filepath.Join(dir, "long.conf")
	os.WriteFile(long, []byte("{client: {port: "+strings.Repeat("9", 100000)+"}}"), 0o600)
	if _, _, err = Load(long); err == nil || len(err.Error()) > 300 || !strings.Contains(err.Error(), "is out of range") {
		t.Errorf("a 100,000-digit port: %.400v", err)
	}
	big := filepath.Join(dir, "big.conf")
	if err := os.WriteFile(big, []byte("{}"+strings.Repeat(" ", maxFileSize)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = Load(big)
	if want := "config: " + big + ": larger than 1048576 bytes; is this the config file?"; err == nil || err.Error() != want {
		t.Errorf("big file: %v, want %s", err, want)
	}
	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte("module.exports = {\n  client: {\n    port: 'abc',\n  },\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = Load(bad)
	if want := "config: " + bad + `:3: client.port: expected a number 1-65535, got "abc"`; err == nil || err.Error() != want {
		t.Errorf("bad file: %v, want %s", err, want)
	}
}

func TestSyslogHelpers(t *testing.T) {
	for _, tt := range []struct {
		facility string
		want     syslog.Priority
	}{
		{"daemon", syslog.LOG_DAEMON}, {"LOG_DAEMON", syslog.LOG_DAEMON}, {"kern", syslog.LOG_KERN},
		{"user", syslog.LOG_USER}, {"authpriv", syslog.LOG_AUTHPRIV}, {"ftp", syslog.LOG_FTP},
		{"local0", syslog.LOG_LOCAL0}, {"LOG_LOCAL7", syslog.LOG_LOCAL7},
	} {
		if got, err := (Syslog{Facility: tt.facility}).Priority(); err != nil || got != tt.want {
			t.Errorf("Priority(%q) = %v, %v; want %v", tt.facility, got, err, tt.want)
		}
	}
	if _, err := (Syslog{Facility: "bogus"}).Priority(); err == nil {
		t.Error("Priority(bogus): no error")
	}
	if n, a := (Syslog{}).Network(); n != "" || a != "" {
		t.Errorf("Network() = %q, %q", n, a)
	}
	if n, a := (Syslog{Address: "unixgram:/dev/log"}).Network(); n != "unixgram" || a != "/dev/log" {
		t.Errorf("Network() = %q, %q", n, a)
	}
}

func TestAddr(t *testing.T) {
	if got := (Admin{Host: "::1", Port: 9600}).Addr(); got != "[::1]:9600" {
		t.Errorf("Addr() = %q", got)
	}
	if got := (Client{Host: "", Port: 443}).Addr(); got != ":443" {
		t.Errorf("Addr() = %q", got)
	}
}

// TestAllKeysIsTheSchema keeps allKeys (and so the example config's check)
// in step with the keys Parse knows.
func TestAllKeysIsTheSchema(t *testing.T) {
	var walk func(prefix string, f fields) []string
	walk = func(prefix string, f fields) []string {
		var keys []string
		for k, v := range f {
			if sub, ok := v.(fields); ok {
				keys = append(keys, walk(joinPath(prefix, k), sub)...)
			} else {
				keys = append(keys, joinPath(prefix, k))
			}
		}
		return keys
	}
	d := &decoder{cfg: Default()}
	got := walk("", d.schema())
	slices.Sort(got)
	want := slices.Sorted(slices.Values(allKeys))
	if !slices.Equal(got, want) {
		t.Errorf("schema keys:\n%q\nallKeys:\n%q", got, want)
	}
}
