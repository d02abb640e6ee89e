// Package netpoll tells when an idle connection has bytes to read, so that
// a server holding many idle connections needs no goroutine parked in Read
// for each of them: a parked goroutine keeps a stack of a few KiB that the
// garbage collector cannot shrink, which is most of what an idle push
// connection would otherwise cost.
//
// A Poller is one epoll instance (Linux). Its own descriptor is waited on
// through Go's network poller, so the Poller holds no thread and Close
// ends its goroutine at once. Each Waiter is one connection: Arm asks for
// one call of its ready function, in a new goroutine, when the connection
// becomes readable or ends; the call then reads what it needs with the
// connection's ordinary (blocking) Read and arms again.
//
// On systems without epoll, New returns ErrUnsupported and callers keep a
// goroutine reading each connection.
package netpoll

import "errors"

// Errors of Register and Arm.
var (
	// ErrUnsupported: no epoll on this system, or the connection has no
	// file descriptor (TLS); the caller reads the connection itself.
	ErrUnsupported = errors.New("netpoll: not supported for this connection")
	// ErrRemoved: the Waiter was removed (its connection is closing).
	ErrRemoved = errors.New("netpoll: waiter removed")
)
