package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// adminClient speaks the admin API that pushinator and the Node anchor share: register, send
// (and pushinator's userIds and /broadcast). It keeps up to conns keep-alive connections.
type adminClient struct {
	base string
	hc   *http.Client
}

// adminReply is the part of an admin reply the bench reads.
type adminReply struct {
	Status    int    `json:"status"`
	Delivered int    `json:"delivered"`
	Error     string `json:"error"`
}

func newAdminClient(addr string, conns int) *adminClient {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &adminClient{base: "http://" + addr, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// post sends body to path and decodes the reply; a non-200 status is an error.
func (a *adminClient) post(ctx context.Context, path string, body []byte) (adminReply, error) {
	var rep adminReply
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+path, bytes.NewReader(body))
	if err != nil {
		return rep, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := a.hc.Do(req)
	if err != nil {
		return rep, fmt.Errorf("pushbench: admin %s: %w", path, err)
	}
	data, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return rep, fmt.Errorf("pushbench: admin %s: reading the reply: %w", path, err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		return rep, fmt.Errorf("pushbench: admin %s: reply %q: %w", path, trim(data), err)
	}
	if res.StatusCode != http.StatusOK {
		return rep, fmt.Errorf("pushbench: admin %s: %s: %s", path, res.Status, trim(data))
	}
	return rep, nil
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

func (a *adminClient) broadcast(ctx context.Context, msg []byte) (adminReply, error) {
	body := append(append([]byte(`{"message":`), msg...), '}')
	return a.post(ctx, "/broadcast", body)
}
