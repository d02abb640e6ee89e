// Package logging builds pushinator's *slog.Logger: text lines on stdout (foreground), the
// system log (daemon with log.syslog.enable), or nothing (daemon without syslog, as the seed
// did with /dev/null).
//
// Guarantees:
//   - the level can change while the server runs (SetDebug, for SIGHUP): Info, or Debug when
//     log.debug is true; every handler derived with With/WithGroup follows the change;
//   - on stdout each event is one line: time, level, message, then the attributes;
//   - on syslog each event is one message whose severity follows the slog level
//     (Debug→debug, Info→info, Warn→warning, Error→err) with the configured facility and tag;
//   - New fails with an error naming the address when the system log cannot be reached, so a
//     daemon that is asked to log to syslog never starts logging into the void;
//   - secrets are never printed: attributes whose key names a secret (hash, token, password,
//     secret, authorization) are replaced by "[redacted]", and values of type Secret print
//     as "[redacted]" wherever they go. The rule for callers stays: do not log secrets.
//
// Writes to the system log use the standard log/syslog and, like syslog(3), wait for the
// local syslog daemon to take the message; log/syslog reconnects by itself after a write
// error, and Reopen reconnects on demand.
package logging

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"strings"
	"sync"
)

// Output says where log events go.
type Output string

const (
	OutputStdout  Output = "stdout"  // text lines on Options.Writer (os.Stdout by default)
	OutputSyslog  Output = "syslog"  // the system log, see SyslogOptions
	OutputDiscard Output = "discard" // nowhere
)

// DefaultTag is the syslog tag used when none is configured (the seed's example config).
const DefaultTag = "pushinator"

// DefaultFacility is the syslog facility used when none is configured (the seed's example config).
const DefaultFacility = "LOG_DAEMON"

// Choose returns the output the seed prescribes: stdout in the foreground; in a daemon the
// system log when log.syslog.enable is true, otherwise nothing.
func Choose(daemon, syslogEnabled bool) Output {
	switch {
	case !daemon:
		return OutputStdout
	case syslogEnabled:
		return OutputSyslog
	default:
		return OutputDiscard
	}
}

// Options configures New.
type Options struct {
	Output Output    // "" means OutputStdout
	Writer io.Writer // OutputStdout only; nil means os.Stdout
	Debug  bool      // log.debug: emit Debug events
	Syslog SyslogOptions
}

// SyslogOptions configures OutputSyslog (config keys log.syslog.*).
type SyslogOptions struct {
	Tag      string // "" means DefaultTag
	Facility string // "LOG_DAEMON", "daemon", "LOG_LOCAL3", "local3"...; "" means DefaultFacility
	// Address of the syslog server: "" for the local one (/dev/log and the usual
	// alternatives), or "unixgram:/path", "unix:/path", "udp:host:port", "tcp:host:port".
	Address string
}

// Logger owns the *slog.Logger handed to the rest of the program and what it writes to.
type Logger struct {
	slog  *slog.Logger
	level *slog.LevelVar
	sink  *syslogSink // nil unless OutputSyslog
}

// New builds a Logger. With OutputSyslog it connects to the system log now and returns an
// error if that fails.
func New(opts Options) (*Logger, error) {
	l := &Logger{level: new(slog.LevelVar)}
	l.SetDebug(opts.Debug)
	switch opts.Output {
	case OutputStdout, "":
		w := opts.Writer
		if w == nil {
			w = os.Stdout
		}
		l.slog = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l.level, ReplaceAttr: redactAttr}))
	case OutputDiscard:
		l.slog = slog.New(slog.DiscardHandler)
	case OutputSyslog:
		sink, err := newSyslogSink(opts.Syslog)
		if err != nil {
			return nil, err
		}
		l.sink = sink
		l.slog = slog.New(newSyslogHandler(sink, l.level))
	default:
		return nil, fmt.Errorf("logging: unknown output %q (want stdout, syslog or discard)", opts.Output)
	}
	return l, nil
}

// Slog returns the logger to pass to the other packages.
func (l *Logger) Slog() *slog.Logger { return l.slog }

