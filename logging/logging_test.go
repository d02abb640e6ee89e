package logging

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestStdoutOneLinePerEvent(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Options{Output: OutputStdout, Writer: &buf})
	if err != nil {
		t.Fatal(err)
	}
	log := l.Slog()
	log.Debug("hidden")
	log.Info("server started", "admin", "127.0.0.1:9600")
	log.With("user", 5).Warn("slow client", "queue", 100)

	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), buf.String())
	}
	want := []*regexp.Regexp{
		regexp.MustCompile(`^time=\S+ level=INFO msg="server started" admin=127\.0\.0\.1:9600$`),
		regexp.MustCompile(`^time=\S+ level=WARN msg="slow client" user=5 queue=100$`),
	}
	for i, re := range want {
		if !re.MatchString(lines[i]) {
			t.Errorf("line %d = %q, want match %s", i, lines[i], re)
		}
	}
}

func TestSetDebugIsLive(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Options{Writer: &buf})
	if err != nil {
		t.Fatal(err)
	}
	derived := l.Slog().With("component", "engineio") // created before the switch
	derived.Debug("one")
	if l.Debug() || buf.Len() != 0 {
		t.Fatalf("debug line written at Info level: %q", buf.String())
	}
	l.SetDebug(true)
	derived.Debug("two")
	if !l.Debug() || !strings.Contains(buf.String(), `level=DEBUG msg=two component=engineio`) {
		t.Fatalf("after SetDebug(true): %q", buf.String())
	}
	l.SetDebug(false)
	buf.Reset()
	derived.Debug("three")
	if buf.Len() != 0 {
		t.Fatalf("after SetDebug(false): %q", buf.String())
	}
}

func TestDiscard(t *testing.T) {
	l, err := New(Options{Output: OutputDiscard, Debug: true})
	if err != nil {
		t.Fatal(err)
	}
	if l.Slog().Enabled(t.Context(), slog.LevelError) {
		t.Error("discard logger claims to be enabled")
	}
	l.Slog().Error("nowhere")
	if err := l.Reopen(); err != nil {
		t.Error(err)
	}
	if err := l.Close(); err != nil {
		t.Error(err)
	}
}

