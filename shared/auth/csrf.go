package auth

import (
	"crypto/subtle"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// CSRFHeader and CSRFField carry a session's CSRF token on writes.
const (
	CSRFHeader = "X-CSRF-Token"
	CSRFField  = "csrf_token"
)

// maxCSRFForm bounds the url-encoded body read to find CSRFField.
const maxCSRFForm = 1 << 20

// CheckCSRF guards state-changing requests that a browser could send with
// its cookie on another site's behalf. For a session Principal and any
// method but GET, HEAD, OPTIONS and TRACE it requires:
//
//   - the session's CSRF token in the X-CSRF-Token header, or in the
//     csrf_token field of an application/x-www-form-urlencoded body (never
//     the query string; multipart bodies are not read: send the header);
//   - an Origin header, when present, naming the request's own host or
//     one of allowed (e.g. "https://app.example.org"; "null" never passes);
//   - no "Sec-Fetch-Site: cross-site".
//
// Other principals (API keys, shares, anonymous, local) carry no ambient
// credential and pass. Failures are EFORBIDDEN.
func CheckCSRF(r *http.Request, p Principal, allowed ...string) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return nil
	}
	if p.Via != ViaSession {
		return nil
	}
	if p.Session == nil || len(p.Session.CSRF) < 16 {
		return forbidden("CSRF check failed: the session has no CSRF token; sign in again")
	}
	if origin := r.Header.Values("Origin"); len(origin) > 0 {
		if len(origin) > 1 || !originAllowed(origin[0], r.Host, allowed) {
			return forbidden("CSRF check failed: request from another site (Origin %.100q)", origin[0])
		}
	}
	if strings.EqualFold(r.Header.Get("Sec-Fetch-Site"), "cross-site") {
		return forbidden("CSRF check failed: cross-site request")
	}
	got := r.Header.Get(CSRFHeader)
	if got == "" {
		got = formCSRF(r)
	}
	if got == "" {
		return forbidden("CSRF check failed: missing %s header", CSRFHeader)
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(p.Session.CSRF)) != 1 {
		return forbidden("CSRF check failed: wrong CSRF token; reload the page")
	}
	return nil
}

// formCSRF returns the csrf_token field of a url-encoded body, "" for
// other bodies. It reads only the body (r.PostForm), never the URL.
func formCSRF(r *http.Request) string {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" || r.Body == nil {
		return ""
	}
	if r.PostForm == nil {
		r.Body = http.MaxBytesReader(nil, r.Body, maxCSRFForm)
		if err := r.ParseForm(); err != nil {
			return ""
		}
	}
	if vs := r.PostForm[CSRFField]; len(vs) == 1 {
		return vs[0]
	}
	return ""
}

// originAllowed reports whether an Origin header value names host (the
// request's Host) or one of allowed.
func originAllowed(origin, host string, allowed []string) bool {
	if origin == "" || origin == "null" {
		return false
	}
	for _, a := range allowed {
		if a != "" && strings.EqualFold(strings.TrimRight(a, "/"), origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	return host != "" && strings.EqualFold(u.Host, host)
}
