package e2e

// The command line as an operator meets it: -t/check, --version, --help, wrong usage.

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// writeConf writes text as a config file in a fresh temp dir and returns its path.
func writeConf(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pushinator.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCheckConfigValid(t *testing.T) {
	for _, name := range []string{"seed", "example", "empty", "json"} {
		t.Run(name, func(t *testing.T) {
			var path string
			switch name {
			case "seed": // the original's config file, verbatim
				path, _ = filepath.Abs("../config/testdata/seed.conf")
			case "example":
				path, _ = filepath.Abs("../pushinator.example.conf")
			case "empty":
				path = writeConf(t, "module.exports = {};\n")
			case "json":
				path = writeConf(t, `{"admin": {"port": 9700}, "client": {"socketIoTransports": ["websocket"]}}`)
			}
			for _, args := range [][]string{{"-t", "-c", path}, {"check", "-c", path}, {"-c", path, "-t"}} {
				out, errOut, code := runBinary(t, args...)
				if code != 0 || strings.TrimSpace(out) != fmt.Sprintf("config %s is valid", path) {
					t.Fatalf("pushinator %s: exit %d, stdout %q, stderr %q; want exit 0 and \"config %s is valid\"", strings.Join(args, " "), code, out, errOut, path)
				}
			}
		})
	}
}

func TestCheckConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		line       int
		want       string // after "config: FILE:LINE: "
	}{
		{"port out of range", "module.exports = {\n  client: { port: 70000 },\n};\n", 2,
			"client.port: expected a number 1-65535, got 70000"},
		{"port not a number", "module.exports = {\n  admin: {\n    port: 'abc',\n  },\n};\n", 3,
			`admin.port: expected a number 1-65535, got "abc"`},
		{"boolean", "module.exports = {\n\n  log: { debug: 'yes' },\n};\n", 3,
			`log.debug: expected true or false, got "yes"`},
		{"transport", "module.exports = {\n  client: {\n    socketIoTransports: ['websocket', 'carrier-pigeon'],\n  },\n};\n", 3,
			`client.socketIoTransports: expected "websocket", "xhr-polling", "jsonp-polling" or "polling", got "carrier-pigeon"`},
		{"facility", "module.exports = {\n  log: { syslog: { facility: 'LOG_NOPE' } },\n};\n", 2,
			`log.syslog.facility: expected a syslog facility`},
		{"ssl without files", "module.exports = {\n  client: { useSSL: true },\n};\n", 2,
			"client.useSSL: true needs client.sslKey and client.sslCert"},
		{"syntax", "module.exports = {\n  admin: { port: 9600, \n", 3,
			"unexpected end of file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConf(t, tc.text)
			out, errOut, code := runBinary(t, "-t", "-c", path)
			prefix := fmt.Sprintf("config: %s:%d:", path, tc.line)
			if code != 1 || !strings.HasPrefix(errOut, prefix) || !strings.Contains(errOut, tc.want) || out != "" {
				t.Fatalf("-t: exit %d, stdout %q, stderr %q; want exit 1 and %q ... %q", code, out, errOut, prefix, tc.want)
			}
		})
	}
}

func TestCheckConfigFileProblems(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.conf")
	_, errOut, code := runBinary(t, "-t", "-c", missing)
	if code != 1 || !strings.Contains(errOut, missing) || !strings.Contains(errOut, "no such file") {
		t.Fatalf("-t on a missing file: exit %d, %q", code, errOut)
	}
	// A FIFO would block the read (and the signals that could end it) for ever.
	fifo := filepath.Join(t.TempDir(), "fifo.conf")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-t", "-c", fifo}, {"-c", fifo}} {
		_, errOut, code = runBinary(t, args...)
		if code != 1 || !strings.Contains(errOut, fifo+" is not a regular file") {
			t.Fatalf("%v on a FIFO: exit %d, %q", args, code, errOut)
		}
	}
	// Without -c: /etc/pushinator.conf.
	if _, err := os.Stat("/etc/pushinator.conf"); os.IsNotExist(err) {
		_, errOut, code := runBinary(t, "-t")
		if code != 1 || !strings.Contains(errOut, "/etc/pushinator.conf") {
			t.Fatalf("-t without -c: exit %d, %q; want the default /etc/pushinator.conf named", code, errOut)
		}
	}
	// A relative -c is the caller's, not the daemon's "/".
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "rel.conf"), []byte("{}"), 0o600)
	cmdOut, cmdErr, code := runBinaryIn(t, dir, "-t", "-c", "rel.conf")
	if code != 0 || !strings.Contains(cmdOut, filepath.Join(dir, "rel.conf")) {
		t.Fatalf("-t -c rel.conf: exit %d, %q %q", code, cmdOut, cmdErr)
	}
}

