package e2e

// TLS on the client port (client.useSSL): real socket.io clients over https and wss with a
// certificate made at run time, certificate reload on SIGHUP, and clear refusals when the
// key or certificate cannot be used.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeCert makes a self-signed certificate for 127.0.0.1 and localhost, writes it and its
// key as PEM files, and returns the certificate's serial number.
func writeCert(t *testing.T, certPath, keyPath string) *big.Int {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "pushinator e2e"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return serial
}

// servedSerial connects to addr with TLS and returns the serial of the certificate served.
func servedSerial(t *testing.T, addr string) *big.Int {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber
}

func TestTLSClientPort(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	serial := writeCert(t, certPath, keyPath)
	s := startServer(t, fmt.Sprintf("useSSL: true, sslKey: '%s', sslCert: '%s'", keyPath, certPath), "")
	if !strings.HasPrefix(s.clientURL, "https://") {
		t.Fatalf("client URL %s", s.clientURL)
	}
	addr := strings.TrimPrefix(s.clientURL, "https://")
	if got := servedSerial(t, addr); got.Cmp(serial) != 0 {
		t.Fatalf("served certificate serial %v, want %v", got, serial)
	}
	// Plain HTTP on the TLS port is refused, not served.
	if resp, err := http.Get("http://" + addr + "/socket.io/?EIO=4&transport=polling"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP was served on the TLS client port")
		}
	}

	s.mustAdmin("/user/register", `{"userId":5,"hash":"xxx1234"}`)
	with := func(kv ...any) map[string]any {
		o := map[string]any{"rejectUnauthorized": false, "reconnection": false}
		for i := 0; i < len(kv); i += 2 {
			o[kv[i].(string)] = kv[i+1]
		}
		return o
	}
	clients := []*client{
		startClient(t, "v4 wss", clientSpec{URL: s.clientURL, Auth: []any{5, "xxx1234"}, Ack: true, Opts: with("transports", []string{"websocket"})}),
		startClient(t, "v4 https polling", clientSpec{URL: s.clientURL, Auth: []any{5, "xxx1234"}, Ack: true, Opts: with("transports", []string{"polling"})}),
		startClient(t, "v4 https upgrade", clientSpec{URL: s.clientURL, Auth: []any{5, "xxx1234"}, Ack: true, Opts: with()}),
		startClient(t, "v2 https", clientSpec{Lib: "v2", URL: s.clientURL, Auth: []any{5, "xxx1234"}, Ack: true, Opts: with("transports", []string{"polling", "websocket"})}),
	}
	for _, c := range clients {
		if ack := c.waitEvent("auth-ack", 15*time.Second); jsonString(ack["res"]) != `{"ok":true}` {
			t.Fatalf("%s: auth ack %v", c.name, ack)
		}
	}
	out := s.mustAdmin("/user/send", `{"userId":5,"message":"over TLS"}`)
	if out["delivered"] != float64(len(clients)) {
		t.Fatalf("send: %v, want delivered %d", out, len(clients))
	}
	for _, c := range clients {
		if ev := c.waitEvent("event", 10*time.Second); ev["event"] != "message" || ev["args"].([]any)[0] != "over TLS" {
			t.Fatalf("%s got %v", c.name, ev)
		}
	}

	// SIGHUP reloads the certificate: a renewed one is served to new connections without a
	// restart, and the clients already connected stay.
	serial2 := writeCert(t, certPath, keyPath)
	s.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, "the reload to be logged", func() bool { return strings.Contains(s.out.String(), "reloaded") })
	if got := servedSerial(t, addr); got.Cmp(serial2) != 0 {
		t.Fatalf("after SIGHUP the served certificate is %v, want the renewed %v", got, serial2)
	}
	s.mustAdmin("/user/send", `{"userId":5,"message":"after renewal"}`)
	for _, c := range clients {
		if ev := c.waitEvent("event", 10*time.Second); ev["args"].([]any)[0] != "after renewal" {
			t.Fatalf("%s got %v after the certificate reload", c.name, ev)
		}
	}

	// A broken renewal is reported and the working certificate stays.
	os.WriteFile(keyPath, []byte("garbage"), 0o600)
	s.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, "the failed reload to be logged", func() bool {
		return strings.Contains(s.out.String(), "TLS certificate not reloaded")
	})
	if got := servedSerial(t, addr); got.Cmp(serial2) != 0 {
		t.Fatalf("after a failed reload the served certificate is %v, want still %v", got, serial2)
	}
}

