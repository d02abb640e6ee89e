package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pushinator/pushinator/push"
)

// downService is an engine whose shared store is out of reach: every call that needs it fails.
type downService struct{ *push.Hub }

var errDown = fmt.Errorf("redisengine: send: redis 127.0.0.1:6379: %w", push.ErrUnavailable)

func (downService) Register(string, string) error            { return errDown }
func (downService) Unregister(string) (bool, error)          { return false, errDown }
func (downService) Users() ([]string, error)                 { return nil, errDown }
func (downService) DisconnectUser(string) (int, bool, error) { return 0, false, errDown }
func (downService) Send([]string, string, json.RawMessage) (push.SendResult, error) {
	return push.SendResult{}, errDown
}
func (downService) Broadcast(string, json.RawMessage) (int, error) { return 0, errDown }
func (d downService) Stats() push.Stats {
	st := d.Hub.Stats()
	st.Scope = "node"
	return st
}

// TestUnavailableStore: when a cluster engine's store is out of reach, calls that need it
// answer 503 with an error saying so — never "OK" for a message that went nowhere — and stats
// say they are the node's own.
func TestUnavailableStore(t *testing.T) {
	hub := push.NewHub(push.Options{BufferSize: 10, BufferTTL: time.Minute})
	srv := httptest.NewServer(New(downService{hub}, Options{MaxBodyBytes: 1 << 10, Node: "n1"}))
	t.Cleanup(srv.Close)
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/user/register", `{"userId":1,"hash":"h"}`},
		{"POST", "/user/send", `{"userId":1,"message":"m"}`},
		{"POST", "/broadcast", `{"message":"m"}`},
		{"GET", "/user/list", ``},
		{"POST", "/user/unregister", `{"userId":1}`},
		{"POST", "/user/disconnect", `{"userId":1}`},
	} {
		status, out := call(t, srv, tc.method, tc.path, tc.body)
		if status != http.StatusServiceUnavailable || out["result"] != nil || !strings.Contains(fmt.Sprint(out["error"]), "unavailable") {
			t.Errorf("%s %s: %d %v, want 503 with the reason", tc.method, tc.path, status, out)
		}
	}
	if status, out := call(t, srv, "GET", "/stats", ""); status != 200 || out["scope"] != "node" || out["node"] != "n1" {
		t.Errorf("/stats: %d %v, want the node's own figures", status, out)
	}
	if status, _ := call(t, srv, "GET", "/health", ""); status != 200 {
		t.Errorf("/health: %d: the node itself is up", status)
	}
}

// refusingService's store refuses registrations: one userId it cannot store, anything else
// with an error of its own.
type refusingService struct{ *push.Hub }

func (refusingService) Register(userID, _ string) error {
	if userID == "8:log" {
		return push.ErrReservedUserID
	}
	return fmt.Errorf("redisengine: register: WRONGTYPE Operation against a key holding the wrong kind of value")
}

// TestRegisterErrors: a userId the engine cannot store is the caller's mistake (400, saying
// why); a store's own failure is a 500 that does not show its text.
func TestRegisterErrors(t *testing.T) {
	hub := push.NewHub(push.Options{BufferSize: 10, BufferTTL: time.Minute})
	srv := httptest.NewServer(New(refusingService{hub}, Options{MaxBodyBytes: 1 << 10}))
	t.Cleanup(srv.Close)
	status, out := call(t, srv, "POST", "/user/register", `{"userId":"8:log","hash":"h"}`)
	if status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["error"]), `":log"`) {
		t.Errorf("reserved userId: %d %v, want 400 naming the reason", status, out)
	}
	status, out = call(t, srv, "POST", "/user/register", `{"userId":"9","hash":"h"}`)
	if status != http.StatusInternalServerError || strings.Contains(fmt.Sprint(out["error"]), "WRONGTYPE") {
		t.Errorf("store failure: %d %v, want 500 without the store's text", status, out)
	}
}
