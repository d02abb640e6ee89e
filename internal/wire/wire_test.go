package wire

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := NewID()
		if len(id) != 20 || seen[id] || strings.ContainsAny(id, "+/=") {
			t.Fatalf("id %q", id)
		}
		seen[id] = true
	}
}

func TestCORS(t *testing.T) {
	for _, tt := range []struct {
		name    string
		origins Origins
		origin  string
		want    string // Access-Control-Allow-Origin
	}{
		{"allowed", Origins{"http://good.example"}, "http://good.example", "http://good.example"},
		{"another", Origins{"http://good.example"}, "http://evil.example", ""},
		{"any", Origins{"*"}, "http://x.example", "http://x.example"},
		{"none configured", nil, "http://x.example", ""},
		{"no Origin", Origins{"*"}, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.origins.Allowed(tt.origin); got != (tt.want != "") && tt.origin != "" {
				t.Errorf("Allowed(%q) = %v", tt.origin, got)
			}
			r := httptest.NewRequest("GET", "/", nil)
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			w := httptest.NewRecorder()
			tt.origins.SetCORS(w, r)
			h := w.Header()
			if h.Get("Access-Control-Allow-Origin") != tt.want {
				t.Errorf("Allow-Origin = %q, want %q", h.Get("Access-Control-Allow-Origin"), tt.want)
			}
			wantCred, wantVary := "", ""
			if tt.want != "" {
				wantCred, wantVary = "true", "Origin"
			}
			if h.Get("Access-Control-Allow-Credentials") != wantCred || h.Get("Vary") != wantVary {
				t.Errorf("headers %v", h)
			}
		})
	}
}

func TestPreflight(t *testing.T) {
	r := httptest.NewRequest("OPTIONS", "/", nil)
	r.Header.Set("Origin", "http://good.example")
	r.Header.Set("Access-Control-Request-Headers", "content-type")
	w := httptest.NewRecorder()
	Origins{"http://good.example"}.Preflight(w, r, "GET, POST")
	h := w.Result().Header
	if w.Code != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "http://good.example" ||
		h.Get("Access-Control-Allow-Methods") != "GET, POST" || h.Get("Access-Control-Allow-Headers") != "content-type" ||
		h.Get("Content-Length") != "0" || w.Body.Len() != 0 {
		t.Errorf("preflight: %d %v %q", w.Code, h, w.Body)
	}
	// Another origin still gets its answer, without CORS headers.
	r.Header.Set("Origin", "http://evil.example")
	w = httptest.NewRecorder()
	Origins{"http://good.example"}.Preflight(w, r, "GET")
	if w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin: %d %v", w.Code, w.Header())
	}
}

func TestWritePoll(t *testing.T) {
	w := httptest.NewRecorder()
	w.Header().Set("X-Extra", "kept")
	if err := WritePoll(w, "text/plain; charset=UTF-8", []byte("héllo"), time.Second); err != nil {
		t.Fatal(err)
	}
	h := w.Result().Header
	if w.Code != 200 || w.Body.String() != "héllo" || !w.Flushed ||
		h.Get("Content-Type") != "text/plain; charset=UTF-8" || h.Get("Content-Length") != "6" ||
		h.Get("Cache-Control") != "no-store" || h.Get("X-Extra") != "kept" {
		t.Errorf("response: %d %q %v flushed=%v", w.Code, w.Body, h, w.Flushed)
	}
}

func TestUTF16(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
	}{
		{"", 0},
		{"abc", 3},
		{"héllo", 5},
		{"€", 1},
		{"😀", 2},        // a surrogate pair in JavaScript
		{"a😀b", 4},      //
		{"\xff\xfe", 2}, // each invalid byte reaches the client as one U+FFFD
	} {
		if got := UTF16Len([]byte(tt.in)); got != tt.want {
			t.Errorf("UTF16Len(%q) = %d, want %d", tt.in, got, tt.want)
		}
		if end, units := UTF16Cut([]byte(tt.in), tt.want); end != len(tt.in) || units != tt.want {
			t.Errorf("UTF16Cut(%q, %d) = %d, %d; want all of it", tt.in, tt.want, end, units)
		}
	}
	for _, tt := range []struct {
		in         string
		n          int
		end, units int
	}{
		{"abc", 2, 2, 2},
		{"abc", 5, 3, 3}, // shorter
		{"a😀b", 2, 5, 3}, // the cut splits the pair
		{"a😀b", 3, 5, 3},
		{"é€x", 2, 5, 2},
	} {
		if end, units := UTF16Cut([]byte(tt.in), tt.n); end != tt.end || units != tt.units {
			t.Errorf("UTF16Cut(%q, %d) = %d, %d; want %d, %d", tt.in, tt.n, end, units, tt.end, tt.units)
		}
	}
}

