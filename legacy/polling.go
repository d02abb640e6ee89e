package legacy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/pushinator/pushinator/internal/wire"
)

// servePoll answers a polling GET: at once when packets are queued,
// otherwise when one is queued, the socket closes, a newer poll takes its
// place, or PollDuration passes (then with a noop). Everything queued goes
// in one response.
func (srv *Server) servePoll(w http.ResponseWriter, r *http.Request, s *Socket, k transportKind) {
	j := "0"
	if k == kindJSONP {
		if v, ok := jsonpIndex(r.URL.Query().Get("i")); ok {
			j = v
		}
	}
	if s == nil {
		srv.writePayload(w, r, k, j, []outPacket{{data: rawNotHandshaken}})
		return
	}
	s.mu.Lock()
	switch {
	case s.state == stateHandshaken:
		s.connectLocked(k, r.RemoteAddr)
	case s.state != stateClosed && s.kind != k:
		s.mu.Unlock()
		srv.writePayload(w, r, k, j, []outPacket{{data: rawNotHandshaken}})
		return
	}
	if s.state == stateClosed {
		final := s.final
		s.mu.Unlock()
		srv.unlinger(s)
		if final == nil {
			final = rawNotHandshaken
		}
		srv.writePayload(w, r, k, j, []outPacket{{data: final}})
		return
	}
	if s.state != stateClosing {
		s.stopCloseLocked()
	}
	// One poll at a time: a newer one releases the older with a noop
	// (a client that lost its poll's response polls again).
	s.pollGen++
	gen := s.pollGen
	if s.pollWake != nil {
		select {
		case s.pollWake <- struct{}{}:
		default:
		}
	}
	wake := make(chan struct{}, 1)
	s.pollWake = wake
	var timeout <-chan time.Time
	gone, expired := false, false
	for len(s.queue) == 0 && s.state != stateClosed && s.pollGen == gen && !gone && !expired {
		if timeout == nil {
			t := time.NewTimer(srv.opts.PollDuration)
			defer t.Stop()
			timeout = t.C
		}
		s.mu.Unlock()
		select {
		case <-wake:
		case <-timeout:
			expired = true
		case <-r.Context().Done():
			gone = true
		}
		s.mu.Lock()
	}
	if s.pollWake == wake {
		s.pollWake = nil
	}
	var (
		pkts []outPacket
		fire bool
	)
	switch {
	case s.state == stateClosed:
		pkts = []outPacket{{data: s.final}}
		if s.final == nil {
			pkts[0].data = rawNotHandshaken
		}
	case s.pollGen != gen:
		// Displaced: the newer poll owns the close timer.
		s.mu.Unlock()
		srv.writePayload(w, r, k, j, []outPacket{{data: rawNoop}})
		return
	case gone:
		// The client went away mid-poll: like the 0.9 server, give it
		// CloseTimeout to come back.
		if s.state == stateConnected {
			s.armCloseLocked(srv.opts.CloseTimeout)
		}
		s.mu.Unlock()
		return
	case len(s.queue) == 0:
		pkts = []outPacket{{data: rawNoop}}
	default:
		pkts, s.queue = s.queue, nil
		if s.state == stateClosing {
			// `0::` is the last packet queued, and it goes now.
			fire = s.finishLocked(s.reason, rawDisconnect)
		}
	}
	if s.state == stateConnected {
		s.armCloseLocked(srv.opts.CloseTimeout)
	}
	s.mu.Unlock()
	s.afterFinish(fire)
	if err := srv.writePayload(w, r, k, j, pkts); err != nil {
		// The packets taken are lost (a payload is read whole or not at
		// all): the socket cannot go on.
		s.mu.Lock()
		s.droppedLocked(pkts, true)
		fire = s.finishLocked(reasonTransportError, nil)
		s.mu.Unlock()
		s.afterFinish(fire)
	}
}

