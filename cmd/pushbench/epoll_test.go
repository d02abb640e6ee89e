package main

import (
	"bytes"
	"encoding/binary"
	"syscall"
	"testing"
)

// serverFrame is an unmasked frame as a server sends it.
func serverFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	f := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		f = append(f, byte(n))
	case n < 1<<16:
		f = append(f, 126, byte(n>>8), byte(n))
	default:
		f = append(f, 127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	return append(f, payload...)
}

// newTestConn is an epollConn over one end of a socket pair; the other end reads its pongs.
func newTestConn(t *testing.T) (*epollConn, *[]receipt, int) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fds[0]); syscall.Close(fds[1]) })
	var got []receipt
	ec := &epollConn{c: newClient(1), fd: fds[0], onPush: func(_ *client, r receipt) { got = append(got, r) }}
	return ec, &got, fds[1]
}

// TestEpollParseSplitStream feeds the same stream cut at every byte: frames (short, 16-bit
// length, fragmented, a WebSocket ping, an Engine.IO ping) must come out the same.
func TestEpollParseSplitStream(t *testing.T) {
	long := append([]byte(`42["message",{"s":2,"t":5,"p":"`), bytes.Repeat([]byte("x"), 300)...)
	long = append(long, `"}]`...)
	var stream []byte
	stream = append(stream, serverFrame(true, 0x1, []byte(`42["message",{"s":1,"t":9}]`))...)
	stream = append(stream, serverFrame(true, 0x1, long)...)
	stream = append(stream, serverFrame(false, 0x1, []byte(`42["message",{"s":3,`))...)
	stream = append(stream, serverFrame(true, 0x9, []byte("hi"))...) // a ping between fragments
	stream = append(stream, serverFrame(true, 0x0, []byte(`"t":7}]`))...)
	stream = append(stream, serverFrame(true, 0x1, []byte("2"))...)
	for cut := 0; cut <= len(stream); cut++ {
		ec, got, peer := newTestConn(t)
		for _, part := range [][]byte{stream[:cut], stream[cut:]} {
			data := append([]byte(nil), part...)
			if len(ec.pending) > 0 {
				data = append(ec.pending, data...)
			}
			if err := ec.parse(data); err != nil {
				t.Fatalf("cut %d: %v", cut, err)
			}
		}
		want := []struct{ s, t int64 }{{1, 9}, {2, 5}, {3, 7}}
		if len(*got) != len(want) {
			t.Fatalf("cut %d: %d receipts, want %d", cut, len(*got), len(want))
		}
		for i, w := range want {
			if r := (*got)[i]; r.Seq != w.s || r.Sent != w.t {
				t.Errorf("cut %d: receipt %d = s %d t %d, want %d %d", cut, i, r.Seq, r.Sent, w.s, w.t)
			}
		}
		if len(ec.pending) != 0 {
			t.Errorf("cut %d: %d bytes left pending", cut, len(ec.pending))
		}
		// Replies: a masked pong "hi" (opcode 0xA) and a masked text "3".
		buf := make([]byte, 64)
		n, err := syscall.Read(peer, buf)
		if err != nil || n != (2+4+2)+(2+4+1) || buf[0] != 0x8a || buf[8] != 0x81 {
			t.Fatalf("cut %d: replies % x, %v", cut, buf[:max(n, 0)], err)
		}
	}
}

func TestEpollParseEnds(t *testing.T) {
	for name, frame := range map[string][]byte{
		"close frame":       serverFrame(true, 0x8, []byte{0x03, 0xe8}),
		"socket.io 41":      serverFrame(true, 0x1, []byte("41")),
		"engine.io close":   serverFrame(true, 0x1, []byte("1")),
		"frame over 16 MiB": {0x81, 127, 0, 0, 0, 0, 0x10, 0, 0, 1},
	} {
		ec, _, _ := newTestConn(t)
		if err := ec.parse(frame); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzEpollParse(f *testing.F) {
	f.Add(serverFrame(true, 0x1, []byte(`42["message",{"s":1,"t":2}]`)))
	f.Add(serverFrame(false, 0x1, []byte("4")))
	f.Add([]byte{0x81, 126, 0, 5, 'a'})
	f.Add([]byte{0x81, 0x85, 1, 2, 3, 4, 'a', 'b', 'c', 'd', 'e'})
	f.Fuzz(func(t *testing.T, data []byte) {
		ec, _, _ := newTestConn(t)
		// Whatever the bytes, parse returns: an error, or frames handled and a rest pending.
		if err := ec.parse(data); err == nil && len(ec.pending) > len(data) {
			t.Fatalf("pending %d > input %d", len(ec.pending), len(data))
		}
	})
}
