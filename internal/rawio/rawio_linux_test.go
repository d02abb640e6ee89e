//go:build linux

package rawio

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pushinator/pushinator/internal/tcptest"
)

// pair returns a Conn accepted through Listener and the client's end.
func pair(t *testing.T) (*Conn, net.Conn) {
	t.Helper()
	server, client := tcptest.Pair(t, Listener)
	rc, ok := server.(*Conn)
	if !ok {
		t.Fatalf("Listener handed out a %T for a TCP connection", server)
	}
	return rc, client
}

// More than the socket buffers hold, so that writes wait for the reader and reads come in
// pieces.
func TestLargeTransferBothWays(t *testing.T) {
	server, client := pair(t)
	data := make([]byte, 16<<20)
	rand.Read(data)
	for _, dir := range []struct {
		name string
		w    io.Writer
		r    io.Reader
	}{{"server to client", server, client}, {"client to server", client, server}} {
		errs := make(chan error, 1)
		go func() {
			n, err := dir.w.Write(data)
			if err == nil && n != len(data) {
				err = io.ErrShortWrite
			}
			errs <- err
		}()
		got := make([]byte, len(data))
		if _, err := io.ReadFull(dir.r, got); err != nil {
			t.Fatalf("%s: read: %v", dir.name, err)
		}
		if err := <-errs; err != nil {
			t.Fatalf("%s: write: %v", dir.name, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("%s: the bytes differ", dir.name)
		}
	}
}

func TestEOFWhenThePeerCloses(t *testing.T) {
	server, client := pair(t)
	client.Write([]byte("last"))
	client.Close()
	got, err := io.ReadAll(server)
	if err != nil || string(got) != "last" {
		t.Fatalf("ReadAll = %q, %v; want \"last\" and no error (EOF)", got, err)
	}
	if n, err := server.Read(make([]byte, 4)); n != 0 || err != io.EOF {
		t.Fatalf("Read after the end = %d, %v; want 0, io.EOF", n, err)
	}
}

// A read deadline ends a waiting Read with the error a *net.TCPConn gives: a timeout
// net.Error, Op "read" (net/http tells a client's silence from a broken request by them).
func TestReadDeadline(t *testing.T) {
	server, client := pair(t)
	server.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err := server.Read(make([]byte, 10))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v; want a timeout", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" {
		t.Fatalf("Read past the deadline: %#v; want a *net.OpError with Op \"read\"", err)
	}
	// Without the deadline, the connection reads as before.
	server.SetReadDeadline(time.Time{})
	client.Write([]byte("after"))
	got := make([]byte, 5)
	if _, err := io.ReadFull(server, got); err != nil || string(got) != "after" {
		t.Fatalf("read after clearing the deadline: %q, %v", got, err)
	}
}

// A write to a peer that reads nothing waits while the buffers are full and ends at the
// write deadline, having written part of the data.
func TestWriteDeadline(t *testing.T) {
	server, _ := pair(t)
	data := make([]byte, 64<<20)
	server.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	n, err := server.Write(data)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write to a stalled peer: %d, %v; want the deadline", n, err)
	}
	if n <= 0 || n >= 64<<20 {
		t.Fatalf("Write to a stalled peer reported %d bytes written; want part of them", n)
	}
}

func TestUseAfterClose(t *testing.T) {
	server, _ := pair(t)
	server.Close()
	if _, err := server.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close: %v; want net.ErrClosed", err)
	}
	if _, err := server.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v; want net.ErrClosed", err)
	}
}

// A peer that resets the connection makes a write fail instead of hang.
func TestWriteToAResetPeer(t *testing.T) {
	server, client := pair(t)
	client.(*net.TCPConn).SetLinger(0) // close with RST
	client.Close()
	deadline := time.Now().Add(5 * time.Second)
	server.SetWriteDeadline(deadline)
	for time.Now().Before(deadline) {
		if _, err := server.Write([]byte("x")); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			var oe *net.OpError
			if !errors.As(err, &oe) || oe.Op != "write" {
				t.Fatalf("write to a reset peer: %#v; want a *net.OpError with Op \"write\"", err)
			}
			return
		}
	}
	t.Fatal("writes to a reset peer never failed")
}