// writePayload writes packets as one polling response, framed when there
// are several; JSONP wraps the payload in `io.j[N]("...");`.
func (srv *Server) writePayload(w http.ResponseWriter, r *http.Request, k transportKind, j string, pkts []outPacket) error {
	body := appendPayload(make([]byte, 0, 64), pkts)
	ctype := "text/plain; charset=UTF-8"
	if k == kindJSONP {
		// <, >, &, U+2028 and U+2029 are escaped: the string is safe
		// inside a script.
		b := make([]byte, 0, len(body)+len(j)+16)
		b = append(b, "io.j["...)
		b = append(b, j...)
		b = append(b, "]("...)
		b = wire.AppendJSString(b, body, true)
		body = append(b, ");"...)
		ctype = "text/javascript; charset=UTF-8"
	} else {
		srv.cors.SetCORS(w, r)
	}
	if k == kindJSONP {
		w.Header().Set("X-XSS-Protection", "0")
	}
	return wire.WritePoll(w, ctype, body, srv.opts.WriteTimeout)
}

// errStop ends payload decoding once the socket is closed.
var errStop = errors.New("legacy: socket closed while decoding")

// servePost takes a polling POST: a payload of packets from the client
// (JSONP: a form field d holding the payload as a JSON string).
func (srv *Server) servePost(w http.ResponseWriter, r *http.Request, s *Socket, k transportKind) {
	srv.cors.SetCORS(w, r)
	if s == nil {
		srv.writeText(w, http.StatusNotFound, "legacy: unknown session")
		return
	}
	s.mu.Lock()
	ok := (s.state == stateConnected || s.state == stateClosing) && s.kind == k
	s.mu.Unlock()
	if !ok {
		srv.writeText(w, http.StatusNotFound, "legacy: unknown session")
		return
	}
	body, err := wire.ReadBody(w, r, srv.opts.MaxPayload, srv.opts.WriteTimeout)
	if err != nil {
		s.closeNow(reasonTransportError)
		if errors.Is(err, wire.ErrTooLarge) {
			srv.writeText(w, http.StatusRequestEntityTooLarge, "legacy: payload too large")
		} else {
			srv.writeText(w, http.StatusBadRequest, "legacy: reading the body failed")
		}
		return
	}
	if k == kindJSONP {
		body, err = decodeJSONPForm(body)
		if err != nil {
			s.parseError(err)
			srv.writeText(w, http.StatusBadRequest, "legacy: bad JSONP form")
			return
		}
	}
	// Every packet is read before any is acted on: a payload with an
	// unreadable packet is refused whole.
	var ins []inbound
	err = decodePayload(body, func(raw []byte) error {
		in, err := readPacket(raw)
		ins = append(ins, in)
		return err
	})
	if err != nil {
		s.parseError(err)
		srv.writeText(w, http.StatusBadRequest, "legacy: bad payload")
		return
	}
	// One POST at a time per socket, so events keep the client's order.
	s.pmu.Lock()
	defer s.pmu.Unlock()
	// The answer goes before the packets are acted on, as the 0.9 server
	// did: the 0.9 client holds back what it sends (its own disconnect
	// packet too) until its POST is answered, so an ack must not overtake
	// this answer on the poll.
	srv.writeText(w, http.StatusOK, "1")
	http.NewResponseController(w).Flush()
	for _, in := range ins {
		if s.act(in) != nil {
			break
		}
	}
}

// decodeJSONPForm takes the payload out of a JSONP POST: the 0.9 client
// sends `d=<JSON string>` (stringified so browsers keep "\n" intact).
func decodeJSONPForm(body []byte) ([]byte, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("%w: jsonp form: %v", errPacket, err)
	}
	d, ok := vals["d"]
	if !ok || len(d) == 0 {
		return nil, fmt.Errorf("%w: jsonp form: no d field", errPacket)
	}
	var payload string
	if err := json.Unmarshal([]byte(d[0]), &payload); err != nil {
		return nil, fmt.Errorf("%w: jsonp form: d is not a JSON string: %v", errPacket, err)
	}
	return []byte(payload), nil
}
