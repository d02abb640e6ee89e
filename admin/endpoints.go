package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/pushinator/pushinator/internal/jsontext"
	"github.com/pushinator/pushinator/push"
)

// maxEventName bounds a custom event name; reserved names are the ones a socket.io client
// treats as its own and never hands to the application's listeners.
const maxEventName = 128

var reservedEvents = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true, "disconnecting": true,
	"newListener": true, "removeListener": true, "error": true, "reconnect": true,
}

func (h *Handler) register(_ *http.Request, body body) (map[string]any, error) {
	const missing = "Missing userId or hash in data"
	id, err := userIDField(body.get("userId"), missing)
	if err != nil {
		return nil, err
	}
	hash, ok := push.ParseHash(body.get("hash"))
	if !ok {
		return nil, errorf(http.StatusBadRequest, missing)
	}
	if err := h.svc.Register(id, hash); err != nil {
		if errors.Is(err, push.ErrInvalidHash) || errors.Is(err, push.ErrReservedUserID) {
			return nil, errorf(http.StatusBadRequest, err.Error())
		}
		return nil, err // 503 when the store is out of reach, else 500 (never its raw text)
	}
	return nil, nil
}

// serveSend is /user/send: the one endpoint on every message's path, so its reply is written
// without a map (route's replies each cost one).
func (h *Handler) serveSend(w http.ResponseWriter, r *http.Request) {
	const path = "/user/send"
	body, err := h.readBody(w, r)
	var res sendReply
	if err == nil {
		res, err = h.send(body)
	}
	if err != nil {
		h.fail(w, r, path, err)
		return
	}
	h.write(w, r, path, http.StatusOK, res.appendJSON(make([]byte, 0, 96)))
}

// sendReply is /user/send's reply.
type sendReply struct {
	push.SendResult     // Unknown: the unknown users, each once
	messages        int // 0: a single message (the reply has no "messages")
}

// appendJSON appends the reply as json.Marshal writes the map it stands for: keys sorted.
func (r sendReply) appendJSON(b []byte) []byte {
	b = append(b, `{"buffered":`...)
	b = strconv.AppendInt(b, int64(r.Buffered), 10)
	b = append(b, `,"delivered":`...)
	b = strconv.AppendInt(b, int64(r.Delivered), 10)
	if r.messages > 0 {
		b = append(b, `,"messages":`...)
		b = strconv.AppendInt(b, int64(r.messages), 10)
	}
	b = append(b, `,"result":"OK","status":200`...)
	if len(r.Unknown) > 0 {
		b = append(b, `,"unknownUsers":`...)
		list, _ := json.Marshal(r.Unknown) // strings: cannot fail
		b = append(b, list...)
	}
	return append(b, '}')
}

func (h *Handler) send(body body) (sendReply, error) {
	var sends []sendRequest
	raw := body.get("messages")
	many := raw != nil
	if many {
		for _, other := range []string{"userId", "userIds", "message", "event"} {
			if body.has(other) {
				return sendReply{}, errorf(http.StatusBadRequest, "Give messages or "+other+", not both")
			}
		}
		var err error
		if sends, err = parseMessages(raw); err != nil {
			return sendReply{}, err
		}
	} else {
		s, err := parseSend(fieldsOf(body))
		if err != nil {
			return sendReply{}, err
		}
		sends = []sendRequest{s}
	}
	// Every message was checked before the first is sent: a bad one refuses the request
	// and sends nothing. Then in order, so one user's messages arrive as listed.
	var total sendReply
	for _, s := range sends {
		res, err := h.svc.Send(s.ids, s.event, s.msg)
		if err != nil {
			return sendReply{}, err
		}
		total.Delivered += res.Delivered
		total.Buffered += res.Buffered
		total.Unknown = append(total.Unknown, res.Unknown...)
	}
	if len(total.Unknown) > 0 {
		total.Unknown = firstOfEach(total.Unknown)
	}
	if many {
		total.messages = len(sends)
	}
	return total, nil
}

