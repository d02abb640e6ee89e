package wsframe

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/pushinator/pushinator/internal/netpoll"

	"github.com/pushinator/pushinator/internal/tcptest"
)

func TestAppendHeader(t *testing.T) {
	for _, tt := range []struct {
		op   byte
		n    int
		want string
	}{
		{OpText, 0, "\x81\x00"},
		{OpText, 125, "\x81\x7d"},
		{OpBinary, 126, "\x82\x7e\x00\x7e"},
		{OpText, 0xffff, "\x81\x7e\xff\xff"},
		{OpText, 0x10000, "\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"},
		{OpPong, 3, "\x8a\x03"},
	} {
		if got := string(AppendHeader(nil, tt.op, tt.n)); got != tt.want {
			t.Errorf("AppendHeader(%#x, %d) = %q, want %q", tt.op, tt.n, got, tt.want)
		}
		var buf bytes.Buffer
		bw := bufio.NewWriter(&buf)
		WriteHeader(bw, tt.op, tt.n)
		bw.Flush()
		if buf.String() != tt.want {
			t.Errorf("WriteHeader(%#x, %d) = %q, want %q", tt.op, tt.n, buf.String(), tt.want)
		}
		// A client library reads the header back.
		h, err := ws.ReadHeader(strings.NewReader(tt.want))
		if err != nil || !h.Fin || h.Masked || h.Length != int64(tt.n) || byte(h.OpCode) != tt.op {
			t.Errorf("header %q reads as %+v, %v", tt.want, h, err)
		}
	}
}

// pair returns a server Conn and the client's end of a loopback TCP
// connection.
func pair(t *testing.T) (*Conn, net.Conn) {
	t.Helper()
	server, client := tcptest.Pair(t, nil)
	return NewConn(server), client
}

func send(t *testing.T, c net.Conn, frames ...ws.Frame) {
	t.Helper()
	for _, f := range frames {
		if err := ws.WriteFrame(c, ws.MaskFrameInPlace(f)); err != nil {
			t.Fatal(err)
		}
	}
}

func expectFrame(t *testing.T, c net.Conn, op ws.OpCode, payload string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := ws.ReadFrame(c)
	if err != nil || f.Header.OpCode != op || string(f.Payload) != payload {
		t.Fatalf("got %+v %q %v, want op %v %q", f.Header, f.Payload, err, op, payload)
	}
}