// net/http serves keep-alive requests over the Listener as over a plain one.
func TestHTTPServerKeepAlive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Write(bytes.ToUpper(body))
	})}
	go srv.Serve(Listener(ln))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	for i := range 50 {
		body := strings.Repeat("ab", i*1000)
		resp, err := client.Post("http://"+ln.Addr().String(), "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(got) != strings.ToUpper(body) {
			t.Fatalf("request %d: %d bytes back, %v", i, len(got), err)
		}
	}
}

// Only TCP connections are wrapped; others pass through as they are.
func TestListenerPassesOtherConnections(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	rl := Listener(ln)
	defer rl.Close()
	go func() {
		if c, err := net.Dial("unix", path); err == nil {
			defer c.Close()
			c.Write([]byte("x"))
		}
	}()
	c, err := rl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*net.UnixConn); !ok {
		t.Fatalf("a unix connection came out as %T", c)
	}
}

// Write and Read on a descriptor: what a caller holding a RawConn uses.
func TestWriteAndReadOnADescriptor(t *testing.T) {
	server, client := pair(t)
	rc, err := server.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var werr error
	rc.Write(func(fd uintptr) bool { n, werr = Write(fd, []byte("hello")); return true })
	if n != 5 || werr != nil {
		t.Fatalf("Write = %d, %v", n, werr)
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(client, got); err != nil || string(got) != "hello" {
		t.Fatalf("the client read %q, %v", got, err)
	}
	var rerr error
	rc.Read(func(fd uintptr) bool { n, rerr = Read(fd, got); return true })
	if rerr != syscall.EAGAIN {
		t.Fatalf("Read with nothing there = %d, %v; want EAGAIN", n, rerr)
	}
	client.Write([]byte("back"))
	rc.Read(func(fd uintptr) bool { n, rerr = Read(fd, got); return rerr != syscall.EAGAIN })
	if rerr != nil || string(got[:n]) != "back" {
		t.Fatalf("Read = %q, %v", got[:n], rerr)
	}
}

// Writes from several goroutines at once each arrive whole, as on a *net.TCPConn, and
// concurrent Reads share the stream without losing a byte.
func TestConcurrentWritesAndReads(t *testing.T) {
	server, client := pair(t)
	const writers, records, size = 4, 500, 1000
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			rec := bytes.Repeat([]byte{byte('a' + w)}, size)
			for range records {
				if _, err := server.Write(rec); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	got := make([]byte, writers*records*size)
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatal(err)
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < len(got); i += size {
		if rec := got[i : i+size]; !bytes.Equal(rec, bytes.Repeat(rec[:1], size)) {
			t.Fatalf("record %d is mixed: writes interleaved", i/size)
		}
	}

	// Two readers of the server end: between them they read every byte once.
	sent := bytes.Repeat([]byte("0123456789"), 100_000)
	go func() {
		client.Write(sent)
		client.(*net.TCPConn).CloseWrite()
	}()
	total := make(chan int, 2)
	for range 2 {
		go func() {
			n := 0
			buf := make([]byte, 4096)
			for {
				k, err := server.Read(buf)
				n += k
				if err != nil {
					break
				}
			}
			total <- n
		}()
	}
	if sum := <-total + <-total; sum != len(sent) {
		t.Fatalf("the two readers got %d bytes, %d were sent", sum, len(sent))
	}
}

// benchPair is a loopback pair whose server end is plain (*net.TCPConn) or a Conn.
func benchPair(b *testing.B, raw bool) (net.Conn, net.Conn) {
	if raw {
		return tcptest.Pair(b, Listener)
	}
	return tcptest.Pair(b, nil)
}

// BenchmarkEcho: the server end reads a small request and writes a small reply, as an admin
// connection does per request; the client end is a plain connection in both cases.
func BenchmarkEcho(b *testing.B) {
	for _, raw := range []bool{false, true} {
		name := "net.TCPConn"
		if raw {
			name = "rawio.Conn"
		}
		b.Run(name, func(b *testing.B) {
			server, client := benchPair(b, raw)
			go func() {
				buf := make([]byte, 512)
				for {
					n, err := server.Read(buf)
					if err != nil {
						return
					}
					if _, err := server.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
			msg := bytes.Repeat([]byte("x"), 200)
			reply := make([]byte, len(msg))
			b.ReportAllocs()
			for b.Loop() {
				client.Write(msg)
				if _, err := io.ReadFull(client, reply); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