// firstOfEach drops repeats, in order, reusing ids' array.
func firstOfEach(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := ids[:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// sendRequest is one message of /user/send, checked.
type sendRequest struct {
	ids   []string
	event string
	msg   json.RawMessage
}

// parseMessages reads {"messages":[{...}, ...]}: each element is what a single /user/send
// body holds (userId or userIds, message, event). raw was checked by decodeBody.
func parseMessages(raw json.RawMessage) ([]sendRequest, error) {
	var sends []sendRequest
	isArray, err := jsontext.Elements(raw, func(i int, elem []byte) error {
		var f sendFields
		if !jsontext.Members(elem, f.set) {
			return errorf(http.StatusBadRequest, "messages["+strconv.Itoa(i)+"]: not an object")
		}
		if f.nested {
			return errorf(http.StatusBadRequest, "messages["+strconv.Itoa(i)+"]: messages cannot nest")
		}
		s, err := parseSend(f)
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) {
				ae.msg = "messages[" + strconv.Itoa(i) + "]: " + ae.msg
			}
			return err
		}
		sends = append(sends, s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !isArray || len(sends) == 0 {
		return nil, errorf(http.StatusBadRequest, "messages must be a non-empty array of objects")
	}
	return sends, nil
}

// sendFields are the members of one message that /user/send reads; nil when absent. As in a
// map, the last of repeated keys wins.
type sendFields struct {
	userID, userIDs, message, event json.RawMessage
	nested                          bool // a "messages" member
}

func (f *sendFields) set(key string, val []byte) {
	switch key {
	case "userId":
		f.userID = val
	case "userIds":
		f.userIDs = val
	case "message":
		f.message = val
	case "event":
		f.event = val
	case "messages":
		f.nested = true
	}
}

// fieldsOf picks a decoded body's send fields.
func fieldsOf(body body) sendFields {
	var f sendFields
	for _, m := range body {
		f.set(m.key, m.val)
	}
	return f
}

// parseSend reads one message: userId or userIds, message, and the optional event.
func parseSend(f sendFields) (sendRequest, error) {
	const missing = "Missing userId or message in data"
	var s sendRequest
	if f.userIDs != nil {
		if f.userID != nil {
			return s, errorf(http.StatusBadRequest, "Give userId or userIds, not both")
		}
		isArray, err := jsontext.Elements(f.userIDs, func(_ int, raw []byte) error {
			id, err := push.ParseUserID(raw)
			if err != nil {
				return errorf(http.StatusBadRequest, "userIds: "+err.Error())
			}
			s.ids = append(s.ids, id)
			return nil
		})
		if err != nil {
			return s, err
		}
		if !isArray || len(s.ids) == 0 {
			return s, errorf(http.StatusBadRequest, "userIds must be a non-empty array of numbers or strings")
		}
		s.ids = firstOfEach(s.ids) // a user listed twice gets the message once
	} else {
		id, err := userIDField(f.userID, missing)
		if err != nil {
			return s, err
		}
		s.ids = []string{id}
	}
	var err error
	if s.msg, err = messageField(f.message, missing); err != nil {
		return s, err
	}
	if s.event, err = eventField(f.event); err != nil {
		return s, err
	}
	return s, nil
}

func (h *Handler) broadcast(_ *http.Request, body body) (map[string]any, error) {
	msg, err := messageField(body.get("message"), "Missing message in data")
	if err != nil {
		return nil, err
	}
	event, err := eventField(body.get("event"))
	if err != nil {
		return nil, err
	}
	n, err := h.svc.Broadcast(event, msg)
	if err != nil {
		return nil, err
	}
	return map[string]any{"delivered": n}, nil
}

func (h *Handler) list(*http.Request, body) (map[string]any, error) {
	users, err := h.svc.Users()
	if err != nil {
		return nil, err
	}
	return map[string]any{"users": users, "scope": h.scope()}, nil
}

func (h *Handler) unregister(_ *http.Request, body body) (map[string]any, error) {
	id, err := userIDField(body.get("userId"), "Missing userId in data")
	if err != nil {
		return nil, err
	}
	ok, err := h.svc.Unregister(id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errorf(http.StatusNotFound, "Unknown userId")
	}
	return nil, nil
}

func (h *Handler) disconnect(_ *http.Request, body body) (map[string]any, error) {
	id, err := userIDField(body.get("userId"), "Missing userId in data")
	if err != nil {
		return nil, err
	}
	n, ok, err := h.svc.DisconnectUser(id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errorf(http.StatusNotFound, "Unknown userId")
	}
	return map[string]any{"disconnected": n}, nil
}

func (h *Handler) health(*http.Request, body) (map[string]any, error) {
	return nil, nil
}

func (h *Handler) scope() string {
	if h.opts.Node != "" {
		return "cluster"
	}
	return "node"
}

func (h *Handler) stats(*http.Request, body) (map[string]any, error) {
	st := h.svc.Stats()
	out := map[string]any{
		"uptimeSeconds": int64(time.Since(h.started).Seconds()),
		"users":         st.Users,
		"sessions":      st.Sessions,
		"messages": map[string]any{
			"sent": st.MessagesSent, "delivered": st.Deliveries, "buffered": st.MessagesKept,
			"dropped": st.MessagesDropped, "expired": st.MessagesExpired, "kept": st.Kept,
		},
		"auth":     map[string]any{"succeeded": st.AuthOK, "failed": st.AuthFailed},
		"recovery": map[string]any{"recovered": st.Recovered, "notRecovered": st.NotRecovered, "resumable": st.Resumable},
		"scope":    h.scope(),
		"process":  processStats(),
	}
	if st.Scope != "" { // a cluster node whose store is out of reach reports its own figures
		out["scope"] = st.Scope
	}
	if h.opts.Node != "" {
		out["node"] = h.opts.Node
	}
	if h.opts.Connections != nil {
		c := h.opts.Connections()
		byProtocol := map[string]int{}
		for v, n := range c.ByProtocol {
			byProtocol["EIO"+strconv.Itoa(v)] = n
		}
		out["connections"] = map[string]any{"total": c.Total, "byTransport": c.ByTransport, "byProtocol": byProtocol}
	}
	return out, nil
}

// userIDField reads a userId member (nil when absent): a JSON number or string.
func userIDField(raw json.RawMessage, missing string) (string, error) {
	if raw == nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return "", errorf(http.StatusBadRequest, missing)
	}
	id, err := push.ParseUserID(raw)
	if err != nil {
		return "", errorf(http.StatusBadRequest, "userId: "+err.Error())
	}
	return id, nil
}

// messageField reads a message member (nil when absent, checked by decodeBody): any JSON
// value but null, kept as sent but for insignificant whitespace and numbers beyond a
// float64 (written null, as the original's JavaScript did).
func messageField(raw json.RawMessage, missing string) (json.RawMessage, error) {
	if raw == nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, errorf(http.StatusBadRequest, missing)
	}
	return jsontext.Finite(jsontext.Compact(raw)), nil
}

// eventField reads the optional event member ("message" when absent).
func eventField(raw json.RawMessage) (string, error) {
	if raw == nil {
		return "message", nil
	}
	var ev string
	if err := json.Unmarshal(raw, &ev); err != nil || ev == "" || len(ev) > maxEventName {
		return "", errorf(http.StatusBadRequest, "event must be a non-empty string of at most 128 bytes")
	}
	if reservedEvents[ev] {
		return "", errorf(http.StatusBadRequest, "event "+strconv.Quote(ev)+" is reserved by socket.io")
	}
	return ev, nil
}

// processStats are the figures an operator (or a leak test) watches: goroutines and heap.
func processStats() map[string]any {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return map[string]any{
		"goroutines":     runtime.NumGoroutine(),
		"heapInuseBytes": ms.HeapInuse,
		"stackBytes":     ms.StackInuse,
		"sysBytes":       ms.Sys,
	}
}
