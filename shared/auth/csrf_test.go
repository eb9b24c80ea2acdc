package auth

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/catalogue"
)

func TestCheckCSRF(t *testing.T) {
	_, s := NewSession("u1", "", time.Hour, t0)
	u := catalogue.User{ID: "u1"}
	p := Principal{User: &u, Via: ViaSession, Session: &s}
	ok := func(r *http.Request, allowed ...string) {
		t.Helper()
		if err := CheckCSRF(r, p, allowed...); err != nil {
			t.Errorf("%s %s %v: %v", r.Method, r.URL, r.Header, err)
		}
	}
	bad := func(r *http.Request, msg string, allowed ...string) {
		t.Helper()
		err := CheckCSRF(r, p, allowed...)
		if err == nil {
			t.Errorf("%s %s %v: passed", r.Method, r.URL, r.Header)
			return
		}
		wantCode(t, err, EFORBIDDEN, msg)
	}
	for _, m := range []string{"GET", "HEAD", "OPTIONS"} {
		ok(request(m, "/x"))
	}
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		ok(request(m, "http://app.example.org/x", CSRFHeader, s.CSRF))
		ok(request(m, "http://app.example.org/x", CSRFHeader, s.CSRF, "Origin", "https://app.example.org"))
		bad(request(m, "/x"), "missing")
		bad(request(m, "/x", CSRFHeader, s.CSRF[:42]), "wrong CSRF")
		bad(request(m, "/x", CSRFHeader, s.CSRF+"A"), "wrong CSRF")
		bad(request(m, "/x", CSRFHeader, "x"), "wrong CSRF")
	}
	// Never from the query string.
	for _, q := range []string{"csrf_token", "token", "X-CSRF-Token", "_csrf"} {
		bad(request("POST", "/x?"+q+"="+s.CSRF), "missing")
		form := httptest.NewRequest("POST", "/x?"+q+"="+s.CSRF, strings.NewReader("a=b"))
		form.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		bad(form, "missing")
	}
	// From a url-encoded form body.
	form := func(ct, body string) *http.Request {
		r := httptest.NewRequest("POST", "http://app.example.org/x", strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
		return r
	}
	ok(form("application/x-www-form-urlencoded", "title=x&csrf_token="+url.QueryEscape(s.CSRF)))
	ok(form("application/x-www-form-urlencoded; charset=utf-8", "csrf_token="+url.QueryEscape(s.CSRF)))
	bad(form("application/x-www-form-urlencoded", "csrf_token="+s.CSRF+"&csrf_token="+s.CSRF), "missing")
	bad(form("text/plain", "csrf_token="+s.CSRF), "missing")
	bad(form("multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n"+s.CSRF+"\r\n--x--\r\n"), "missing")
	// Origin.
	bad(request("POST", "http://app.example.org/x", CSRFHeader, s.CSRF, "Origin", "https://evil.example"), "another site")
	bad(request("POST", "http://app.example.org/x", CSRFHeader, s.CSRF, "Origin", "null"), "another site")
	bad(request("POST", "http://app.example.org/x", CSRFHeader, s.CSRF, "Origin", "https://app.example.org.evil.example"), "another site")
	bad(request("POST", "http://app.example.org/x", CSRFHeader, s.CSRF, "Origin", "https://user@app.example.org"), "another site")
	bad(request("POST", "http://app.example.org/x", CSRFHeader, s.CSRF, "Origin", "https://app.example.org", "Origin", "https://evil.example"), "another site")
	ok(request("POST", "http://api.example.org/x", CSRFHeader, s.CSRF, "Origin", "https://app.example.org"), "https://app.example.org")
	bad(request("POST", "http://api.example.org/x", CSRFHeader, s.CSRF, "Origin", "https://evil.example"), "another site", "https://app.example.org")
	bad(request("POST", "http://app.example.org/x", CSRFHeader, s.CSRF, "Sec-Fetch-Site", "cross-site"), "cross-site")
	ok(request("POST", "http://app.example.org/x", CSRFHeader, s.CSRF, "Sec-Fetch-Site", "same-origin"))

	// Principals without an ambient credential are exempt.
	for _, q := range []Principal{{User: &u, Via: ViaKey}, Anonymous(), Local(), {Via: ViaShare, ShareLectureID: "l"}} {
		if err := CheckCSRF(request("POST", "/x", "Origin", "https://evil.example"), q); err != nil {
			t.Errorf("%s: %v", q.Via, err)
		}
	}
	// A session without CSRF token fails closed.
	empty := Principal{User: &u, Via: ViaSession, Session: &catalogue.Session{ID: "x"}}
	wantCode(t, CheckCSRF(request("POST", "/x", CSRFHeader, ""), empty), EFORBIDDEN, "")
	wantCode(t, CheckCSRF(request("POST", "/x"), Principal{User: &u, Via: ViaSession}), EFORBIDDEN, "")
}
