package logging

import (
	"context"
	"log/slog"
	"strings"
	"unicode/utf8"
)

// syslogHandler formats a record like the stdout handler, without time and level (syslog
// carries both), and sends it with the severity matching the record's level.
//
// It keeps one slog.TextHandler per severity, each writing into a severityWriter: a
// TextHandler writes each record with exactly one Write call, so the writer knows which
// severity the whole record has. WithAttrs and WithGroup are applied to all four.
type syslogHandler struct {
	level slog.Leveler
	byLvl [4]slog.Handler // debug, info, warn, error
}

func newSyslogHandler(sink *syslogSink, level slog.Leveler) *syslogHandler {
	h := &syslogHandler{level: level}
	opts := &slog.HandlerOptions{
		Level: slog.LevelDebug, // filtering is done by Enabled with the live level
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
				return slog.Attr{}
			}
			return redactAttr(groups, a)
		},
	}
	for i, lvl := range [4]slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
		h.byLvl[i] = slog.NewTextHandler(severityWriter{sink: sink, level: lvl}, opts)
	}
	return h
}

func (h *syslogHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

func (h *syslogHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.byLvl[severityIndex(r.Level)].Handle(ctx, r)
}

func (h *syslogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := &syslogHandler{level: h.level}
	for i := range h.byLvl {
		n.byLvl[i] = h.byLvl[i].WithAttrs(attrs)
	}
	return n
}

func (h *syslogHandler) WithGroup(name string) slog.Handler {
	n := &syslogHandler{level: h.level}
	for i := range h.byLvl {
		n.byLvl[i] = h.byLvl[i].WithGroup(name)
	}
	return n
}

// severityIndex maps any slog level onto the four syslog severities we use.
func severityIndex(l slog.Level) int {
	switch {
	case l < slog.LevelInfo:
		return 0
	case l < slog.LevelWarn:
		return 1
	case l < slog.LevelError:
		return 2
	default:
		return 3
	}
}

type severityWriter struct {
	sink  *syslogSink
	level slog.Level
}

// maxSyslogMessage bounds one message: syslog daemons truncate or drop longer ones (rsyslog's
// default is 8 KiB) and a datagram over the socket's limit is refused outright (EMSGSIZE).
const maxSyslogMessage = 8 << 10

const truncatedMark = "…[truncated]"

func (w severityWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSuffix(string(p), "\n")
	if len(msg) > maxSyslogMessage {
		cut := maxSyslogMessage - len(truncatedMark)
		for cut > 0 && !utf8.RuneStart(msg[cut]) { // do not split a character
			cut--
		}
		msg = msg[:cut] + truncatedMark
	}
	if err := w.sink.write(w.level, msg); err != nil {
		return 0, err
	}
	return len(p), nil
}