// TestTLSUnusableKeyOrCert: a missing, garbage or mismatched key or certificate stops the
// server before it listens, with exit code 1 and the file named; -t and start say the same.
func TestTLSUnusableKeyOrCert(t *testing.T) {
	dir := t.TempDir()
	goodCert, goodKey := filepath.Join(dir, "good.crt"), filepath.Join(dir, "good.key")
	writeCert(t, goodCert, goodKey)
	otherCert, otherKey := filepath.Join(dir, "other.crt"), filepath.Join(dir, "other.key")
	writeCert(t, otherCert, otherKey)
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("-----BEGIN NOTHING-----\n"), 0o600)
	missing := filepath.Join(dir, "missing.key")
	fifo := filepath.Join(dir, "fifo.key") // reading it would block start for ever
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge.crt")
	os.WriteFile(huge, bytes.Repeat([]byte("x"), 2<<20), 0o600)

	for _, tc := range []struct {
		name, cert, key, want string
	}{
		{"missing key", goodCert, missing, "no such file or directory"},
		{"missing cert", filepath.Join(dir, "missing.crt"), goodKey, "no such file or directory"},
		{"garbage key", goodCert, garbage, "failed to find"},
		{"garbage cert", garbage, goodKey, "failed to find"},
		{"key of another cert", goodCert, otherKey, "private key does not match public key"},
		{"key is a directory", goodCert, dir, "is a directory"},
		{"key is a FIFO", goodCert, fifo, "is not a regular file"},
		{"cert is /dev/zero", "/dev/zero", goodKey, "is not a regular file"},
		{"cert is 2 MB", huge, goodKey, "is larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSetup(t, confOpts{client: fmt.Sprintf("useSSL: true, sslKey: '%s', sslCert: '%s'", tc.key, tc.cert), scheme: "https"})
			named := fmt.Sprintf(`client.sslCert %q / client.sslKey %q`, tc.cert, tc.key)
			check := func(what, errOut string, code int) {
				t.Helper()
				if code != 1 || !strings.Contains(errOut, named) || !strings.Contains(errOut, tc.want) {
					t.Fatalf("%s: exit %d, stderr %q; want exit 1 naming %s and saying %q", what, code, errOut, named, tc.want)
				}
			}

			// Foreground.
			cmd := exec.Command(binary, "-c", s.conf)
			var stdout, stderr syncBuffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			check("foreground", stderr.String(), code)
			if strings.Contains(stdout.String(), "pushinator started") {
				t.Fatalf("the server said it started:\n%s", stdout.String())
			}
			s.noPIDFile()

			_, errOut, code := s.run("-t", "-c", s.conf)
			check("-t", errOut, code)
			_, errOut, code = s.run("start", "-c", s.conf)
			check("start", errOut, code)
			s.noPIDFile()
			// Nothing listened: both ports are still free.
			for _, port := range []int{s.adminPort, s.clientPort} {
				ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
				if err != nil {
					t.Fatalf("port %d is taken after a refused start: %v", port, err)
				}
				ln.Close()
			}
		})
	}
}

// TestTLSDaemon: the daemon serves TLS too (the certificate paths are absolute; it runs in /).
func TestTLSDaemon(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	writeCert(t, certPath, keyPath)
	s := newSetup(t, confOpts{client: fmt.Sprintf("useSSL: true, sslKey: '%s', sslCert: '%s'", keyPath, certPath), scheme: "https"})
	pid := s.start()
	s.mustAdmin("/user/register", `{"userId":9,"hash":"nine"}`)
	c := authedClient(t, "wss", s.clientURL, 9, "nine", map[string]any{"rejectUnauthorized": false, "transports": []string{"websocket"}})
	wantPush(t, s, c, 9, "daemon over TLS")

	serial2 := writeCert(t, certPath, keyPath)
	syscall.Kill(pid, syscall.SIGHUP)
	addr := strings.TrimPrefix(s.clientURL, "https://")
	waitFor(t, 10*time.Second, "the daemon to serve the renewed certificate", func() bool {
		return servedSerial(t, addr).Cmp(serial2) == 0
	})
	s.mustRun(0, "stop", "-c", s.conf)
}