func TestReaderMessages(t *testing.T) {
	sc, client := pair(t)
	r := sc.NewReader(sc.conn, 256, 100, 5*time.Second)
	send(t, client,
		ws.NewTextFrame([]byte("4hello")),
		ws.NewFrame(ws.OpBinary, false, []byte{1, 2}),
		ws.NewPingFrame([]byte("p")), // control frames may come between fragments
		ws.NewFrame(ws.OpContinuation, false, nil),
		ws.NewFrame(ws.OpContinuation, true, []byte{3}),
		ws.NewPongFrame([]byte("ignored")),
		ws.NewTextFrame(nil),
	)
	for _, want := range []struct {
		op   ws.OpCode
		data string
	}{{ws.OpText, "4hello"}, {ws.OpBinary, "\x01\x02\x03"}, {ws.OpText, ""}} {
		op, data, err := r.Next(5 * time.Second)
		if err != nil || op != want.op || string(data) != want.data {
			t.Fatalf("Next = %v %q %v, want %v %q", op, data, err, want.op, want.data)
		}
	}
	expectFrame(t, client, ws.OpPong, "p")
	// The close handshake: the server answers.
	send(t, client, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
	if _, _, err := r.Next(5 * time.Second); !errors.Is(err, ErrPeerClosed) || !Closed(err) {
		t.Fatalf("after close: %v", err)
	}
	expectFrame(t, client, ws.OpClose, "\x03\xe8")
}

// A text message may be cut inside a character; only the whole must be UTF-8.
func TestReaderTextAcrossFragments(t *testing.T) {
	sc, client := pair(t)
	r := sc.NewReader(sc.conn, 256, 100, 5*time.Second)
	send(t, client, ws.NewFrame(ws.OpText, false, []byte("4\xc3")), ws.NewFrame(ws.OpContinuation, true, []byte("\xa9")))
	if op, data, err := r.Next(5 * time.Second); err != nil || op != ws.OpText || string(data) != "4é" {
		t.Fatalf("Next = %v %q %v, want text %q", op, data, err, "4é")
	}
}

func TestReaderErrors(t *testing.T) {
	withRsv := ws.NewTextFrame([]byte("a"))
	withRsv.Header.Rsv = ws.Rsv(true, false, false)
	const protocolError, invalidData, tooBig = "\x03\xea", "\x03\xef", "\x03\xf1"
	for _, tt := range []struct {
		name   string
		frames []ws.Frame
		raw    string // sent as is (unmasked) instead of frames
		want   error
		reply  string // the close frame's body the client gets
	}{
		{name: "too big", frames: []ws.Frame{ws.NewTextFrame(make([]byte, 11))}, want: ErrTooBig, reply: tooBig},
		{name: "fragments too big", frames: []ws.Frame{
			ws.NewFrame(ws.OpText, false, make([]byte, 6)),
			ws.NewFrame(ws.OpContinuation, true, make([]byte, 5)),
		}, want: ErrTooBig, reply: tooBig},
		{name: "stray continuation", frames: []ws.Frame{ws.NewFrame(ws.OpContinuation, true, []byte("x"))}, want: ErrProtocol, reply: protocolError},
		{name: "message inside a message", frames: []ws.Frame{
			ws.NewFrame(ws.OpText, false, []byte("a")),
			ws.NewTextFrame([]byte("b")),
		}, want: ErrProtocol, reply: protocolError},
		{name: "unknown opcode", frames: []ws.Frame{ws.NewFrame(ws.OpCode(0x3), true, nil)}, want: ErrProtocol, reply: protocolError},
		{name: "unknown control opcode", frames: []ws.Frame{ws.NewFrame(ws.OpCode(0xb), true, nil)}, want: ErrProtocol, reply: protocolError},
		// RFC 6455 5.1: a server must close the connection on an unmasked frame.
		{name: "not masked", raw: "\x81\x014", want: ErrProtocol, reply: protocolError},
		{name: "64-bit length with its top bit set", raw: "\x81\xff\x80\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00", want: ErrProtocol, reply: protocolError},
		{name: "reserved bits", frames: []ws.Frame{withRsv}, want: ErrProtocol, reply: protocolError},
		{name: "ping over 125 bytes", frames: []ws.Frame{ws.NewPingFrame(make([]byte, 126))}, want: ErrProtocol, reply: protocolError},
		{name: "fragmented ping", frames: []ws.Frame{ws.NewFrame(ws.OpPing, false, []byte("p"))}, want: ErrProtocol, reply: protocolError},
		{name: "close with one byte", frames: []ws.Frame{ws.NewFrame(ws.OpClose, true, []byte{3})}, want: ErrProtocol, reply: protocolError},
		{name: "close with code 999", frames: []ws.Frame{ws.NewCloseFrame(ws.NewCloseFrameBody(999, ""))}, want: ErrProtocol, reply: protocolError},
		{name: "close with code 1005", frames: []ws.Frame{ws.NewCloseFrame(ws.NewCloseFrameBody(1005, ""))}, want: ErrProtocol, reply: protocolError},
		{name: "close reason not UTF-8", frames: []ws.Frame{ws.NewFrame(ws.OpClose, true, []byte("\x03\xe8\xff"))}, want: ErrInvalidUTF8, reply: invalidData},
		{name: "text not UTF-8", frames: []ws.Frame{ws.NewTextFrame([]byte("4\xff"))}, want: ErrInvalidUTF8, reply: invalidData},
		{name: "fragmented text not UTF-8", frames: []ws.Frame{
			ws.NewFrame(ws.OpText, false, []byte("4\xc3")),
			ws.NewFrame(ws.OpContinuation, true, []byte("(")),
		}, want: ErrInvalidUTF8, reply: invalidData},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sc, client := pair(t)
			r := sc.NewReader(sc.conn, 256, 10, 5*time.Second)
			if tt.raw != "" {
				client.Write([]byte(tt.raw))
			}
			send(t, client, tt.frames...)
			_, _, err := r.Next(5 * time.Second)
			if !errors.Is(err, tt.want) || Closed(err) {
				t.Fatalf("Next: %v, want %v", err, tt.want)
			}
			expectFrame(t, client, ws.OpClose, tt.reply)
			// Nothing follows the close frame: no data, no second close.
			if err := sc.WriteRaw(AppendHeader(nil, OpText, 0), time.Second); err == nil {
				t.Error("a write after the close frame succeeded")
			}
			if n := sc.TryWrite(AppendHeader(nil, OpText, 0)); n != 0 {
				t.Errorf("TryWrite after the close frame wrote %d bytes", n)
			}
			sc.Shutdown(time.Second)
			client.SetReadDeadline(time.Now().Add(5 * time.Second))
			if rest, err := io.ReadAll(client); len(rest) != 0 || err != nil {
				t.Errorf("after the close frame the client got %q (%v)", rest, err)
			}
		})
	}
	t.Run("valid close codes", func(t *testing.T) {
		for _, code := range []ws.StatusCode{1000, 1001, 1003, 1007, 1011, 3000, 4999} {
			sc, client := pair(t)
			r := sc.NewReader(sc.conn, 256, 10, 5*time.Second)
			send(t, client, ws.NewCloseFrame(ws.NewCloseFrameBody(code, "bye")))
			if _, _, err := r.Next(5 * time.Second); !errors.Is(err, ErrPeerClosed) {
				t.Fatalf("close %d: %v, want ErrPeerClosed", code, err)
			}
			expectFrame(t, client, ws.OpClose, "\x03\xe8")
		}
	})
}

