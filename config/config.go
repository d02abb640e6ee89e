// Package config loads pushinator's configuration file.
//
// The file is the original pushinator's: a JavaScript module
// (`module.exports = { ... }` with comments, unquoted keys, single quotes and
// trailing commas), or plain JSON. It is read as data by a small parser for
// that subset of JavaScript, never run. Every key has a default (Default), so
// `{}` is a valid file.
//
// Guarantees:
//   - A Config returned without error is complete and valid: ports are in
//     range, durations and sizes are in bounds, names are normalized (the
//     transports, the syslog facility, the socket.io path, the hosts).
//   - Every error names the file, the line, the dotted key, what was
//     expected and what was found:
//     `config: /etc/pushinator.conf:12: client.port: expected a number 1-65535, got "abc"`.
//     Syntax errors add the column: `config: FILE:LINE:COL: unexpected ...`.
//   - Unknown keys, duplicate keys and obsolete transports are warnings, not
//     errors: the caller logs them (a typo must not pass unnoticed, and a
//     file that ran the seed must still run).
//   - Secrets (admin.token, engine.redis.password) never appear in an error
//     or a warning.
//
// Duplicate keys: the last one wins, as in JavaScript, with a warning.
// A key set to null keeps its default, as the Node program would have read
// an unset option.
package config