func TestCheckConfigUnknownKeysWarn(t *testing.T) {
	path := writeConf(t, "module.exports = {\n  clint: { port: 1 },\n  admin: {\n    prot: 9600,\n  },\n};\n")
	out, errOut, code := runBinary(t, "-t", "-c", path)
	if code != 0 || !strings.Contains(out, "is valid") {
		t.Fatalf("unknown keys are warnings, not errors: exit %d, %q %q", code, out, errOut)
	}
	for _, want := range []string{
		fmt.Sprintf(`warning: config: %s:2: unknown key "clint"`, path),
		fmt.Sprintf(`warning: config: %s:4: unknown key "admin.prot"`, path),
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q lacks %q", errOut, want)
		}
	}
}

func TestVersionAndHelp(t *testing.T) {
	out, errOut, code := runBinary(t, "--version")
	if code != 0 || !regexp.MustCompile(`^pushinator \S+\n$`).MatchString(out) || errOut != "" {
		t.Fatalf("--version: exit %d, %q %q", code, out, errOut)
	}
	for _, flag := range []string{"--help", "-h", "-help"} {
		out, errOut, code := runBinary(t, flag)
		if code != 0 || errOut != "" || !strings.HasPrefix(out, "Usage: pushinator") {
			t.Fatalf("%s: exit %d, %q %q", flag, code, out, errOut)
		}
		for _, word := range []string{"start", "stop", "restart", "status", "-c FILE", "-t", "--version", "SIGHUP", "/etc/pushinator.conf"} {
			if !strings.Contains(out, word) {
				t.Errorf("%s does not mention %q", flag, word)
			}
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"frobnicate"}, {"--bogus"}, {"start", "stop"}, {"-c"}} {
		out, errOut, code := runBinary(t, args...)
		if code != 2 || out != "" || !strings.HasPrefix(errOut, "pushinator: ") || !strings.Contains(errOut, "Usage: pushinator") {
			t.Errorf("pushinator %s: exit %d, stdout %q, stderr %q; want exit 2 with the reason and the usage on stderr", strings.Join(args, " "), code, out, errOut)
		}
	}
	if _, errOut, _ := runBinary(t, "frobnicate"); !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %q", errOut)
	}
}

// TestStatusWithoutConfig: status cannot tell without the config (which names the pidfile):
// LSB's 4, "unknown".
func TestStatusWithoutConfig(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.conf")
	_, errOut, code := runBinary(t, "status", "-c", missing)
	if code != 4 || !strings.Contains(errOut, missing) {
		t.Fatalf("status with a missing config: exit %d, %q; want 4 naming the file", code, errOut)
	}
}

// TestForegroundTakenPort: in the foreground too, a taken port is exit 1 with the reason.
func TestForegroundTakenPort(t *testing.T) {
	s := newSetup(t, confOpts{})
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", s.clientPort))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, errOut, code := s.run("-c", s.conf)
	want := fmt.Sprintf("pushinator: client port: listen tcp 127.0.0.1:%d: bind: address already in use", s.clientPort)
	if code != 1 || !strings.Contains(errOut, want) {
		t.Fatalf("foreground on a taken port: exit %d, %q; want 1 and %q", code, errOut, want)
	}
	s.noPIDFile()
}
