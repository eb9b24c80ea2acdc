package api_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/transcept/transcept/shared/cache/mem"
	"github.com/transcept/transcept/shared/catalogue"
)

// TestQuotas: over a limit the answer is 429 with Retry-After and a
// message naming the limit; the counters show in /usage and to the admin.
func TestQuotas(t *testing.T) {
	e := newAuthEnv(t, map[string]string{"TRANSCEPT_QUOTA_UPLOADS": "3", "TRANSCEPT_QUOTA_QA": "2", "TRANSCEPT_QUOTA_JOBS": "0"})
	// newAuthEnv uploaded one lecture as the owner: two uploads are left.
	for i := range 2 {
		if code, _, body := e.call("owner", "POST", "/lectures?name=q.txt", "text/plain", strings.NewReader("Entropy is disorder. Heat flows from hot to cold.")); code != 202 {
			t.Fatalf("upload %d: %d %s", i, code, body)
		}
	}
	req, _ := http.NewRequest("POST", e.srv.URL+"/lectures?name=q.txt", strings.NewReader("One more lecture about entropy."))
	req.Header.Set("Authorization", "Bearer "+e.keys["owner"])
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != 429 || ra < 1 || ra > 3600 {
		t.Fatalf("fourth upload in the hour: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	_, m, _ := e.call("owner", "POST", "/lectures?name=q.txt", "text/plain", strings.NewReader("again"))
	if msg := m["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "uploads per hour") {
		t.Errorf("quota message does not name the limit: %q", msg)
	}
	// The other member has a quota of their own.
	if code, _, body := e.call("other", "POST", "/lectures?name=q.txt", "text/plain", strings.NewReader("Entropy again.")); code != 202 {
		t.Errorf("another member's upload: %d %s", code, body)
	}
	// Questions per minute: racing requests never pass the limit.
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _, _ := e.call("owner", "GET", "/lectures/"+e.lecID+"/qa?q=entropy", "", nil)
			mu.Lock()
			codes[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes[200] != 2 || codes[429] != 6 {
		t.Errorf("8 racing questions with a limit of 2 a minute: %v", codes)
	}
	_, u, _ := e.call("owner", "GET", "/usage", "", nil)
	if u["uploads_this_hour"] != 3.0 || u["questions_this_minute"] != 2.0 {
		t.Errorf("usage: %v", u)
	}
	_, a, body := e.call("admin", "GET", "/admin/users", "", nil)
	if !strings.Contains(body, `"uploads_this_hour":3`) || strings.Contains(body, "entropy") {
		t.Errorf("admin's view of usage: %v", a)
	}
}

// TestDeleteLeavesNothing: deleting a lecture removes its objects,
// artifacts, cached summary, catalogue row and shares; only its owner can.
func TestDeleteLeavesNothing(t *testing.T) {
	root := t.TempDir()
	e := newAuthEnv(t, map[string]string{"TRANSCEPT_STORE_DIR": root})
	id := e.lecID
	if code, _, _ := e.call("owner", "POST", "/lectures/"+id+"/shares", "", nil); code != 201 {
		t.Fatalf("share: %d", code)
	}
	if code, _, _ := e.call("other", "DELETE", "/lectures/"+id, "", nil); code != 404 {
		t.Errorf("another member deleting: %d, want 404", code)
	}
	var before []string
	_ = filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && strings.Contains(p, id) {
			before = append(before, p)
		}
		return nil
	})
	if len(before) < 5 {
		t.Fatalf("expected the lecture's files before deleting, got %v", before)
	}
	cacheBefore := e.s.Service.Cache.(*mem.Cache).Len()
	if code, _, body := e.call("owner", "DELETE", "/lectures/"+id, "", nil); code != 204 {
		t.Fatalf("delete: %d %s", code, body)
	}
	var after []string
	_ = filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.Contains(p, id) {
			after = append(after, p)
		}
		return nil
	})
	if len(after) != 0 {
		t.Errorf("left behind: %v", after)
	}
	ctx := context.Background()
	if _, err := e.cat.GetLecture(ctx, id); err == nil {
		t.Error("catalogue row left behind")
	}
	if sh, _ := e.cat.ListShares(ctx, id); len(sh) != 0 {
		t.Errorf("shares left behind: %v", sh)
	}
	if code, _, _ := e.call("owner", "GET", "/lectures/"+id, "", nil); code != 404 {
		t.Errorf("deleted lecture: %d", code)
	}
	if code, _, _ := e.call("share", "GET", "/lectures/"+id, "", nil); code != 401 {
		t.Errorf("share link of a deleted lecture: %d, want 401", code)
	}
	// The cache held its summary and the records naming it as the holder
	// of each stage's result: all gone (it was the only lecture).
	if mc, ok := e.s.Service.Cache.(*mem.Cache); !ok || cacheBefore < 3 || mc.Len() != 0 {
		t.Errorf("cache entries: %d before, %d after the delete, want 0 after", cacheBefore, mc.Len())
	}
	es, _ := e.cat.ListAudit(ctx, catalogue.AuditQuery{Action: "lecture.delete"})
	if len(es) != 1 || es[0].Target != id || es[0].Actor != "u-owner" {
		t.Errorf("audit: %+v", es)
	}
}

