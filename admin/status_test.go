package admin

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func getPage(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(data)
}

// The page is self-contained: no script, style, image or font from anywhere else, and the
// Content-Security-Policy makes the browser refuse one should it creep in.
func TestStatusPageSelfContained(t *testing.T) {
	srv, _ := newTestServer(t, Options{})
	resp, body := getPage(t, srv.URL+"/")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /: %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if !strings.Contains(body, "<title>pushinator status</title>") || !strings.Contains(body, "fetch('stats'") {
		t.Errorf("not the status page:\n%.300s", body)
	}
	external := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?\s*(https?:)?//|@import|url\(`)
	if m := external.FindString(body); m != "" {
		t.Errorf("the page loads something from elsewhere: %q", m)
	}
}

func TestStatusPageRouting(t *testing.T) {
	srv, _ := newTestServer(t, Options{})
	if status, out := call(t, srv, "POST", "/", "{}"); status != 405 || out["error"] != "Method Not Allowed" {
		t.Errorf("POST /: %d %v, want 405", status, out)
	}
	// "/" must not swallow unknown paths.
	if status, _ := call(t, srv, "GET", "/nope", ""); status != 404 {
		t.Errorf("GET /nope: %d, want 404", status)
	}
	if resp, body := getPage(t, srv.URL+"/"); resp.StatusCode != 200 || len(body) == 0 {
		t.Errorf("GET /: %d, %d bytes", resp.StatusCode, len(body))
	}
	_, metrics := getPage(t, srv.URL+"/metrics")
	if !strings.Contains(metrics, `pushinator_admin_requests_total{path="/",code="200"} 1`) {
		t.Errorf("the page view is not counted:\n%s", metrics)
	}
}

// With admin.token set the page loads (it holds no data) but its figures need the token.
func TestStatusPageToken(t *testing.T) {
	srv, _ := newTestServer(t, Options{Token: "s3cret"})
	if resp, body := getPage(t, srv.URL+"/"); resp.StatusCode != 200 || !strings.Contains(body, "Authorization") {
		t.Fatalf("GET / with a token configured: %d", resp.StatusCode)
	}
	if status, _ := call(t, srv, "GET", "/stats", ""); status != 401 {
		t.Errorf("GET /stats without the token: %d, want 401", status)
	}
	if status, _ := call(t, srv, "GET", "/stats", "", "Authorization", "Bearer s3cret"); status != 200 {
		t.Errorf("GET /stats with the token: %d, want 200", status)
	}
	if status, _ := call(t, srv, "POST", "/", ""); status != 401 {
		t.Errorf("POST / without the token: %d, want 401", status)
	}
	if status, _ := call(t, srv, "GET", "/index.html", ""); status != 401 {
		t.Errorf("GET /index.html without the token: %d, want 401", status)
	}
}
