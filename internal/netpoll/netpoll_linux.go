//go:build linux

package netpoll

import (
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
)

// eventBatch is how many ready connections one epoll_wait returns.
const eventBatch = 256

// Poller is one epoll instance and the goroutine that dispatches its
// events. It is safe for concurrent use.
type Poller struct {
	file *os.File        // the epoll descriptor, registered with Go's poller
	rc   syscall.RawConn // of file: keeps the descriptor valid while in use
	done chan struct{}   // closed when the dispatch goroutine has ended

	mu      sync.Mutex
	waiters map[uint64]*Waiter
	nextID  uint64
}

// New starts a Poller; Close ends it.
func New() (*Poller, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("netpoll: epoll_create1: %w", err)
	}
	// Non-blocking, so that os.NewFile hands it to Go's poller: the
	// dispatch goroutine then parks instead of holding a thread in
	// epoll_wait.
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("netpoll: set epoll descriptor non-blocking: %w", err)
	}
	file := os.NewFile(uintptr(fd), "epoll")
	rc, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("netpoll: epoll descriptor: %w", err)
	}
	p := &Poller{file: file, rc: rc, done: make(chan struct{}), waiters: map[uint64]*Waiter{}}
	go p.dispatch()
	return p, nil
}

// Close stops the Poller and waits for its goroutine to end. Armed
// waiters are not called any more; their owners close their connections.
func (p *Poller) Close() error {
	err := p.file.Close()
	<-p.done
	return err
}

// Waiting is the number of registered connections.
func (p *Poller) Waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.waiters)
}

func (p *Poller) dispatch() {
	defer close(p.done)
	events := make([]syscall.EpollEvent, eventBatch)
	for {
		var n int
		var werr error
		err := p.rc.Read(func(fd uintptr) bool {
			for {
				n, werr = syscall.EpollWait(int(fd), events, 0)
				if werr != syscall.EINTR {
					break
				}
			}
			return n > 0 || werr != nil
		})
		if err != nil || werr != nil {
			// Closed (or an epoll_wait error, which only a bug causes:
			// the owners' connections stay readable by their deadlines
			// and heartbeats).
			return
		}
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			p.mu.Lock()
			w := p.waiters[id]
			p.mu.Unlock()
			if w == nil {
				continue
			}
			// Taking w.mu orders the ready call after the Arm that asked
			// for it (the event may come before Arm has returned), so
			// ready sees everything its owner wrote before arming.
			w.mu.Lock()
			removed := w.removed
			w.mu.Unlock()
			if !removed {
				go w.ready()
			}
		}
	}
}

// Waiter is one connection registered with a Poller.
type Waiter struct {
	p     *Poller
	id    uint64
	rc    syscall.RawConn
	ready func()

	mu      sync.Mutex
	added   bool // in the epoll set (armed or fired)
	removed bool
}

// Register prepares conn for Arm; ready is what Arm's event calls. It
// returns ErrUnsupported when conn has no descriptor of its own (TLS).
func (p *Poller) Register(conn net.Conn, ready func()) (*Waiter, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil, ErrUnsupported
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("netpoll: register: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nextID++
	w := &Waiter{p: p, id: p.nextID, rc: rc, ready: ready}
	p.waiters[w.id] = w
	return w, nil
}

// Arm asks for one call of ready, in a new goroutine, once the connection
// has bytes to read or has ended (at once if it already has). The caller
// must not read the connection after a successful Arm: the ready call
// does.
func (w *Waiter) Arm() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.removed {
		return ErrRemoved
	}
	op := syscall.EPOLL_CTL_MOD
	if !w.added {
		op = syscall.EPOLL_CTL_ADD
	}
	if err := w.ctl(op); err != nil {
		return fmt.Errorf("netpoll: arm: %w", err)
	}
	w.added = true
	return nil
}

// Remove takes the connection out of the Poller; call it before closing
// the connection (afterwards its descriptor number may belong to another
// connection). A ready call already started still runs.
func (w *Waiter) Remove() {
	w.mu.Lock()
	if !w.removed {
		w.removed = true
		if w.added {
			// An error means the connection is already closed, which took
			// it out of the epoll set.
			w.ctl(syscall.EPOLL_CTL_DEL)
		}
	}
	w.mu.Unlock()
	w.p.mu.Lock()
	delete(w.p.waiters, w.id)
	w.p.mu.Unlock()
}

// ctl runs epoll_ctl while both descriptors are held open, so neither can
// be closed, and its number reused, during the call.
func (w *Waiter) ctl(op int) error {
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     int32(uint32(w.id)),
		Pad:    int32(uint32(w.id >> 32)),
	}
	var ctlErr error
	err := w.rc.Control(func(fd uintptr) {
		err := w.p.rc.Control(func(epfd uintptr) {
			ctlErr = syscall.EpollCtl(int(epfd), op, int(fd), &ev)
		})
		if err != nil {
			ctlErr = err
		}
	})
	if err != nil {
		return err
	}
	return ctlErr
}