// FuzzUTF16: the counts agree with what JavaScript would see (Go's
// UTF-16 encoding of the same text, invalid bytes as U+FFFD).
func FuzzUTF16(f *testing.F) {
	for _, s := range []string{"", "abc", "a😀b", "\xff\xfe", "\xf0\x9f\x98", "é€"} {
		f.Add([]byte(s), 1)
	}
	f.Fuzz(func(t *testing.T, s []byte, n int) {
		want := len(utf16.Encode([]rune(string(s))))
		if got := UTF16Len(s); got != want {
			t.Fatalf("UTF16Len(%q) = %d, want %d", s, got, want)
		}
		if n < 0 || n > len(s)*2+2 {
			return
		}
		end, units := UTF16Cut(s, n)
		if end > len(s) || units > n+1 || (units < n && end != len(s)) {
			t.Fatalf("UTF16Cut(%q, %d) = %d, %d", s, n, end, units)
		}
		if units <= n && UTF16Len(s[:end]) != units {
			t.Fatalf("UTF16Cut(%q, %d) = %d, %d; the prefix counts %d", s, n, end, units, UTF16Len(s[:end]))
		}
	})
}

func TestAppendJSString(t *testing.T) {
	for _, tt := range []struct {
		in         string
		escapeHTML bool
		want       string
	}{
		{"a\"b\\c\n\r\t\x01", false, `"a\"b\\c\n\r\t\u0001"`},
		{"\u2028\u2029é😀", false, `"\u2028\u2029é😀"`},
		{"\xff", false, `"\ufffd"`},
		{"</script>&", false, `"</script>&"`},
		{"</script>&", true, `"\u003c/script\u003e\u0026"`},
	} {
		if got := string(AppendJSString(nil, []byte(tt.in), tt.escapeHTML)); got != tt.want {
			t.Errorf("AppendJSString(%q, %v) = %s, want %s", tt.in, tt.escapeHTML, got, tt.want)
		}
	}
}

// FuzzJSString: the literal is one JSON (so JavaScript) string holding
// the text, invalid bytes as U+FFFD, with no raw line terminator and, when
// asked, no < > &.
func FuzzJSString(f *testing.F) {
	for _, s := range []string{"a\"b\\c\n", "\u2028\u2029", "\xff\xfe", "😀", "</script>&"} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, escapeHTML bool) {
		out := AppendJSString(nil, b, escapeHTML)
		if !utf8.Valid(out) {
			t.Fatalf("invalid UTF-8 in %q", out)
		}
		var got string
		if err := json.Unmarshal(out, &got); err != nil || got != string([]rune(string(b))) {
			t.Fatalf("%q reads as %q, %v", out, got, err)
		}
		inner := string(out[1 : len(out)-1])
		for _, c := range inner {
			if c < 0x20 || c == 0x2028 || c == 0x2029 || (escapeHTML && strings.ContainsRune("<>&", c)) {
				t.Fatalf("%q left in %q", c, out)
			}
		}
	})
}

func TestReadBody(t *testing.T) {
	for _, tt := range []struct {
		name    string
		body    string
		length  int64 // Content-Length as announced; -1 unknown
		want    string
		tooBig  bool
		failure bool
	}{
		{"fits", "12345", 5, "12345", false, false},
		{"at the limit, unannounced", "1234567890", -1, "1234567890", false, false},
		{"announced too large", "x", 11, "", true, false},
		{"found too large", "12345678901", -1, "", true, false},
		{"broken", "", -1, "", false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(tt.body)
			if tt.failure {
				body = iotest.ErrReader(errors.New("connection reset"))
			}
			r := httptest.NewRequest("POST", "/", body)
			r.ContentLength = tt.length
			got, err := ReadBody(httptest.NewRecorder(), r, 10, time.Second)
			switch {
			case tt.tooBig:
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("err = %v, want ErrTooLarge", err)
				}
			case tt.failure:
				if err == nil || errors.Is(err, ErrTooLarge) {
					t.Fatalf("err = %v, want a read error", err)
				}
			case err != nil || string(got) != tt.want:
				t.Fatalf("ReadBody = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
