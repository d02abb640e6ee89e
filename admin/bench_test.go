package admin

import (
	"bytes"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/pushinator/pushinator/push"
)

// benchSession takes every delivery and keeps nothing.
type benchSession struct{}

func (benchSession) Deliver(*push.Message) error { return nil }
func (benchSession) Disconnect(string)           {}

// replyRecorder is a ResponseWriter reused across iterations, so that a benchmark counts
// the handler's allocations and not the recorder's.
type replyRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *replyRecorder) Header() http.Header         { return w.header }
func (w *replyRecorder) WriteHeader(status int)      { w.status = status }
func (w *replyRecorder) Write(b []byte) (int, error) { return w.body.Write(b) }

func (w *replyRecorder) reset() {
	clear(w.header)
	w.status = 0
	w.body.Reset()
}

// reusableBody is a request body read again on every iteration.
type reusableBody struct{ bytes.Reader }

func (*reusableBody) Close() error { return nil }

// benchRequest serves one POST with body over and over through the whole admin handler,
// users "0".."users-1" registered with one live session each.
func benchRequest(b *testing.B, path string, users int, body []byte) {
	hub := push.NewHub(push.Options{BufferSize: 100, BufferTTL: time.Minute, RecoveryWindow: time.Minute})
	for i := range users {
		id := strconv.Itoa(i)
		hub.Register(id, "h")
		if _, err := hub.Authenticate(id, "h", benchSession{}, ""); err != nil {
			b.Fatal(err)
		}
	}
	h := New(hub, Options{MaxBodyBytes: 1 << 20})
	rb := &reusableBody{}
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:9600"+path, rb)
	if err != nil {
		b.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	w := &replyRecorder{header: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		rb.Reset(body)
		w.reset()
		h.ServeHTTP(w, req)
	}
	if w.status != http.StatusOK {
		b.Fatalf("status %d: %s", w.status, w.body.Bytes())
	}
}

// BenchmarkSendRequest is the 1:1 hot path: one /user/send to one user with one session.
func BenchmarkSendRequest(b *testing.B) {
	benchRequest(b, "/user/send", 1, []byte(`{"userId":0,"message":{"s":1,"t":1765000000000000000,"p":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}`))
}

// BenchmarkSendMessages100 is one request carrying 100 messages, each to its own user.
func BenchmarkSendMessages100(b *testing.B) {
	var body bytes.Buffer
	body.WriteString(`{"messages":[`)
	for i := range 100 {
		if i > 0 {
			body.WriteByte(',')
		}
		body.WriteString(`{"userId":` + strconv.Itoa(i) + `,"message":{"s":1,"t":1765000000000000000,"p":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}`)
	}
	body.WriteString(`]}`)
	benchRequest(b, "/user/send", 100, body.Bytes())
}

// BenchmarkSendUserIDs100 is one message to 100 users ({"userIds":[...]}).
func BenchmarkSendUserIDs100(b *testing.B) {
	var body bytes.Buffer
	body.WriteString(`{"userIds":[`)
	for i := range 100 {
		if i > 0 {
			body.WriteByte(',')
		}
		body.WriteString(strconv.Itoa(i))
	}
	body.WriteString(`],"message":{"s":1,"t":1765000000000000000,"p":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}`)
	benchRequest(b, "/user/send", 100, body.Bytes())
}
