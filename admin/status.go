package admin

import (
	_ "embed" // the status page is compiled into the binary: one file to deploy
	"net/http"
)

// statusHTML is the status page served at GET /: live figures from /stats, refreshed in place.
// It is a package variable only because go:embed needs one; nothing writes it.
//
//go:embed status.html
var statusHTML []byte

// statusCSP keeps the page self-contained: no other origin, no frames, and fetches only to
// this admin port (its /stats).
const statusCSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; " +
	"connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// isStatusPage tells whether r asks for the status page itself. The page holds no data, so it
// loads without the admin token; the /stats calls it makes carry the token (the page asks for
// it and sends it as a Bearer header), and those are checked like any other admin request.
func isStatusPage(r *http.Request) bool {
	return r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead)
}

// statusPage serves the embedded page; other methods get 405 like every admin path.
func (h *Handler) statusPage(w http.ResponseWriter, r *http.Request) {
	if !isStatusPage(r) {
		w.Header().Set("Allow", "GET, HEAD")
		h.reply(w, r, "/", http.StatusMethodNotAllowed, map[string]any{"error": "Method Not Allowed"})
		return
	}
	h.requests.add("/", http.StatusOK)
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Security-Policy", statusCSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(statusHTML)
	}
}