// A frame header claims a payload of maxPayload and sends a little of it:
// the Reader's memory follows what arrived, not the claim (14 bytes of
// header must not reserve a megabyte).
func TestReaderClaimReservesNothing(t *testing.T) {
	const limit = 1 << 20
	sc, client := pair(t)
	r := sc.NewReader(sc.conn, 256, limit, 5*time.Second)
	header := AppendHeader(nil, OpText, limit)
	header[1] |= 0x80 // masked, with the mask 0
	client.Write(append(append(header, 0, 0, 0, 0), make([]byte, 100)...))
	client.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := r.Next(5 * time.Second)
	runtime.ReadMemStats(&after)
	if !Closed(err) {
		t.Fatalf("Next: %v, want the connection's end", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
		t.Errorf("reading 100 bytes of a claimed %d allocated %d bytes", limit, n)
	}
}

func TestReaderIdleDeadline(t *testing.T) {
	sc, _ := pair(t)
	r := sc.NewReader(sc.conn, 256, 10, time.Second)
	_, _, err := r.Next(10 * time.Millisecond)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || Closed(err) {
		t.Fatalf("Next on a silent connection: %v, want a timeout", err)
	}
}

func TestReaderEOF(t *testing.T) {
	sc, client := pair(t)
	r := sc.NewReader(sc.conn, 256, 10, time.Second)
	client.Write([]byte{0x81}) // half a header
	client.Close()
	if _, _, err := r.Next(5 * time.Second); !Closed(err) {
		t.Fatalf("Next after the client left: %v, want Closed", err)
	}
}

func TestShutdownAndWrites(t *testing.T) {
	sc, client := pair(t)
	if err := sc.WriteRaw(AppendHeader([]byte(nil), OpText, 2), time.Second); err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(nil, 64)
	n, err := sc.WriteBuffered(bw, time.Second, func(bw *bufio.Writer) {
		bw.WriteString("hi")
		WriteHeader(bw, OpText, 3)
		bw.WriteString("abc")
	})
	if err != nil || n != 7 {
		t.Fatalf("WriteBuffered: %d bytes, %v; want 7, nil", n, err)
	}
	if bw.Buffered() != 0 {
		t.Error("the writer still holds bytes")
	}
	expectFrame(t, client, ws.OpText, "hi")
	expectFrame(t, client, ws.OpText, "abc")
	sc.Shutdown(time.Second)
	expectFrame(t, client, ws.OpClose, "\x03\xe8")
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := client.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after Shutdown: %v, want EOF", err)
	}
}

