// Package wire is what the Engine.IO and socket.io 0.9 servers do the
// same way on HTTP for browser clients: session ids, the Origin check
// and CORS headers, polling responses written within a deadline, and
// the JavaScript view of strings (UTF-16 lengths, string literals for
// JSONP scripts).
//
// Guarantees: ids are unguessable (crypto/rand) and URL-safe; an Origin
// is echoed only when allowed; every response write has the deadline the
// caller passes; encoders append and never allocate beyond dst's growth.
package wire

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"
)

// NewID returns 20 URL-safe characters from 15 random bytes: the shape
// of both protocols' session ids.
func NewID() string {
	var b [15]byte
	rand.Read(b[:]) // never fails (crypto/rand panics rather than return short)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Origins are the allowed Origin values; "*" allows any.
type Origins []string

// Allowed reports whether a browser page from origin may connect and
// read responses.
func (o Origins) Allowed(origin string) bool {
	for _, a := range o {
		if a == "*" || a == origin {
			return true
		}
	}
	return false
}

// SetCORS echoes an allowed Origin, with credentials (both clients set
// withCredentials on cross-domain requests). Requests without Origin, or
// from another origin, get no CORS headers.
func (o Origins) SetCORS(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" || !o.Allowed(origin) {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Add("Vary", "Origin")
}

// Preflight answers a CORS preflight (OPTIONS) with 204: the CORS headers
// for an allowed Origin, the requested headers allowed, and methods (as
// the Access-Control-Allow-Methods value).
func (o Origins) Preflight(w http.ResponseWriter, r *http.Request, methods string) {
	o.SetCORS(w, r)
	if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
		w.Header().Set("Access-Control-Allow-Headers", rh)
	}
	w.Header().Set("Access-Control-Allow-Methods", methods)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
}

// WritePoll writes body as a polling response (200, not cached) within
// timeout and flushes it, so the client has it before the handler
// returns. Headers set on w before the call go along.
func WritePoll(w http.ResponseWriter, ctype string, body []byte, timeout time.Duration) error {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Now().Add(timeout))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(body); err != nil {
		return err
	}
	return rc.Flush()
}

// ErrTooLarge is ReadBody's error for a body over its limit.
var ErrTooLarge = errors.New("wire: body too large")

// ReadBody reads a polling POST's body, at most max bytes, within
// timeout. A body announced or found larger is ErrTooLarge (wrapped), so
// the caller can answer 413; a read that fails is another error.
func ReadBody(w http.ResponseWriter, r *http.Request, max int64, timeout time.Duration) ([]byte, error) {
	if r.ContentLength > max {
		return nil, fmt.Errorf("%w: Content-Length %d over %d", ErrTooLarge, r.ContentLength, max)
	}
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(timeout))
	body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("wire: reading the body: %w", err)
	}
	if int64(len(body)) > max {
		return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, max)
	}
	return body, nil
}

// UTF16Len is the length JavaScript gives the string s (String.length):
// UTF-16 code units, two for a character beyond the BMP; an invalid byte
// counts one (it reaches the client as one U+FFFD).
func UTF16Len(s []byte) int {
	n := 0
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			n++
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
		i += size
	}
	return n
}

// UTF16Cut walks s up to n UTF-16 code units and returns the bytes taken
// and the units they count: units < n when s is shorter, units == n+1
// when the n-th unit is the first half of a surrogate pair.
func UTF16Cut(s []byte, n int) (end, units int) {
	for units < n && end < len(s) {
		r, size := utf8.DecodeRune(s[end:])
		if r >= 0x10000 {
			units += 2
		} else {
			units++
		}
		end += size
	}
	return end, units
}
