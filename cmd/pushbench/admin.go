package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// adminClient speaks the admin API that pushinator and the Node anchor share: register, send
// (and pushinator's userIds and /broadcast). It is a minimal HTTP/1.1 client over up to conns
// keep-alive connections: net/http's client costs the bench several times what the server
// spends on a request, and the bench shares the machine with the server it measures.
type adminClient struct {
	addr string
	idle chan *adminConn // connections not in use; a nil entry is a slot to dial
}

// adminConn is one keep-alive connection.
type adminConn struct {
	conn net.Conn
	r    *bufio.Reader
	req  []byte // the request being written, reused
}

// adminTimeout bounds each request's writing and its whole reply.
const adminTimeout = 30 * time.Second

// adminReply is the part of an admin reply the bench reads.
type adminReply struct {
	Status    int    `json:"status"`
	Delivered int    `json:"delivered"`
	Error     string `json:"error"`
}

func newAdminClient(addr string, conns int) *adminClient {
	a := &adminClient{addr: addr, idle: make(chan *adminConn, max(conns, 1))}
	for range max(conns, 1) {
		a.idle <- nil
	}
	return a
}

// post sends body to path and decodes the reply; a non-200 status is an error. A request on a
// kept-alive connection that the server had closed meanwhile (Node closes idle ones after 5 s)
// is sent again on a new one: the server never saw it.
func (a *adminClient) post(ctx context.Context, path string, body []byte) (adminReply, error) {
	var rep adminReply
	var ac *adminConn
	select {
	case ac = <-a.idle:
	case <-ctx.Done():
		return rep, ctx.Err()
	}
	for attempt := 0; ; attempt++ {
		reused := ac != nil
		if ac == nil {
			conn, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", a.addr)
			if err != nil {
				a.idle <- nil
				return rep, fmt.Errorf("pushbench: admin %s: %w", path, err)
			}
			ac = &adminConn{conn: conn, r: bufio.NewReaderSize(conn, 4096)}
		}
		status, data, keep, got, err := ac.roundTrip(a.addr, path, body)
		if err != nil {
			ac.conn.Close()
			ac = nil
			if reused && !got && attempt == 0 {
				continue
			}
			a.idle <- nil
			return rep, fmt.Errorf("pushbench: admin %s: %w", path, err)
		}
		if !keep {
			ac.conn.Close()
			ac = nil
		}
		a.idle <- ac
		if err := json.Unmarshal(data, &rep); err != nil {
			return rep, fmt.Errorf("pushbench: admin %s: reply %q: %w", path, trim(data), err)
		}
		if status != 200 {
			return rep, fmt.Errorf("pushbench: admin %s: status %d: %s", path, status, trim(data))
		}
		return rep, nil
	}
}