// FuzzReader: any bytes from a client end in messages within the limit
// or an error, never a panic or a message over the limit.
func FuzzReader(f *testing.F) {
	f.Add([]byte("\x81\x85\x00\x00\x00\x00hello"))
	f.Add([]byte("\x01\x81\x00\x00\x00\x00a\x80\x81\x00\x00\x00\x00b"))
	f.Add([]byte("\x89\x80\x00\x00\x00\x00\x88\x80\x00\x00\x00\x00"))
	f.Add([]byte("\x81\x7f\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Add([]byte("\x01\x81\x00\x00\x00\x00\xc3\x80\x81\x00\x00\x00\x00\xa9")) // a character split across fragments
	f.Add([]byte("\x81\x01a"))                                                // not masked
	f.Fuzz(func(t *testing.T, data []byte) {
		c := NewConn(&scriptConn{in: bytes.NewReader(data)})
		r := c.NewReader(c.conn, 256, 64, time.Second)
		for {
			op, msg, err := r.Next(time.Second)
			if err != nil {
				return
			}
			if op != ws.OpText && op != ws.OpBinary {
				t.Fatalf("message with opcode %v", op)
			}
			if len(msg) > 64 {
				t.Fatalf("message of %d bytes over the limit", len(msg))
			}
			if op == ws.OpText && !utf8.Valid(msg) {
				t.Fatalf("text message that is not UTF-8: %q", msg)
			}
		}
	})
}

// scriptConn is a connection whose client sends fixed bytes and takes
// whatever the server writes.
type scriptConn struct {
	net.Conn // not called
	in       *bytes.Reader
}

func (c *scriptConn) Read(b []byte) (int, error)       { return c.in.Read(b) }
func (c *scriptConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c *scriptConn) Close() error                     { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// TryWrite never waits: against a client that does not read it takes what
// the socket holds (cutting a buffer short), then 0; every byte it
// reported arrives, in order. A write deadline left in the past by an
// earlier write does not stop it.
func TestTryWrite(t *testing.T) {
	c, client := pair(t)
	c.conn.SetWriteDeadline(time.Now().Add(-time.Second))
	if n := c.TryWrite([]byte("hello")); n != 5 {
		t.Fatalf("TryWrite after an expired deadline = %d, want 5", n)
	}
	var want bytes.Buffer
	want.WriteString("hello")
	// A push costs no allocation.
	small := []byte("0123456789")
	if a := testing.AllocsPerRun(100, func() { c.TryWrite(small) }); a != 0 {
		t.Errorf("TryWrite allocates %v times per call, want 0", a)
	}
	for range 101 { // AllocsPerRun's warm-up call and its 100 runs
		want.Write(small)
	}
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	cut := false
	for i := 0; ; i++ {
		n := c.TryWrite(chunk)
		want.Write(chunk[:n])
		if n > 0 && n < len(chunk) {
			cut = true
		}
		if n == 0 {
			break
		}
		if i > 1000 {
			t.Fatal("the socket never filled")
		}
	}
	if !cut {
		t.Error("no buffer was cut short before the socket filled")
	}
	got := make([]byte, want.Len())
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatalf("reading what TryWrite wrote: %v", err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("the client did not receive exactly what TryWrite reported")
	}
	// A busy connection (another write holds the lock) is left alone.
	c.wmu.Lock()
	if n := c.TryWrite([]byte("x")); n != 0 {
		t.Errorf("TryWrite during another write = %d, want 0", n)
	}
	c.wmu.Unlock()
	// Without a descriptor (as under TLS): 0, the caller writes.
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if n := NewConn(a).TryWrite([]byte("x")); n != 0 {
		t.Errorf("TryWrite on a net.Pipe = %d, want 0", n)
	}
}

// A parked Reader holds no buffer and no goroutine: the client's next
// frame resumes it, and it reads the whole message. Bytes already buffered
// (two frames in one segment) keep the caller reading.
func TestReaderPark(t *testing.T) {
	p, err := netpoll.New()
	if err != nil {
		t.Skip("no epoll here:", err)
	}
	defer p.Close()
	c, client := pair(t)
	r := c.NewReader(c.conn, 64, 1<<20, time.Second)
	resumed := make(chan struct{}, 1)
	resume := func() { resumed <- struct{}{} }
	if r.Park(nil, resume) {
		t.Fatal("Park without a Poller must leave the reading to the caller")
	}
	if !r.Park(p, resume) {
		t.Fatal("Park of an idle connection failed")
	}
	if r.br != nil {
		t.Error("a parked Reader keeps its buffer")
	}
	send(t, client, ws.NewTextFrame([]byte("one")), ws.NewTextFrame([]byte("two")))
	select {
	case <-resumed:
	case <-time.After(5 * time.Second):
		t.Fatal("the client's frame did not resume the reader")
	}
	for _, want := range []string{"one", "two"} {
		if _, got, err := r.Next(time.Second); err != nil || string(got) != want {
			t.Fatalf("Next = %q, %v; want %q", got, err, want)
		}
		if want == "one" && r.br.Buffered() > 0 && r.Park(p, resume) {
			t.Fatal("Park with a frame still buffered")
		}
	}
	if !r.Park(p, resume) {
		t.Fatal("Park after reading everything failed")
	}
	// Closing takes the connection out of the Poller.
	c.Close()
	if n := p.Waiting(); n != 0 {
		t.Errorf("Poller still holds %d connections after Close", n)
	}
}

// cutConn takes limit bytes, then fails every write.
type cutConn struct {
	net.Conn
	limit int
}

func (c *cutConn) Write(b []byte) (int, error) {
	n := min(len(b), c.limit)
	c.limit -= n
	if n < len(b) {
		return n, errors.New("connection reset")
	}
	return n, nil
}

func (c *cutConn) SetWriteDeadline(time.Time) error { return nil }

// A failed write says how far it got: the caller learns which frames
// never reached the socket.
func TestWriteBufferedCountsWhatWentBeforeAFailure(t *testing.T) {
	for _, limit := range []int{0, 5, 100, 150} {
		c := NewConn(&cutConn{limit: limit})
		bw := bufio.NewWriterSize(nil, 64)
		n, err := c.WriteBuffered(bw, time.Second, func(bw *bufio.Writer) {
			bw.Write(bytes.Repeat([]byte("x"), 120)) // more than the buffer: written around it
			bw.WriteString("tail")
		})
		want := int64(min(limit, 124))
		if n != want || (err == nil) != (limit >= 124) {
			t.Errorf("socket taking %d bytes: WriteBuffered reported %d, %v; want %d", limit, n, err, want)
		}
	}
}
