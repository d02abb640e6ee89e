package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// pollTimeout bounds one long-poll: the server answers within its ping interval (25 s).
const pollTimeout = 90 * time.Second

// poller makes Engine.IO v4 long-polling clients; they share one HTTP transport whose
// connections come from several loopback source addresses. Each client holds one connection
// for its pending GET, and borrows another for a POST (CONNECT, auth, pongs).
type poller struct {
	url string // http://host:port/socket.io/?EIO=4&transport=polling
	hc  *http.Client
}

func newPoller(target string, d *dialer, conns int) *poller {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			src := d.srcs[d.next.Add(1)%uint64(len(d.srcs))]
			nd := net.Dialer{LocalAddr: src, Timeout: handshakeTimeout}
			return nd.DialContext(ctx, network, addr)
		},
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     pollTimeout,
		DisableCompression:  true,
	}
	return &poller{
		url: "http://" + target + "/socket.io/?EIO=4&transport=polling",
		hc:  &http.Client{Transport: tr, Timeout: pollTimeout},
	}
}

// packets splits a v4 polling payload (packets separated by 0x1e).
func packets(body []byte) [][]byte { return bytes.Split(body, []byte{0x1e}) }

func (pl *poller) do(ctx context.Context, method, sid string, body []byte) ([]byte, error) {
	u := pl.url
	if sid != "" {
		u += "&sid=" + sid
	}
	u += "&t=" + strconv.FormatInt(time.Now().UnixNano(), 36)
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	res, err := pl.hc.Do(req)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s: %s", method, u, res.Status, trim(data))
	}
	return data, nil
}

// dial opens a polling session, connects the main namespace and emits auth; a goroutine then
// polls until stop.
func (pl *poller) dial(ctx context.Context, user int64, hash string, onPush func(*client, receipt)) (*client, error) {
	hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	fail := func(what string, err error) (*client, error) {
		return nil, fmt.Errorf("pushbench: polling user %d: %s: %w", user, what, err)
	}
	body, err := pl.do(hctx, http.MethodGet, "", nil)
	if err != nil {
		return fail("handshake", err)
	}
	if len(body) == 0 || body[0] != '0' {
		return fail("handshake", errOr(nil, body))
	}
	var open struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal(packets(body)[0][1:], &open); err != nil || open.SID == "" {
		return fail("open packet", errOr(err, body))
	}
	sid := open.SID
	if _, err := pl.do(hctx, http.MethodPost, sid, []byte("40")); err != nil {
		return fail("CONNECT", err)
	}
	connected := false
	for !connected {
		body, err := pl.do(hctx, http.MethodGet, sid, nil)
		if err != nil {
			return fail("CONNECT reply", err)
		}
		for _, p := range packets(body) {
			switch {
			case bytes.HasPrefix(p, []byte("40")):
				connected = true
			case string(p) == "2":
				if _, err := pl.do(hctx, http.MethodPost, sid, []byte("3")); err != nil {
					return fail("pong", err)
				}
			case bytes.HasPrefix(p, []byte("44")), bytes.HasPrefix(p, []byte("1")):
				return fail("CONNECT reply", errOr(nil, p))
			}
		}
	}
	auth := fmt.Appendf(nil, `42["auth",%d,%s]`, user, strconv.Quote(hash))
	if _, err := pl.do(hctx, http.MethodPost, sid, auth); err != nil {
		return fail("auth", err)
	}
	c := newClient(user)
	lctx, stop := context.WithCancel(context.Background())
	c.stop = stop
	go pl.pollLoop(lctx, c, sid, onPush)
	return c, nil
}

func (pl *poller) pollLoop(ctx context.Context, c *client, sid string, onPush func(*client, receipt)) {
	defer close(c.closed)
	for {
		body, err := pl.do(ctx, http.MethodGet, sid, nil)
		if err != nil {
			c.err = err
			return
		}
		at := time.Now().UnixNano()
		for _, p := range packets(body) {
			switch {
			case string(p) == "2":
				if _, err := pl.do(ctx, http.MethodPost, sid, []byte("3")); err != nil {
					c.err = err
					return
				}
			case bytes.HasPrefix(p, []byte("42")):
				c.pushed(p, at, onPush)
			case bytes.HasPrefix(p, []byte("41")), len(p) > 0 && p[0] == '1':
				c.err = fmt.Errorf("disconnected by the server")
				return
			}
		}
	}
}