import (
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Config is pushinator's whole configuration. Durations are milliseconds
// and sizes bytes in the file.
type Config struct {
	File     string // the path loaded ("" for defaults)
	PIDFile  string // pidfile
	Admin    Admin
	Client   Client
	Log      Log
	Delivery Delivery
	Storage  Storage
	Engine   Engine
	Limits   Limits
}

// Admin is the admin HTTP API's listener.
type Admin struct {
	Host         string // admin.host; "" means all interfaces (the seed writes host: 0)
	Port         int    // admin.port
	Token        string // admin.token; "" = no authentication. Never log it.
	MaxBodyBytes int64  // admin.maxBodySize: larger request bodies get 413
}

// Client is the socket.io listener.
type Client struct {
	Host         string        // client.host; "" means all interfaces
	Port         int           // client.port
	Path         string        // client.path, with a leading and a trailing slash
	Transports   []string      // client.socketIoTransports, normalized (TransportWebSocket, TransportPolling, TransportJSONP), in the configured order, without duplicates; never empty
	UseSSL       bool          // client.useSSL: TLS on the client port
	SSLKey       string        // client.sslKey: set when UseSSL (its readability is checked by main at start)
	SSLCert      string        // client.sslCert: set when UseSSL
	PingInterval time.Duration // client.pingInterval
	PingTimeout  time.Duration // client.pingTimeout
	AuthTimeout  time.Duration // client.authTimeout; 0 = never
	MaxPayload   int64         // client.maxPayload
	AllowEIO3    bool          // client.allowEIO3
	CORSOrigins  []string      // client.corsOrigins: "*", "null" or lower-case "scheme://host[:port]"
}

// Log selects what is logged and where a daemon logs.
type Log struct {
	Debug  bool // log.debug
	Syslog Syslog
}

// Syslog is where a daemon's log goes when Enable is set.
type Syslog struct {
	Enable   bool   // log.syslog.enable
	Tag      string // log.syslog.tag
	Facility string // log.syslog.facility, normalized to the lower-case short name ("daemon", "local0"); see Priority
	// Address is log.syslog.address: "" = the local syslog (/dev/log);
	// "unixgram:/path", "unix:/path", "udp:host:port" or "tcp:host:port".
	Address string
}

// Delivery bounds what is kept for users and sessions.
type Delivery struct {
	BufferSize     int           // delivery.bufferSize: messages kept per user without a live session; 0 = none
	BufferBytes    int64         // delivery.bufferBytes: bytes kept per user
	BufferTTL      time.Duration // delivery.bufferTTL: how long they are kept
	RecoveryWindow time.Duration // delivery.recoveryWindow: how long a dropped session can recover; 0 = no recovery
	QueueSize      int           // delivery.queueSize: packets queued per session before it is cut as a slow client
	WriteTimeout   time.Duration // delivery.writeTimeout: deadline of every write to a client
}

// SessionQueueLimit is how many packets may wait for one session before it is cut as a slow
// client: queueSize, plus room for what a session is replayed when it authenticates or
// recovers (at most bufferSize messages, all queued at once). Without that room, a client
// busy for a moment after connecting was cut in the middle of its replay, and a client without
// recovery lost what was queued; one with recovery came back to the same replay, again and again.
func (d Delivery) SessionQueueLimit() int {
	return int(min(int64(d.QueueSize)+int64(d.BufferSize), math.MaxInt32))
}

// Storage is the state file of the memory engine.
type Storage struct {
	Path string // storage.path; "" = memory only
}

// Engine selects where shared state lives.
type Engine struct {
	Type  string // engine.type: EngineMemory or EngineRedis
	Redis Redis
}

// Redis is the Redis engine's server.
type Redis struct {
	Addr     string // engine.redis.addr: "host:port"
	Password string // engine.redis.password; never log it
	DB       int    // engine.redis.db
	Prefix   string // engine.redis.prefix of every key
	// TLS to Redis (engine.redis.tls); the server's certificate is verified against TLSCA
	// (engine.redis.tlsCA, a PEM file; "" = the system's roots) for TLSServerName
	// (engine.redis.tlsServerName; "" = the host of Addr).
	TLS           bool
	TLSCA         string
	TLSServerName string
	// Advertise (engine.redis.advertise) is the host:port where the other nodes reach this
	// node's client port, to forward polling requests; "" = client.host:client.port, or the
	// machine's name when the client port listens on every interface.
	Advertise string
}

// Limits that could refuse legitimate traffic; 0 = off.
type Limits struct {
	MaxConnections           int // limits.maxConnections: open client connections in this process
	MaxSessionsPerUser       int // limits.maxSessionsPerUser
	HandshakesPerSecondPerIP int // limits.handshakesPerSecondPerIP
	AuthFailuresPerMinute    int // limits.authFailuresPerMinutePerIP: failed authentications per client IP before it is refused for the rest of the minute
}

// Normalized transport names in Client.Transports.
const (
	TransportWebSocket = "websocket"
	TransportPolling   = "polling" // XHR long-polling; "xhr-polling" in the seed
	TransportJSONP     = "jsonp"   // JSONP long-polling; "jsonp-polling" in the seed
)

// Engine types.
const (
	EngineMemory = "memory"
	EngineRedis  = "redis"
)

// Addr is the admin listener's address for net.Listen.
func (a Admin) Addr() string { return net.JoinHostPort(a.Host, strconv.Itoa(a.Port)) }

// Addr is the client listener's address for net.Listen.
func (c Client) Addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// Network returns the arguments for log/syslog.Dial: ("", "") for the local
// syslog, else the network and address of Address.
func (s Syslog) Network() (network, raddr string) {
	network, raddr, _ = strings.Cut(s.Address, ":")
	return network, raddr
}

// maxFileSize bounds what Load reads: a config is a few kilobytes, and a
// wrong path (a log, a device) must not be read whole.
const maxFileSize = 1 << 20

// Load reads, parses and validates the config file at path. The warnings
// (unknown keys, duplicate keys, obsolete transports) are for the caller to
// log; they are returned with an error too. A missing or unreadable file is
// an error that wraps the os error (errors.Is(err, fs.ErrNotExist)).
func Load(path string) (*Config, []string, error) {
	// Opening a FIFO would block until a writer comes, and the signals that could end the
	// wait are not handled yet: only a regular file is read.
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("config: %s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, nil, fmt.Errorf("config: %s: larger than %d bytes; is this the config file?", path, maxFileSize)
	}
	return Parse(path, data)
}

// Parse parses and validates a config file's contents; name is the file
// name used in messages and in Config.File.
func Parse(name string, data []byte) (*Config, []string, error) {
	root, warnings, err := parseJS(name, data)
	if err != nil {
		return nil, warnings, err
	}
	d := &decoder{name: name, cfg: Default(), warnings: warnings, lines: map[string]int{}}
	d.cfg.File = name
	if root.kind != kindObject {
		return nil, d.warnings, fmt.Errorf("config: %s:%d: expected an object at the top level, got %s", name, root.pos.line, describe(root))
	}
	if err := d.object("", root, d.schema()); err != nil {
		return nil, d.warnings, err
	}
	if err := d.crossCheck(); err != nil {
		return nil, d.warnings, err
	}
	return d.cfg, d.warnings, nil
}

// decoder applies a parsed file to a Config that starts as Default().
type decoder struct {
	name     string
	cfg      *Config
	warnings []string
	lines    map[string]int // dotted key → line where the file sets it, for checks across keys
}

// setter validates one key's value and stores it.
type setter func(key string, v *value) error

// fields is a section of the file: each key maps to a setter, or to fields
// for a nested section.
type fields map[string]any

// schema is the file's layout: every key, and what it accepts.
func (d *decoder) schema() fields {
	c := d.cfg
	const maxInt = math.MaxInt32   // counts: far above any real need, safe on 32-bit
	const maxTimer = math.MaxInt32 // ms: browsers' setTimeout overflows beyond, and clients arm timers from these
	return fields{
		"pidfile": d.path(&c.PIDFile),
		"admin": fields{
			"host":        d.host(&c.Admin.Host),
			"port":        d.port(&c.Admin.Port),
			"token":       d.secret(&c.Admin.Token),
			"maxBodySize": d.bytes(&c.Admin.MaxBodyBytes),
		},
		"client": fields{
			"host":               d.host(&c.Client.Host),
			"port":               d.port(&c.Client.Port),
			"path":               d.urlPath(&c.Client.Path),
			"socketIoTransports": d.transports(&c.Client.Transports),
			"useSSL":             d.boolean(&c.Client.UseSSL),
			"sslKey":             d.str(&c.Client.SSLKey),
			"sslCert":            d.str(&c.Client.SSLCert),
			"pingInterval":       d.millis(&c.Client.PingInterval, 1, maxTimer),
			"pingTimeout":        d.millis(&c.Client.PingTimeout, 1, maxTimer),
			"authTimeout":        d.millis(&c.Client.AuthTimeout, 0, maxMillis),
			"maxPayload":         d.bytes(&c.Client.MaxPayload),
			"allowEIO3":          d.boolean(&c.Client.AllowEIO3),
			"corsOrigins":        d.origins(&c.Client.CORSOrigins),
		},
		"log": fields{
			"debug": d.boolean(&c.Log.Debug),
			"syslog": fields{
				"enable":   d.boolean(&c.Log.Syslog.Enable),
				"tag":      d.str(&c.Log.Syslog.Tag),
				"facility": d.facility(&c.Log.Syslog.Facility),
				"address":  d.syslogAddress(&c.Log.Syslog.Address),
			},
		},
		"delivery": fields{
			"bufferSize":     d.integer(&c.Delivery.BufferSize, 0, maxInt),
			"bufferBytes":    d.bytes(&c.Delivery.BufferBytes),
			"bufferTTL":      d.millis(&c.Delivery.BufferTTL, 0, maxMillis),
			"recoveryWindow": d.millis(&c.Delivery.RecoveryWindow, 0, maxMillis),
			"queueSize":      d.integer(&c.Delivery.QueueSize, 1, maxInt),
			"writeTimeout":   d.millis(&c.Delivery.WriteTimeout, 1, maxMillis),
		},
		"storage": fields{
			"path": d.str(&c.Storage.Path),
		},
		"engine": fields{
			"type": d.engineType(&c.Engine.Type),
			"redis": fields{
				"addr":          d.hostPort(&c.Engine.Redis.Addr),
				"password":      d.secret(&c.Engine.Redis.Password),
				"db":            d.integer(&c.Engine.Redis.DB, 0, maxInt),
				"prefix":        d.str(&c.Engine.Redis.Prefix),
				"tls":           d.boolean(&c.Engine.Redis.TLS),
				"tlsCA":         d.str(&c.Engine.Redis.TLSCA),
				"tlsServerName": d.str(&c.Engine.Redis.TLSServerName),
				"advertise":     d.optionalHostPort(&c.Engine.Redis.Advertise),
			},
		},
		"limits": fields{
			"maxConnections":             d.integer(&c.Limits.MaxConnections, 0, maxInt),
			"maxSessionsPerUser":         d.integer(&c.Limits.MaxSessionsPerUser, 0, maxInt),
			"handshakesPerSecondPerIP":   d.integer(&c.Limits.HandshakesPerSecondPerIP, 0, maxInt),
			"authFailuresPerMinutePerIP": d.integer(&c.Limits.AuthFailuresPerMinute, 0, maxInt),
		},
	}
}

// maxMillis is the longest duration a time.Duration holds, in milliseconds.
const maxMillis = math.MaxInt64 / int64(time.Millisecond)

// object applies the members of v to the fields; unknown keys are warnings.
func (d *decoder) object(key string, v *value, f fields) error {
	if v.kind != kindObject {
		return d.fail(key, v, "expected an object")
	}
	for _, m := range v.members {
		k := joinPath(key, m.key)
		var err error
		switch field := f[m.key].(type) {
		case nil:
			d.warn(m.pos.line, "unknown key %q", clip(k))
			continue
		case setter:
			d.lines[k] = m.val.pos.line
			if m.val.kind != kindNull { // null: keep the default
				err = field(k, m.val)
			}
		case fields:
			if m.val.kind != kindNull {
				err = d.object(k, m.val, field)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) warn(line int, format string, args ...any) {
	d.warnings = append(d.warnings, fmt.Sprintf("config: %s:%d: ", d.name, line)+fmt.Sprintf(format, args...))
}

// fail is the error for a bad value: file, line, key, expectation, value.
func (d *decoder) fail(key string, v *value, expected string) error {
	return d.failAt(v.pos.line, key, "%s, got %s", expected, describe(v))
}

func (d *decoder) failAt(line int, key, format string, args ...any) error {
	where := d.name
	if line > 0 {
		where = fmt.Sprintf("%s:%d", d.name, line)
	}
	return fmt.Errorf("config: %s: %s: %s", where, key, fmt.Sprintf(format, args...))
}

// describe shows a value in an error: strings quoted (and cut when long),
// numbers as written, containers by kind.
func describe(v *value) string {
	switch v.kind {
	case kindString:
		return strconv.Quote(clip(v.str))
	case kindNumber:
		return clip(v.text)
	case kindBool:
		return strconv.FormatBool(v.b)
	case kindNull:
		return "null"
	case kindArray:
		return "an array"
	}
	return "an object"
}

// clip shortens what an error or warning quotes from the file to 60 bytes of whole
// characters: a wrong value may be a megabyte long.
func clip(s string) string {
	if len(s) <= 60 {
		return s
	}
	cut := 60
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// describeKind shows only what kind of value was found, for secrets.
func describeKind(v *value) string {
	switch v.kind {
	case kindString:
		return "a string"
	case kindNumber:
		return "a number"
	case kindBool:
		return "a boolean"
	}
	return describe(v)
}

func (d *decoder) str(dst *string) setter {
	return func(key string, v *value) error {
		if v.kind != kindString {
			return d.fail(key, v, "expected a string")
		}
		*dst = v.str
		return nil
	}
}

// secret is a string that must not appear in messages.
func (d *decoder) secret(dst *string) setter {
	return func(key string, v *value) error {
		if v.kind != kindString {
			return d.failAt(v.pos.line, key, "expected a string, got %s", describeKind(v))
		}
		*dst = v.str
		return nil
	}
}

// path is a file path that must be set.
func (d *decoder) path(dst *string) setter {
	return func(key string, v *value) error {
		if v.kind != kindString || v.str == "" || strings.IndexByte(v.str, 0) >= 0 {
			return d.fail(key, v, "expected a file path") // a NUL byte cannot be in one
		}
		*dst = v.str
		return nil
	}
}

func (d *decoder) boolean(dst *bool) setter {
	return func(key string, v *value) error {
		if v.kind != kindBool {
			return d.fail(key, v, "expected true or false")
		}
		*dst = v.b
		return nil
	}
}

// wholeNumber returns v as an integer in [lo, hi].
func wholeNumber(v *value, lo, hi int64) (int64, bool) {
	if v.kind != kindNumber || v.num != math.Trunc(v.num) || math.Abs(v.num) > 1<<53 {
		return 0, false
	}
	n := int64(v.num)
	return n, n >= lo && n <= hi
}

func rangeText(lo, hi int64) string {
	if hi >= math.MaxInt32 {
		return fmt.Sprintf(">= %d", lo)
	}
	return fmt.Sprintf("%d-%d", lo, hi)
}

func (d *decoder) integer(dst *int, lo, hi int64) setter {
	return func(key string, v *value) error {
		n, ok := wholeNumber(v, lo, hi)
		if !ok {
			return d.fail(key, v, "expected an integer "+rangeText(lo, hi))
		}
		*dst = int(n)
		return nil
	}
}

func (d *decoder) port(dst *int) setter {
	return func(key string, v *value) error {
		n, ok := wholeNumber(v, 1, 65535)
		if !ok {
			return d.fail(key, v, "expected a number 1-65535")
		}
		*dst = int(n)
		return nil
	}
}

func (d *decoder) millis(dst *time.Duration, lo, hi int64) setter {
	return func(key string, v *value) error {
		n, ok := wholeNumber(v, lo, hi)
		if !ok {
			return d.fail(key, v, "expected a duration in milliseconds, an integer "+rangeText(lo, hi))
		}
		*dst = time.Duration(n) * time.Millisecond
		return nil
	}
}

// bytes is a size limit: at least one byte, since every buffer has a bound.
func (d *decoder) bytes(dst *int64) setter {
	return func(key string, v *value) error {
		n, ok := wholeNumber(v, 1, 1<<53)
		if !ok {
			return d.fail(key, v, "expected a size in bytes, an integer >= 1")
		}
		*dst = n
		return nil
	}
}

// host accepts the seed's `host: 0`, "0.0.0.0", "0" and "" as all
// interfaces (stored as ""), or a host name or IP address ("[::1]" is
// stored as "::1").
func (d *decoder) host(dst *string) setter {
	const expected = "expected a host name or IP address, or 0 for all interfaces"
	return func(key string, v *value) error {
		switch {
		case v.kind == kindNumber && v.num == 0:
			*dst = ""
			return nil
		case v.kind != kindString:
			return d.fail(key, v, expected)
		}
		h := v.str
		if h == "0.0.0.0" || h == "0" {
			h = ""
		}
		if len(h) > 2 && h[0] == '[' && h[len(h)-1] == ']' {
			h = h[1 : len(h)-1]
		}
		if !validHost(h) {
			return d.fail(key, v, expected)
		}
		*dst = h
		return nil
	}
}

func validHost(h string) bool {
	if strings.Contains(h, ":") {
		addr, _, _ := strings.Cut(h, "%") // an IPv6 zone, "fe80::1%eth0", is fine with net.Listen
		return net.ParseIP(addr) != nil   // only IPv6 addresses contain colons
	}
	return !strings.ContainsFunc(h, func(r rune) bool {
		return r == '/' || r == '[' || r == ']' || unicode.IsSpace(r) || unicode.IsControl(r)
	})
}

// hostPort is a "host:port" address.
func (d *decoder) hostPort(dst *string) setter {
	return func(key string, v *value) error {
		if v.kind != kindString || !validHostPort(v.str) {
			return d.fail(key, v, `expected "host:port"`)
		}
		*dst = v.str
		return nil
	}
}

// optionalHostPort is a host:port, or "" for the default.
func (d *decoder) optionalHostPort(dst *string) setter {
	return func(key string, v *value) error {
		if v.kind != kindString || v.str != "" && !validHostPort(v.str) {
			return d.fail(key, v, `expected "host:port" or ""`)
		}
		*dst = v.str
		return nil
	}
}

func validHostPort(s string) bool {
	h, p, err := net.SplitHostPort(s)
	if err != nil || !validHost(h) {
		return false
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// urlPath is client.path: it starts with a slash and gets a trailing one,
// because Engine.IO clients request PATH + "/?EIO=...".
func (d *decoder) urlPath(dst *string) setter {
	return func(key string, v *value) error {
		if v.kind != kindString || !strings.HasPrefix(v.str, "/") ||
			strings.ContainsAny(v.str, "?#") || strings.ContainsFunc(v.str, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			return d.fail(key, v, `expected a URL path such as "/socket.io/"`)
		}
		p := v.str
		if !strings.HasSuffix(p, "/") {
			p += "/"
		}
		*dst = p
		return nil
	}
}

// transports maps the seed's socket.io 0.x transport names to the ones
// served now, keeping the order (the server's preference).
func (d *decoder) transports(dst *[]string) setter {
	const expected = `expected "websocket", "xhr-polling", "jsonp-polling" or "polling"`
	return func(key string, v *value) error {
		if v.kind != kindArray {
			return d.fail(key, v, "expected an array of transport names")
		}
		var out []string
		for _, e := range v.elems {
			if e.kind != kindString {
				return d.fail(key, e, expected)
			}
			var t string
			switch e.str {
			case "websocket":
				t = TransportWebSocket
			case "xhr-polling", "polling":
				t = TransportPolling
			case "jsonp-polling":
				t = TransportJSONP
			case "flashsocket", "htmlfile":
				d.warn(e.pos.line, "%s: %q is obsolete and ignored", key, e.str)
				continue
			default:
				return d.fail(key, e, expected)
			}
			if !contains(out, t) {
				out = append(out, t)
			}
		}
		if len(out) == 0 {
			return d.failAt(v.pos.line, key, "no usable transport: expected at least one of \"websocket\", \"xhr-polling\", \"jsonp-polling\"")
		}
		*dst = out
		return nil
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// origins is client.corsOrigins: "*", "null" (file:// pages), or origins
// "scheme://host[:port]", compared case-insensitively, so stored lower-case.
func (d *decoder) origins(dst *[]string) setter {
	const expected = `expected "*" or an origin such as "https://example.com"`
	return func(key string, v *value) error {
		if v.kind != kindArray {
			return d.fail(key, v, "expected an array of origins")
		}
		out := []string{}
		for _, e := range v.elems {
			if e.kind != kindString {
				return d.fail(key, e, expected)
			}
			o, ok := normalizeOrigin(e.str)
			if !ok {
				return d.fail(key, e, expected)
			}
			if !contains(out, o) {
				out = append(out, o)
			}
		}
		*dst = out
		return nil
	}
}

func normalizeOrigin(s string) (string, bool) {
	if s == "*" || s == "null" {
		return s, true
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" || u.User != nil || u.Opaque != "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", false
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), true
}

// facility accepts "LOG_DAEMON", "daemon", "LOG_LOCAL0", "local0" (any
// case) and stores the lower-case short name.
func (d *decoder) facility(dst *string) setter {
	return func(key string, v *value) error {
		if v.kind == kindString {
			name := strings.ToLower(v.str)
			name = strings.TrimPrefix(name, "log_")
			if _, ok := facilityCode(name); ok {
				*dst = name
				return nil
			}
		}
		return d.fail(key, v, `expected a syslog facility such as "LOG_DAEMON" or "LOG_LOCAL0"`)
	}
}

// facilityCode is the syslog facility number (RFC 5424) of a short name.
func facilityCode(name string) (int, bool) {
	switch name {
	case "kern":
		return 0, true
	case "user":
		return 1, true
	case "mail":
		return 2, true
	case "daemon":
		return 3, true
	case "auth":
		return 4, true
	case "syslog":
		return 5, true
	case "lpr":
		return 6, true
	case "news":
		return 7, true
	case "uucp":
		return 8, true
	case "cron":
		return 9, true
	case "authpriv":
		return 10, true
	case "ftp":
		return 11, true
	}
	if len(name) == len("local0") && strings.HasPrefix(name, "local") && name[5] >= '0' && name[5] <= '7' {
		return 16 + int(name[5]-'0'), true
	}
	return 0, false
}

func (d *decoder) syslogAddress(dst *string) setter {
	return func(key string, v *value) error {
		if v.kind == kindString && validSyslogAddress(v.str) {
			*dst = v.str
			return nil
		}
		return d.fail(key, v, `expected "", "unixgram:/path", "unix:/path", "udp:host:port" or "tcp:host:port"`)
	}
}

func validSyslogAddress(s string) bool {
	if s == "" {
		return true
	}
	network, addr, _ := strings.Cut(s, ":")
	switch network {
	case "unix", "unixgram":
		return strings.HasPrefix(addr, "/")
	case "udp", "tcp":
		h, _, err := net.SplitHostPort(addr)
		return err == nil && h != "" && validHostPort(addr)
	}
	return false
}

func (d *decoder) engineType(dst *string) setter {
	return func(key string, v *value) error {
		if v.kind != kindString || (v.str != EngineMemory && v.str != EngineRedis) {
			return d.fail(key, v, `expected "memory" or "redis"`)
		}
		*dst = v.str
		return nil
	}
}

// crossCheck validates what involves more than one key.
func (d *decoder) crossCheck() error {
	c := d.cfg
	if c.Client.UseSSL && (c.Client.SSLKey == "" || c.Client.SSLCert == "") {
		return d.failAt(d.lines["client.useSSL"], "client.useSSL", "true needs client.sslKey and client.sslCert")
	}
	for _, kv := range [][2]string{{"engine.redis.tlsCA", c.Engine.Redis.TLSCA}, {"engine.redis.tlsServerName", c.Engine.Redis.TLSServerName}} {
		if kv[1] != "" && !c.Engine.Redis.TLS {
			return d.failAt(d.lines[kv[0]], kv[0], "needs engine.redis.tls: true")
		}
	}
	if sum := (c.Client.PingInterval + c.Client.PingTimeout) / time.Millisecond; sum > math.MaxInt32 {
		key := "client.pingTimeout"
		if d.lines[key] == 0 {
			key = "client.pingInterval"
		}
		return d.failAt(d.lines[key], key, "pingInterval + pingTimeout is %d ms, expected at most %d (clients' timers overflow beyond)", sum, math.MaxInt32)
	}
	if c.Admin.Port == c.Client.Port && (c.Admin.Host == c.Client.Host || c.Admin.Host == "" || c.Client.Host == "") {
		key := "client.port"
		if d.lines[key] == 0 {
			key = "admin.port"
		}
		return d.failAt(d.lines[key], key, "%d is both admin.port and client.port; they need different ports", c.Client.Port)
	}
	return nil
}
