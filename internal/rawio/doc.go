// Package rawio reads and writes sockets with raw system calls, skipping the
// bookkeeping Go's runtime does around every other system call.
//
// The runtime brackets a goroutine's system call (entersyscall/exitsyscall)
// so that a call that blocks does not hold a processor; and when the program
// was idle, that bracket also wakes the runtime's monitor thread, which then
// checks every 20 µs for a while. A push server makes one short call after
// another, each after an idle moment (read a request, write a push, write the
// reply), and paid that wake-up on nearly every one: at a moderate admin load
// the monitor was a fifth of a bare HTTP server's CPU on a 2-core machine.
// Go's network sockets are non-blocking, so their read and write return at
// once; they need no bracket. When a socket is not ready, the goroutine still
// waits in Go's network poller, under the connection's deadlines, as before.
//
// Guarantees: a Conn behaves as the *net.TCPConn it wraps (same errors, same
// deadlines, same close); only the system calls underneath differ. Write and
// Read act on a descriptor the caller holds open (through syscall.RawConn).
// On Unix systems other than Linux, Listener returns its argument and Write and
// Read make ordinary system calls.
package rawio
