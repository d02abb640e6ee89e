package daemon

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// Signals holds SIGTERM, SIGINT and SIGHUP from the moment CatchSignals is called until
// Wait returns. Call CatchSignals first thing in main, before Ready: from then on a signal
// cannot kill the server through its default action, and a SIGTERM sent during start-up
// is kept until Wait sees it.
type Signals struct {
	ch chan os.Signal // buffered: signal.Notify drops what does not fit
}

// CatchSignals starts holding SIGTERM, SIGINT and SIGHUP for Wait.
func CatchSignals() *Signals {
	s := &Signals{ch: make(chan os.Signal, 8)}
	signal.Notify(s.ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	return s
}

// Wait blocks the calling goroutine until SIGTERM or SIGINT arrives, and returns it; or
// until ctx is done, and returns nil. Each SIGHUP meanwhile calls reload (if not nil) in
// the calling goroutine: re-read log.debug, reopen the log.
//
// On return SIGHUP stays ignored (a log rotation during shutdown must not kill the
// process) and SIGTERM/SIGINT get their default effect back: a second one ends the
// process at once, for an operator who does not want to wait for a graceful shutdown.
// Wait is meant to be called once.
func (s *Signals) Wait(ctx context.Context, reload func()) os.Signal {
	defer func() {
		signal.Ignore(syscall.SIGHUP)
		signal.Stop(s.ch)
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case sig := <-s.ch:
			if sig == syscall.SIGHUP {
				if reload != nil {
					reload()
				}
				continue
			}
			return sig
		}
	}
}
