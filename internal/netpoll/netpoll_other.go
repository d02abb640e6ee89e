//go:build !linux

package netpoll

import "net"

// Poller is not available without epoll; New always fails.
type Poller struct{}

// New returns ErrUnsupported: callers read each connection with a goroutine.
func New() (*Poller, error) { return nil, ErrUnsupported }

// Close does nothing.
func (p *Poller) Close() error { return nil }

// Waiting is always 0.
func (p *Poller) Waiting() int { return 0 }

// Waiter is not available without epoll.
type Waiter struct{}

// Register returns ErrUnsupported.
func (p *Poller) Register(net.Conn, func()) (*Waiter, error) { return nil, ErrUnsupported }

// Arm returns ErrUnsupported.
func (w *Waiter) Arm() error { return ErrUnsupported }

// Remove does nothing.
func (w *Waiter) Remove() {}