// roundTrip writes one request and reads its reply (Content-Length or chunked). got says
// whether any byte of a reply arrived; keep whether the connection can be used again.
func (ac *adminConn) roundTrip(host, path string, body []byte) (status int, data []byte, keep, got bool, err error) {
	ac.req = fmt.Appendf(ac.req[:0], "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, host, len(body))
	ac.req = append(ac.req, body...)
	ac.conn.SetDeadline(time.Now().Add(adminTimeout))
	if _, err := ac.conn.Write(ac.req); err != nil {
		return 0, nil, false, false, err
	}
	line, err := ac.r.ReadSlice('\n')
	if err != nil {
		return 0, nil, false, len(line) > 0, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, nil, false, true, fmt.Errorf("status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, false, true, fmt.Errorf("status line %q", line)
	}
	length, chunked, keep := -1, false, line[7] == '1'
	for {
		h, err := ac.r.ReadSlice('\n')
		if err != nil {
			return 0, nil, false, true, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		k, v, _ := bytes.Cut(h, []byte(":"))
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(v)); err != nil {
				return 0, nil, false, true, fmt.Errorf("Content-Length %q", v)
			}
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(v, []byte("chunked"))
		case bytes.EqualFold(k, []byte("Connection")):
			keep = !bytes.EqualFold(v, []byte("close"))
		}
	}
	switch {
	case chunked:
		for {
			sz, err := ac.r.ReadSlice('\n')
			if err != nil {
				return 0, nil, false, true, err
			}
			sz, _, _ = bytes.Cut(bytes.TrimSpace(sz), []byte(";"))
			n, err := strconv.ParseInt(string(sz), 16, 32)
			if err != nil || n < 0 || n > 1<<24 {
				return 0, nil, false, true, fmt.Errorf("chunk size %q", sz)
			}
			if n == 0 { // trailers, then the blank line
				for {
					t, err := ac.r.ReadSlice('\n')
					if err != nil {
						return 0, nil, false, true, err
					}
					if len(bytes.TrimSpace(t)) == 0 {
						return status, data, keep, true, nil
					}
				}
			}
			start := len(data)
			data = append(data, make([]byte, n+2)...) // the chunk and its CRLF
			if _, err := io.ReadFull(ac.r, data[start:]); err != nil {
				return 0, nil, false, true, err
			}
			data = data[:len(data)-2]
		}
	case length >= 0:
		if length > 1<<24 {
			return 0, nil, false, true, fmt.Errorf("Content-Length %d", length)
		}
		data = make([]byte, length)
		if _, err := io.ReadFull(ac.r, data); err != nil {
			return 0, nil, false, true, err
		}
		return status, data, keep, true, nil
	default: // the body runs to the end of the connection
		data, err = io.ReadAll(ac.r)
		return status, data, false, true, err
	}
}

func trim(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

func (a *adminClient) register(ctx context.Context, user int64, hash string) error {
	_, err := a.post(ctx, "/user/register", fmt.Appendf(nil, `{"userId":%d,"hash":%q}`, user, hash))
	return err
}

// message is a bench payload of about size bytes: its sequence number and send time first
// (the receiver scans for them), then padding.
func message(seq int64, sent time.Time, size int) []byte {
	b := fmt.Appendf(make([]byte, 0, size+16), `{"s":%d,"t":%d,"p":"`, seq, sent.UnixNano())
	for len(b) < size-2 {
		b = append(b, 'x')
	}
	return append(b, '"', '}')
}

func (a *adminClient) send(ctx context.Context, user int64, msg []byte) (adminReply, error) {
	body := fmt.Appendf(make([]byte, 0, len(msg)+40), `{"userId":%d,"message":`, user)
	body = append(append(body, msg...), '}')
	return a.post(ctx, "/user/send", body)
}

// sendMany is pushinator's one message to many users ({"userIds":[...]}).
func (a *adminClient) sendMany(ctx context.Context, users []int64, msg []byte) (adminReply, error) {
	body := append(make([]byte, 0, len(msg)+12*len(users)+40), `{"userIds":[`...)
	for i, u := range users {
		if i > 0 {
			body = append(body, ',')
		}
		body = fmt.Append(body, u)
	}
	body = append(append(append(body, `],"message":`...), msg...), '}')
	return a.post(ctx, "/user/send", body)
}

// sendMessages sends msg to each user as a message of its own, all in one request.
func (a *adminClient) sendMessages(ctx context.Context, users []int64, msg []byte) (adminReply, error) {
	body := append(make([]byte, 0, (len(msg)+30)*len(users)+20), `{"messages":[`...)
	for i, u := range users {
		if i > 0 {
			body = append(body, ',')
		}
		body = fmt.Appendf(body, `{"userId":%d,"message":`, u)
		body = append(append(body, msg...), '}')
	}
	body = append(body, "]}"...)
	return a.post(ctx, "/user/send", body)
}

func (a *adminClient) broadcast(ctx context.Context, msg []byte) (adminReply, error) {
	body := append(append([]byte(`{"message":`), msg...), '}')
	return a.post(ctx, "/broadcast", body)
}