// TestHostileCredentials: malformed, truncated, cross-user and
// query-string credentials are refused.
func TestHostileCredentials(t *testing.T) {
	e := newAuthEnv(t, nil)
	key := e.keys["owner"]
	get := func(header, query string) int {
		req, _ := http.NewRequest("GET", e.srv.URL+"/lectures/"+e.lecID+query, nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, h := range []string{"Bearer " + key[:len(key)-1], "Bearer " + key + "x", "Basic " + key, "Bearer", "Bearer  ", key, "Bearer " + strings.ToUpper(key),
		"Bearer " + key + " " + key, "Bearer tk_" + strings.Repeat("A", 43), "Bearer \t" + key, "Bearer " + strings.Repeat("a", 1<<14)} {
		if c := get(h, ""); c != 401 {
			t.Errorf("Authorization %.40q: %d, want 401", h, c)
		}
	}
	for _, q := range []string{"?token=" + key, "?access_token=" + key, "?api_key=" + key, "?share=" + key, "?share=" + e.shares["share"][:10]} {
		if c := get("", q); c != 401 {
			t.Errorf("credential in the query %.30q: %d, want 401", q, c)
		}
	}
	if c := get("Bearer "+e.keys["other"], ""); c != 404 {
		t.Errorf("another user's key: %d, want 404", c)
	}
	if c := get("Bearer "+key, ""); c != 200 {
		t.Errorf("the owner's key: %d", c)
	}
	// A share link opens one lecture only.
	otherLec := e.upload("owner")
	if c := get("", "?share="+e.shares["share"]); c != 200 {
		t.Errorf("share link on its lecture: %d", c)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/lectures/"+otherLec+"?share="+e.shares["share"], nil)
	resp, _ := http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("share link on another lecture of the same owner: %d, want 404", resp.StatusCode)
	}
}

// TestMetricsAndCORS: with sign-in on, /metrics is not on the main
// address; CORS answers only the allowed origins, never with credentials.
func TestMetricsAndCORS(t *testing.T) {
	e := newAuthEnv(t, map[string]string{"TRANSCEPT_CORS_ORIGINS": "https://app.example.edu"})
	if code, _, _ := e.call("admin", "GET", "/metrics", "", nil); code != 404 {
		t.Errorf("/metrics on the main address with sign-in on: %d", code)
	}
	pre := func(origin string) *http.Response {
		req, _ := http.NewRequest("OPTIONS", e.srv.URL+"/lectures", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "GET")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := pre("https://app.example.edu"); r.StatusCode != 204 || r.Header.Get("Access-Control-Allow-Origin") != "https://app.example.edu" || r.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("allowed origin preflight: %d %v", r.StatusCode, r.Header)
	}
	if r := pre("https://evil.example"); r.StatusCode != 403 || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin preflight: %d %v", r.StatusCode, r.Header)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/lectures", nil)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Authorization", "Bearer "+e.keys["owner"])
	resp, _ := http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("a disallowed origin got CORS headers")
	}
}

// TestSecureCookieBehindTLS: the session cookie is Secure when the request
// came over TLS at the proxy in front, and not on plain HTTP.
func TestSecureCookieBehindTLS(t *testing.T) {
	e := newAuthEnv(t, nil)
	for proto, want := range map[string]bool{"": false, "https": true} {
		req, _ := http.NewRequest("POST", e.srv.URL+"/auth/signin", strings.NewReader(`{"email":"owner@example.edu","password":"correct horse owner"}`))
		req.Header.Set("Content-Type", "application/json")
		if proto != "" {
			req.Header.Set("X-Forwarded-Proto", proto)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cs := resp.Cookies()
		if resp.StatusCode != 200 || len(cs) != 1 || cs[0].Secure != want {
			t.Errorf("X-Forwarded-Proto %q: %d, cookies %+v, want Secure=%v", proto, resp.StatusCode, cs, want)
		}
	}
}
