// Package tcptest makes loopback TCP connections for tests: the accepting end through the
// listener a test wraps (a connection cap, raw system calls), the dialing end plain.
package tcptest

import (
	"net"
	"testing"
)

// Pair returns both ends of a loopback TCP connection, the server's end accepted through
// wrap(listener) (wrap nil: the listener itself). Both are closed when the test ends.
func Pair(tb testing.TB, wrap func(net.Listener) net.Listener) (server, client net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	if wrap != nil {
		ln = wrap(ln)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		client.Close()
		tb.Fatal("tcptest: accept failed")
	}
	tb.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}