// SetDebug switches between Info (false) and Debug (true) at once for every derived logger.
func (l *Logger) SetDebug(debug bool) {
	if debug {
		l.level.Set(slog.LevelDebug)
	} else {
		l.level.Set(slog.LevelInfo)
	}
}

// Debug reports whether Debug events are emitted.
func (l *Logger) Debug() bool { return l.level.Level() <= slog.LevelDebug }

// Reopen reconnects to the system log (after syslogd restarted, on SIGHUP). On error the old
// connection is kept. It does nothing for the other outputs.
func (l *Logger) Reopen() error {
	if l.sink == nil {
		return nil
	}
	return l.sink.reopen()
}

// Close closes the connection to the system log. Events logged afterwards are dropped.
func (l *Logger) Close() error {
	if l.sink == nil {
		return nil
	}
	return l.sink.close()
}

// Secret is a string that never prints: as a slog value, with fmt (%v, %s, %q, %#v) and
// as JSON it is "[redacted]". Use it for hashes and tokens held in structs that may be logged.
type Secret string

const redacted = "[redacted]"

func (Secret) LogValue() slog.Value          { return slog.StringValue(redacted) }
func (Secret) String() string                { return redacted }
func (Secret) GoString() string              { return `"` + redacted + `"` }
func (Secret) MarshalText() ([]byte, error)  { return []byte(redacted), nil }
func (s Secret) Reveal() string              { return string(s) }
func (Secret) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, redacted) }

var _ slog.LogValuer = Secret("")

// IsSecretKey reports whether an attribute with this key is redacted whatever its value's
// type: a last line of defence against logging a hash or token by accident.
func IsSecretKey(key string) bool {
	switch strings.ToLower(key) {
	case "hash", "token", "password", "secret", "authorization":
		return true
	}
	return false
}

func redactAttr(_ []string, a slog.Attr) slog.Attr {
	if IsSecretKey(a.Key) {
		return slog.String(a.Key, redacted)
	}
	return a
}

// syslogSink holds the connection to the system log; reopen swaps it under the lock.
type syslogSink struct {
	opts     SyslogOptions
	network  string
	raddr    string
	priority syslog.Priority

	mu sync.RWMutex
	w  *syslog.Writer // nil after close
}

func newSyslogSink(opts SyslogOptions) (*syslogSink, error) {
	if opts.Tag == "" {
		opts.Tag = DefaultTag
	}
	if opts.Facility == "" {
		opts.Facility = DefaultFacility
	}
	facility, err := ParseFacility(opts.Facility)
	if err != nil {
		return nil, fmt.Errorf("logging: syslog: %w", err)
	}
	network, raddr, err := ParseAddress(opts.Address)
	if err != nil {
		return nil, fmt.Errorf("logging: syslog: %w", err)
	}
	s := &syslogSink{opts: opts, network: network, raddr: raddr, priority: facility | syslog.LOG_INFO}
	w, err := s.dial()
	if err != nil {
		return nil, err
	}
	s.w = w
	return s, nil
}

func (s *syslogSink) dial() (*syslog.Writer, error) {
	w, err := syslog.Dial(s.network, s.raddr, s.priority, s.opts.Tag)
	if err != nil {
		where := "the local syslog (/dev/log)"
		if s.opts.Address != "" {
			where = fmt.Sprintf("%q", s.opts.Address)
		}
		return nil, fmt.Errorf("logging: syslog: cannot reach %s: %w", where, err)
	}
	return w, nil
}

func (s *syslogSink) reopen() error {
	w, err := s.dial()
	if err != nil {
		return err
	}
	s.mu.Lock()
	old := s.w
	s.w = w
	s.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	return nil
}

func (s *syslogSink) close() error {
	s.mu.Lock()
	old := s.w
	s.w = nil
	s.mu.Unlock()
	if old == nil {
		return nil
	}
	return old.Close()
}

// write sends one message with the severity matching level.
func (s *syslogSink) write(level slog.Level, msg string) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	w := s.w
	if w == nil {
		return errors.New("logging: syslog: closed")
	}
	switch {
	case level < slog.LevelInfo:
		return w.Debug(msg)
	case level < slog.LevelWarn:
		return w.Info(msg)
	case level < slog.LevelError:
		return w.Warning(msg)
	default:
		return w.Err(msg)
	}
}
