package state

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushinator/pushinator/push"
)

type nopSession struct{ got []string }

func (s *nopSession) Deliver(m *push.Message) error {
	s.got = append(s.got, string(m.Data))
	return nil
}
func (s *nopSession) Disconnect(string) {}

func newHub() *push.Hub {
	return push.NewHub(push.Options{BufferSize: 10, BufferBytes: 1 << 20, BufferTTL: time.Hour, RecoveryWindow: time.Hour})
}

// TestRoundTrip: registrations, kept messages and resumable sessions survive a save and load.
func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	h := newHub()
	h.Register("5", "secret-hash")
	h.Register("6", "other")
	h.Send([]string{"5"}, "message", json.RawMessage(`"kept"`))
	live := &nopSession{}
	h.Authenticate("6", "other", live, "pid-6")
	h.Send([]string{"6"}, "news", json.RawMessage(`{"a":1}`))
	if err := Save(path, h.Snapshot()); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "secret-hash") {
		t.Fatal("the state file holds a hash in clear")
	}
	snap, err := Load(path)
	if err != nil || snap == nil {
		t.Fatalf("load: %v %v", snap, err)
	}
	h2 := newHub()
	if err := h2.Restore(*snap); err != nil {
		t.Fatal(err)
	}
	if got, _ := h2.Users(); len(got) != 2 {
		t.Fatalf("users %v", got)
	}
	s := &nopSession{}
	if _, err := h2.Authenticate("5", "secret-hash", s, ""); err != nil {
		t.Fatal(err)
	}
	if len(s.got) != 1 || s.got[0] != `"kept"` {
		t.Fatalf("kept message after restore: %v", s.got)
	}
	// User 6's live session may resume on the restored hub: it gets the message it was sent,
	// since it names no offset (it received nothing).
	r := &nopSession{}
	if _, err := h2.Resume("pid-6", "", "", r); err != nil {
		t.Fatalf("resume after restore: %v", err)
	}
	if len(r.got) != 1 || r.got[0] != `{"a":1}` {
		t.Fatalf("resumed with %v", r.got)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if snap, err := Load(filepath.Join(dir, "missing.json")); snap != nil || err != nil {
		t.Fatalf("a missing file is a first start: %v %v", snap, err)
	}
	for name, content := range map[string]string{
		"torn":    `{"format":"pushinator-state","version":1,"state":{"seq":3,"us`,
		"garbage": "\x00\x01hello",
		"other":   `{"format":"something-else","version":1}`,
		"future":  `{"format":"pushinator-state","version":99}`,
	} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(content), 0o600)
		if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: err %v, want an error naming the file", name, err)
		}
	}
	bad := filepath.Join(dir, "badhash")
	os.WriteFile(bad, []byte(`{"format":"pushinator-state","version":1,"state":{"seq":1,"users":[{"id":"5","hashSha256":"AAAA"}]}}`), 0o600)
	snap, err := Load(bad)
	if err != nil {
		t.Fatal(err)
	}
	if err := newHub().Restore(*snap); err == nil {
		t.Fatal("a digest of the wrong size was restored")
	}
}

// TestSaverWritesChangesAndLastState: the saver writes after a change and once more at the end.
func TestSaverWritesChangesAndLastState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	h := newHub()
	s := &Saver{Path: path, Hub: h, Interval: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	h.Register("1", "h")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if snap, _ := Load(path); snap != nil && len(snap.Users) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the saver did not write the change")
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.Register("2", "h")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if snap, _ := Load(path); snap == nil || len(snap.Users) != 2 {
		t.Fatalf("the last state was not saved: %+v", snap)
	}
	// No temporary files are left behind.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("files left: %v", entries)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(`{"format":"pushinator-state","version":1,"state":{"seq":5,"users":[{"id":"5","hashSha256":"` +
		strings.Repeat("A", 43) + `=","messages":[{"seq":2,"event":"message","data":"x"}]}],"resumable":[{"pid":"p","userId":"5","offset":1}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "s")
		os.WriteFile(path, data, 0o600)
		snap, err := Load(path)
		if err != nil || snap == nil {
			return
		}
		newHub().Restore(*snap) // must not panic, whatever it says
	})
}