func TestUnknownOutput(t *testing.T) {
	_, err := New(Options{Output: "file"})
	if err == nil || !strings.Contains(err.Error(), `unknown output "file"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestChoose(t *testing.T) {
	for _, c := range []struct {
		daemon, syslog bool
		want           Output
	}{
		{false, false, OutputStdout},
		{false, true, OutputStdout},
		{true, true, OutputSyslog},
		{true, false, OutputDiscard},
	} {
		if got := Choose(c.daemon, c.syslog); got != c.want {
			t.Errorf("Choose(daemon=%v, syslog=%v) = %q, want %q", c.daemon, c.syslog, got, c.want)
		}
	}
}

// TestNeverPrintsSecrets: a hash or token reaches neither stdout nor syslog, whether it is
// passed under a secret-looking key or as a Secret value under any key.
func TestNeverPrintsSecrets(t *testing.T) {
	const hash = "xxx1234-very-secret"
	var buf bytes.Buffer
	l, err := New(Options{Writer: &buf})
	if err != nil {
		t.Fatal(err)
	}
	log := l.Slog()
	log.Info("register", "userId", 5, "hash", hash)
	log.Info("config", "admin_token", Secret(hash), "Token", hash, "Authorization", "Bearer "+hash)
	log.Info("cfg", slog.Group("admin", "token", hash))
	log.Info("struct", "v", struct{ Hash Secret }{Secret(hash)})
	if strings.Contains(buf.String(), hash) {
		t.Fatalf("secret printed:\n%s", buf.String())
	}
	if got := strings.Count(buf.String(), "[redacted]"); got != 6 {
		t.Errorf("%d redactions, want 6:\n%s", got, buf.String())
	}

	s := Secret(hash)
	for _, f := range []string{"%v", "%s", "%q", "%#v", "%x", "%d", "%+v"} {
		if got := fmt.Sprintf(f, s); strings.Contains(got, hash) || strings.Contains(got, fmt.Sprintf("%x", hash)) {
			t.Errorf("Sprintf(%q) = %q", f, got)
		}
	}
	j, _ := json.Marshal(map[string]Secret{"hash": s})
	if strings.Contains(string(j), hash) {
		t.Errorf("json = %s", j)
	}
	if s.Reveal() != hash {
		t.Error("Reveal lost the value")
	}
}

// syslogReceiver is a real syslog server for the test: a unixgram socket in a temp dir.
type syslogReceiver struct {
	t    *testing.T
	path string
	conn *net.UnixConn
}

func listenSyslog(t *testing.T, path string) *syslogReceiver {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &syslogReceiver{t: t, path: path, conn: conn}
}

// next returns the next datagram, failing the test after a deadline.
func (r *syslogReceiver) next() string {
	r.t.Helper()
	buf := make([]byte, 64<<10)
	if err := r.conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		r.t.Fatal(err)
	}
	n, err := r.conn.Read(buf)
	if err != nil {
		r.t.Fatalf("reading syslog datagram: %v", err)
	}
	return string(buf[:n])
}

// none asserts that no datagram is waiting: the logger writes synchronously, so anything it
// sent is already in the socket's queue.
func (r *syslogReceiver) none() {
	r.t.Helper()
	if err := r.conn.SetReadDeadline(time.Now()); err != nil {
		r.t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	if n, err := r.conn.Read(buf); err == nil {
		r.t.Fatalf("unexpected datagram %q", buf[:n])
	}
}

// local syslog format of log/syslog: <PRI>Mmm dd hh:mm:ss TAG[PID]: MSG\n
var datagramRE = regexp.MustCompile(`^<(\d+)>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d (\S+)\[(\d+)\]: (.*)\n$`)

type datagram struct {
	pri      int
	tag, msg string
	pid      int
}

func parseDatagram(t *testing.T, s string) datagram {
	t.Helper()
	m := datagramRE.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("datagram %q does not look like syslog", s)
	}
	pri, _ := strconv.Atoi(m[1])
	pid, _ := strconv.Atoi(m[3])
	return datagram{pri: pri, tag: m[2], pid: pid, msg: m[4]}
}

func TestSyslogRealReceiver(t *testing.T) {
	rcv := listenSyslog(t, filepath.Join(t.TempDir(), "log.sock"))
	l, err := New(Options{
		Output: OutputSyslog,
		Syslog: SyslogOptions{Tag: "pushtest", Facility: "LOG_LOCAL3", Address: "unixgram:" + rcv.path},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	log := l.Slog().With("component", "admin")

	const local3 = 19
	cases := []struct {
		emit     func()
		severity int
		msg      string
	}{
		{func() { log.Info("server started", "port", 9600) }, 6, `msg="server started" component=admin port=9600`},
		{func() { log.Warn("slow client", "hash", "xxx1234") }, 4, `msg="slow client" component=admin hash=[redacted]`},
		{func() { log.Error("bind failed", "err", "address already in use") }, 3, `msg="bind failed" component=admin err="address already in use"`},
	}
	for _, c := range cases {
		c.emit()
		d := parseDatagram(t, rcv.next())
		if d.pri != local3*8+c.severity {
			t.Errorf("%s: <PRI> = %d, want %d", c.msg, d.pri, local3*8+c.severity)
		}
		if d.tag != "pushtest" || d.pid != os.Getpid() {
			t.Errorf("tag[pid] = %s[%d], want pushtest[%d]", d.tag, d.pid, os.Getpid())
		}
		if d.msg != c.msg {
			t.Errorf("text = %q, want %q", d.msg, c.msg)
		}
	}

	log.Debug("not yet")
	rcv.none()
	l.SetDebug(true)
	log.Debug("now", "n", 1)
	d := parseDatagram(t, rcv.next())
	if d.pri != local3*8+7 || d.msg != `msg=now component=admin n=1` {
		t.Errorf("debug datagram = %+v", d)
	}
}

// TestSyslogReopen: after syslogd restarts (a new socket at the same path), Reopen reconnects.
func TestSyslogReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.sock")
	rcv := listenSyslog(t, path)
	l, err := New(Options{Output: OutputSyslog, Syslog: SyslogOptions{Facility: "daemon", Address: "unixgram:" + path}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Slog().Info("before")
	if d := parseDatagram(t, rcv.next()); d.pri != 3*8+6 || d.tag != DefaultTag || d.msg != "msg=before" {
		t.Fatalf("before: %+v", d)
	}

	rcv.conn.Close()
	os.Remove(path)
	rcv = listenSyslog(t, path)
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Slog().Info("after")
	if d := parseDatagram(t, rcv.next()); d.msg != "msg=after" {
		t.Fatalf("after: %+v", d)
	}

	// syslogd gone: Reopen says so and keeps the old connection.
	rcv.conn.Close()
	os.Remove(path)
	if err := l.Reopen(); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Reopen without a syslogd: err = %v", err)
	}
}

func TestSyslogTruncatesLongMessages(t *testing.T) {
	rcv := listenSyslog(t, filepath.Join(t.TempDir(), "log.sock"))
	l, err := New(Options{Output: OutputSyslog, Syslog: SyslogOptions{Address: "unixgram:" + rcv.path}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Slog().Info("big", "body", strings.Repeat("é", 100_000))
	d := parseDatagram(t, rcv.next())
	if len(d.msg) > maxSyslogMessage || !strings.HasSuffix(d.msg, truncatedMark) || !utf8.ValidString(d.msg) {
		t.Fatalf("message of %d bytes, ends %q", len(d.msg), d.msg[len(d.msg)-20:])
	}
	l.Slog().Info("small") // and the connection still works
	if d := parseDatagram(t, rcv.next()); d.msg != "msg=small" {
		t.Fatalf("after the big one: %+v", d)
	}
}

// TestSyslogLocal: with no address, the local syslog; without one on this machine, New says
// so rather than logging into the void.
func TestSyslogLocal(t *testing.T) {
	l, err := New(Options{Output: OutputSyslog})
	local := false
	for _, p := range []string{"/dev/log", "/var/run/syslog", "/var/run/log"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
			local = true
		}
	}
	switch {
	case local && err != nil:
		t.Fatalf("local syslog exists but New failed: %v", err)
	case local:
		l.Close()
	case err == nil || !strings.Contains(err.Error(), "logging: syslog: cannot reach the local syslog (/dev/log)"):
		t.Fatalf("no local syslog: err = %v", err)
	}
}

func TestSyslogUnreachable(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nobody.sock")
	_, err := New(Options{Output: OutputSyslog, Syslog: SyslogOptions{Address: "unixgram:" + missing}})
	if err == nil || !strings.Contains(err.Error(), "logging: syslog: cannot reach") || !strings.Contains(err.Error(), missing) {
		t.Fatalf("err = %v", err)
	}
	// A TCP port with nobody listening: take a free port, then close it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = New(Options{Output: OutputSyslog, Syslog: SyslogOptions{Address: "tcp:" + addr}})
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("tcp err = %v", err)
	}
}

func TestSyslogBadOptions(t *testing.T) {
	for _, c := range []struct {
		opts SyslogOptions
		want string
	}{
		{SyslogOptions{Facility: "LOG_NOPE"}, `unknown facility "LOG_NOPE"`},
		{SyslogOptions{Address: "http://x"}, `unknown network "http"`},
		{SyslogOptions{Address: "unixgram:relative.sock"}, `must be absolute`},
	} {
		_, err := New(Options{Output: OutputSyslog, Syslog: c.opts})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want %q", c.opts, err, c.want)
		}
	}
}

// TestSyslogUDP: the remote form, with a real UDP receiver on loopback.
func TestSyslogUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	l, err := New(Options{Output: OutputSyslog, Syslog: SyslogOptions{Tag: "p", Facility: "local7", Address: "udp:" + pc.LocalAddr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Slog().Error("boom")
	buf := make([]byte, 4096)
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	// remote format carries a timestamp and hostname: <PRI>RFC3339 HOST TAG[PID]: MSG
	got := string(buf[:n])
	if !strings.HasPrefix(got, fmt.Sprintf("<%d>", 23*8+3)) || !strings.Contains(got, fmt.Sprintf(" p[%d]: msg=boom", os.Getpid())) {
		t.Fatalf("udp datagram = %q", got)
	}
}

func TestParseFacility(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{
		{"LOG_DAEMON", 3 << 3}, {"daemon", 3 << 3}, {"Log_Local3", 19 << 3}, {"local7", 23 << 3},
		{"LOG_USER", 1 << 3}, {"kern", 0}, {"authpriv", 10 << 3}, {" LOG_CRON ", 9 << 3},
	} {
		got, err := ParseFacility(c.in)
		if err != nil || int(got) != c.want {
			t.Errorf("ParseFacility(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "LOG_", "local8", "LOG_DAEMON|LOG_USER", "3"} {
		if _, err := ParseFacility(bad); err == nil {
			t.Errorf("ParseFacility(%q) accepted", bad)
		}
	}
}

func TestParseAddress(t *testing.T) {
	for _, c := range []struct{ in, network, raddr, err string }{
		{"", "", "", ""},
		{"unixgram:/dev/log", "unixgram", "/dev/log", ""},
		{"unix:/run/systemd/journal/syslog", "unix", "/run/systemd/journal/syslog", ""},
		{"udp:127.0.0.1:514", "udp", "127.0.0.1:514", ""},
		{"tcp:[::1]:601", "tcp", "[::1]:601", ""},
		{"tcp:logs.example.com:601", "tcp", "logs.example.com:601", ""},
		{"/dev/log", "", "", "want unixgram"},
		{"udp:127.0.0.1", "", "", "want udp:host:port"},
		{"udp::514", "", "", "want udp:host:port"},
		{"tcp:", "", "", "want unixgram"},
		{"sctp:h:1", "", "", "unknown network"},
	} {
		n, a, err := ParseAddress(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseAddress(%q) err = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || n != c.network || a != c.raddr {
			t.Errorf("ParseAddress(%q) = %q, %q, %v", c.in, n, a, err)
		}
	}
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"", "unixgram:/dev/log", "udp:127.0.0.1:514", "tcp:[::1]:601", "unix:", "x:y:z", "tcp::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, a, err := ParseAddress(s)
		if err != nil {
			if n != "" || a != "" {
				t.Fatalf("error with a result: %q %q", n, a)
			}
			return
		}
		if s == "" {
			if n != "" || a != "" {
				t.Fatal("empty address gave a network")
			}
			return
		}
		if n+":"+a != s {
			t.Fatalf("%q split into %q + %q", s, n, a)
		}
		switch n {
		case "unix", "unixgram", "udp", "tcp":
		default:
			t.Fatalf("network %q accepted", n)
		}
	})
}

func FuzzParseFacility(f *testing.F) {
	for _, s := range []string{"LOG_DAEMON", "daemon", "local3", "LOG_LOCAL7", "", "log_"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseFacility(s)
		if err != nil {
			return
		}
		if p&7 != 0 || p>>3 > 23 {
			t.Fatalf("ParseFacility(%q) = %d: not a facility", s, p)
		}
	})
}
