package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transcept/transcept/functions/wire"
	"github.com/transcept/transcept/shared/api"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/eventing"
	"github.com/transcept/transcept/shared/lecture"
)

type env struct {
	t    *testing.T
	srv  *httptest.Server
	root string
	s    *wire.Suite
}

func newEnv(t *testing.T, settings map[string]string) *env {
	t.Helper()
	s, bus, root := newSuite(t, settings)
	h := &api.Server{Svc: s.Service, Publish: bus.Publish, Metrics: s.Metrics, Log: s.Log, MaxBody: s.Config.MaxUploadBytes,
		Ready: func() error { return s.Ready(context.Background()) }}
	srv := httptest.NewServer(h.Handler())
	t.Cleanup(func() { srv.Close(); s.Close() })
	return &env{t: t, srv: srv, root: root, s: s}
}

// newSuite wires a suite over a fresh store folder (1 MiB upload limit)
// with the settings, and starts its broker with fast retries.
func newSuite(t *testing.T, settings map[string]string) (*wire.Suite, *eventing.Bus[lecture.Event], string) {
	t.Helper()
	root := t.TempDir()
	m := map[string]string{"TRANSCEPT_STORE_DIR": root, "TRANSCEPT_MAX_UPLOAD_BYTES": "1048576"}
	for k, v := range settings {
		m[k] = v
	}
	c, err := config.FromMap(m)
	if err != nil {
		t.Fatal(err)
	}
	s, err := wire.New(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	bus := s.StartBus()
	bus.Backoff = time.Millisecond
	return s, bus, root
}

func (e *env) do(method, path, ctype string, body io.Reader) (int, map[string]any, string) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, body)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m, string(b)
}

func (e *env) postJSON(path string, v any) (int, map[string]any, string) {
	b, _ := json.Marshal(v)
	return e.do("POST", path, "application/json", bytes.NewReader(b))
}

// files lists every file under the store root.
func (e *env) files() []string {
	var out []string
	_ = filepath.WalkDir(e.root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.Contains(p, "/_probe/") && !strings.HasPrefix(d.Name(), "catalogue.db") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

const lectureSRT = `1
00:00:01,000 --> 00:00:06,000
Today we study entropy and the second law of thermodynamics.

2
00:00:06,000 --> 00:00:12,000
Um, the second law says that the entropy of an isolated system never decreases.

3
00:00:12,000 --> 00:00:20,000
A heat engine converts heat into work, but it can never be perfectly efficient.

4
00:00:20,000 --> 00:00:30,000
The Carnot efficiency depends only on the temperatures of the hot and cold reservoirs.

5
00:00:30,000 --> 00:00:40,000
Living systems keep their order by exporting entropy to their surroundings.
`

func TestSummarize(t *testing.T) {
	e := newEnv(t, nil)
	code, m, body := e.postJSON("/summarize", map[string]any{"text": lectureSRT, "max_words": 30})
	if code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	bullets := m["bullets"].([]any)
	if len(bullets) == 0 || m["summary"] == "" || m["engine"] != "extractive" || m["cached"] != false {
		t.Fatalf("unexpected response %s", body)
	}
	if !strings.Contains(m["markdown"].(string), "- [00:") {
		t.Errorf("markdown bullets lack [mm:ss] labels: %q", m["markdown"])
	}
	// Identical request: served from the cache.
	_, m2, _ := e.postJSON("/summarize", map[string]any{"text": lectureSRT, "max_words": 30})
	if m2["cached"] != true || m2["summary"] != m["summary"] {
		t.Errorf("second identical request not cached: %v", m2)
	}
	// text/plain works too.
	code, m, _ = e.do("POST", "/summarize", "text/plain", strings.NewReader(lectureSRT))
	if code != 200 || len(m["bullets"].([]any)) == 0 {
		t.Errorf("text/plain summarize: %d %v", code, m)
	}
}

func TestBadInputGets4xxAndWritesNothing(t *testing.T) {
	e := newEnv(t, nil)
	before := e.files()
	big := strings.Repeat("word ", 300000) // 1.5 MB > 1 MiB limit
	cases := []struct {
		name, method, path, ctype, body string
		status                          int
		msg                             string
	}{
		{"empty body", "POST", "/summarize", "application/json", "", 400, "empty"},
		{"empty text", "POST", "/summarize", "application/json", `{"text": "  "}`, 400, "empty"},
		{"wrong type", "POST", "/summarize", "application/json", `{"text": 42}`, 400, "must be a string"},
		{"unknown field", "POST", "/summarize", "application/json", `{"txt": "hello"}`, 400, "unknown field"},
		{"malformed json", "POST", "/summarize", "application/json", `{"text": "a`, 400, "JSON"},
		{"bad ratio", "POST", "/summarize", "application/json", `{"text": "Hello there world.", "ratio": 7}`, 400, "ratio"},
		{"too large", "POST", "/summarize", "text/plain", big, 413, "limit"},
		{"invalid utf8 json", "POST", "/summarize", "application/json", "{\"text\": \"Hello \xff\xfe world.\"}", 400, "UTF-8"},
		{"trailing json", "POST", "/summarize", "application/json", `{"text": "Hello world."} {"text": "again"}`, 400, "after the JSON value"},
		{"trailing garbage", "POST", "/qa", "application/json", `{"text": "Hello world.", "question": "why?"}garbage`, 400, "after the JSON value"},
		{"binary", "POST", "/lectures", "text/plain", "\x00\x01\x02\x03binary\x00\x00garbage\x7f\x00", 400, "binary"},
		{"malformed srt", "POST", "/lectures", "text/plain", "1\n00:00:01,000 --> 00:0x:02,000\nHello\n", 400, "srt"},
		{"malformed vtt", "POST", "/lectures", "text/plain", "WEBVTT\n\n00:01.000 --> garbage\nHello\n", 400, "vtt"},
		{"wrong content type", "POST", "/lectures", "image/png", "\x89PNG", 415, "Content-Type"},
		{"oversized upload", "POST", "/lectures", "text/plain", big, 413, "limit"},
		{"empty upload", "POST", "/lectures", "application/json", `{"text": ""}`, 400, "empty"},
		{"unknown lecture", "GET", "/lectures/20260101-000000-deadbeef", "", "", 404, "not found"},
		{"hostile id", "GET", "/lectures/..%2F..%2Fetc", "", "", 400, ""},
		{"hostile id dots", "GET", "/lectures/..", "", "", 0, ""},
		{"qa unknown lecture", "POST", "/qa", "application/json", `{"lecture_id": "nope-1", "question": "why?"}`, 404, "not found"},
		{"qa hostile id", "POST", "/qa", "application/json", `{"lecture_id": "../../etc/passwd", "question": "why?"}`, 400, ""},
		{"qa empty question", "POST", "/qa", "application/json", `{"text": "Hello world. Entropy grows.", "question": ""}`, 400, "question"},
		{"qa huge question", "POST", "/qa", "application/json", `{"text": "Hello world.", "question": "` + strings.Repeat("why ", 3000) + `"}`, 413, "question"},
		{"qa neither", "POST", "/qa", "application/json", `{"question": "why?"}`, 400, "lecture_id"},
		{"qa wrong content type", "POST", "/qa", "text/xml", `<q/>`, 415, "Content-Type"},
		{"no route", "GET", "/nope", "", "", 404, "no route"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, m, body := e.do(c.method, c.path, c.ctype, strings.NewReader(c.body))
			if c.status == 0 { // any 4xx
				if code < 400 || code >= 500 {
					t.Fatalf("status %d, want 4xx: %s", code, body)
				}
				return
			}
			if code != c.status {
				t.Fatalf("status %d, want %d: %s", code, c.status, body)
			}
			em, ok := m["error"].(map[string]any)
			if !ok || em["code"] == "" || em["message"] == "" {
				t.Fatalf("no JSON error: %s", body)
			}
			if !strings.Contains(strings.ToLower(em["message"].(string)), strings.ToLower(c.msg)) {
				t.Errorf("message %q does not mention %q", em["message"], c.msg)
			}
		})
	}
	if after := e.files(); len(after) != len(before) {
		t.Errorf("bad input left files behind: %v", after)
	}
	// And the server still serves.
	if code, _, _ := e.do("GET", "/healthz", "", nil); code != 200 {
		t.Errorf("healthz after bad input: %d", code)
	}
}

func TestLectureLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "thermo.srt")
	_, _ = fw.Write([]byte(lectureSRT))
	_ = mw.WriteField("title", "Thermodynamics 101")
	_ = mw.Close()
	code, m, body := e.do("POST", "/lectures", mw.FormDataContentType(), &buf)
	if code != 202 {
		t.Fatalf("upload: %d %s", code, body)
	}
	id := m["id"].(string)
	if m["title"] != "Thermodynamics 101" {
		t.Errorf("title %v", m["title"])
	}
	var l lecture.Lecture
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, body = e.do("GET", "/lectures/"+id, "", nil)
		_ = json.Unmarshal([]byte(body), &l)
		if l.Status == lecture.StatusReady || l.Status == lecture.StatusFailed || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if l.Status != lecture.StatusReady {
		t.Fatalf("lecture not ready: %s", body)
	}
	for _, st := range []string{"transcribe", "segment", "summarize", "index"} {
		if l.Stages[st].Status != lecture.StatusReady || l.Artifacts[st] == "" {
			t.Errorf("stage %s: %+v", st, l.Stages[st])
		}
	}
	code, _, md := e.do("GET", "/lectures/"+id+"/summary?format=md", "", nil)
	if code != 200 || !strings.HasPrefix(md, "- [00:") {
		t.Errorf("summary md: %d %q", code, md)
	}
	code, _, srt := e.do("GET", "/lectures/"+id+"/transcript?format=srt", "", nil)
	if code != 200 || !strings.Contains(srt, "00:00:01,000 --> 00:00:06,000") {
		t.Errorf("transcript srt: %d %q", code, srt)
	}
	code, m, body = e.postJSON("/qa", map[string]any{"lecture_id": id, "question": "What does the Carnot efficiency depend on?"})
	if code != 200 || m["covered"] != true {
		t.Fatalf("qa: %d %s", code, body)
	}
	cites := m["citations"].([]any)
	if len(cites) == 0 || !strings.Contains(m["answer"].(string), "temperatures") {
		t.Errorf("answer lacks the supporting sentence: %s", body)
	}
	span := cites[0].(map[string]any)["span"].(map[string]any)
	if span["start"].(float64) < 0 {
		t.Errorf("citation without time: %v", cites[0])
	}
	_, m, _ = e.postJSON("/qa", map[string]any{"lecture_id": id, "question": "Who won the football world cup in 1998?"})
	if m["covered"] != false || m["answer"] != "This lecture does not cover that." {
		t.Errorf("off-topic question answered: %v", m)
	}
}

func TestFailedStageIsDeadLettered(t *testing.T) {
	e := newEnv(t, nil)
	// Upload succeeds (valid transcript); then corrupt the raw object so the
	// transcribe stage fails on every retry.
	code, m, body := e.do("POST", "/lectures?name=x.txt", "text/plain", strings.NewReader("Entropy grows in isolated systems."))
	if code != 202 {
		t.Fatalf("upload: %d %s", code, body)
	}
	id := m["id"].(string)
	e.s.Bus.Wait()
	// Remove the transcript and break the raw input, then redeliver.
	for _, f := range e.files() {
		if strings.Contains(f, id) && (strings.HasSuffix(f, "x.txt") || strings.Contains(f, "preprocessed") && !strings.HasSuffix(f, "lecture.json") && !strings.Contains(f, ".meta")) {
			_ = os.Remove(f)
		}
	}
	_ = os.WriteFile(filepath.Join(e.root, "raw-inputs", id, "x.txt"), []byte{0, 0, 0, 0}, 0o644)
	l, err := e.s.Service.Lecture(context.Background(), id)
	if err != nil || l.Status == lecture.StatusReady {
		t.Fatalf("setup: %v %+v", err, l)
	}
	_, ev, err := e.s.Service.CreateLecture(context.Background(), pipelineUpload())
	if err != nil {
		t.Fatal(err)
	}
	ev.Data.LectureID, ev.Data.Key = id, id+"/x.txt"
	e.s.Bus.Publish(ev)
	e.s.Bus.Wait()
	_, m, body = e.do("GET", "/lectures/"+id, "", nil)
	if m["status"] != "failed" || !strings.Contains(body, "binary") {
		t.Errorf("failure not recorded: %s", body)
	}
	_, m, _ = e.postJSON("/qa", map[string]any{"lecture_id": id, "question": "entropy?"})
	if em, _ := m["error"].(map[string]any); em == nil || em["code"] != "conflict" {
		t.Errorf("qa on failed lecture: %v", m)
	}
}

func TestMetricsAndReadiness(t *testing.T) {
	e := newEnv(t, nil)
	e.postJSON("/summarize", map[string]any{"text": lectureSRT})
	e.postJSON("/summarize", map[string]any{"text": lectureSRT})
	if code, _, _ := e.do("GET", "/readyz", "", nil); code != 200 {
		t.Errorf("readyz %d", code)
	}
	_, _, text := e.do("GET", "/metrics", "", nil)
	for _, want := range []string{
		`transcept_http_requests_total{method="POST",route="POST /summarize",status="200"} 2`,
		`transcept_cache_requests_total{cache="process",result="hit"} 1`, // the repeat, from the in-process response cache
		`transcept_cache_requests_total{cache="memory",result="miss"} 2`, // the request's key, then the normalised text's
		`transcept_engine_info{engine="extractive",model="",provider="cpu",stage="summarize"} 1`,
		`transcept_stage_duration_seconds_count{outcome="ok",stage="summarize"} 1`, // the second was a cache hit on the request
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestQAStreamsServerSentEvents(t *testing.T) {
	e := newEnv(t, nil)
	b, _ := json.Marshal(map[string]any{"text": lectureSRT, "question": "What does the Carnot efficiency depend on?"})
	code, _, body := e.do("POST", "/qa?stream=1", "application/json", bytes.NewReader(b))
	if code != 200 || !strings.HasPrefix(body, "event: token\ndata: {\"token\":") {
		t.Fatalf("%d %q", code, body)
	}
	var text strings.Builder
	var final lecture.Answer
	for _, block := range strings.Split(strings.TrimSpace(body), "\n\n") {
		lines := strings.SplitN(block, "\n", 2)
		data := strings.TrimPrefix(lines[1], "data: ")
		switch lines[0] {
		case "event: token":
			var tok map[string]string
			_ = json.Unmarshal([]byte(data), &tok)
			text.WriteString(tok["token"])
		case "event: answer":
			_ = json.Unmarshal([]byte(data), &final)
		}
	}
	if !final.Covered || text.String() != final.Text || len(final.Citations) == 0 {
		t.Errorf("streamed %q, final %+v", text.String(), final)
	}
}

// A 50 MB text against the default limit: refused with 413 before it is
// read whole, nothing written, the server still serving.
func TestFiftyMegabyteText(t *testing.T) {
	e := newEnv(t, map[string]string{"TRANSCEPT_MAX_UPLOAD_BYTES": "52428800"})
	big := bytes.Repeat([]byte("entropy "), (50<<20)/8+1024)
	for _, path := range []string{"/summarize", "/lectures"} {
		code, m, _ := e.do("POST", path, "text/plain", bytes.NewReader(big))
		em, _ := m["error"].(map[string]any)
		if msg, _ := em["message"].(string); code != 413 || !strings.Contains(msg, "the limit is 50 MiB") || !strings.Contains(msg, fmt.Sprintf("(%d bytes)", len(big))) {
			t.Errorf("%s: %d %v", path, code, m)
		}
	}
	if len(e.files()) != 0 {
		t.Errorf("files written: %v", e.files())
	}
	if code, _, _ := e.do("GET", "/healthz", "", nil); code != 200 {
		t.Error("server stopped serving")
	}
}

// A synchronous request past its budget stops and says why.
func TestRequestBudget(t *testing.T) {
	e := newEnv(t, map[string]string{"TRANSCEPT_MAX_UPLOAD_BYTES": "52428800"})
	c, _ := config.FromMap(map[string]string{"TRANSCEPT_REQUEST_TIMEOUT": "1s"})
	h := &api.Server{Svc: e.s.Service, Publish: e.s.Bus.Publish, Metrics: e.s.Metrics, Log: e.s.Log, MaxBody: 50 << 20,
		RequestBudget: func(int64) time.Duration { return time.Millisecond }}
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	var b strings.Builder
	for i := 0; b.Len() < 8<<20; i++ {
		fmt.Fprintf(&b, "Point %d is that heat engine %d rejects heat to reservoir %d. ", i, i%13, i%17)
	}
	resp, err := http.Post(srv.URL+"/summarize", "text/plain", strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || !strings.Contains(string(body), "time budget") {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	if c.RequestBudget(10<<20) != 1*time.Second+100*time.Second {
		t.Errorf("budget for 10 MiB: %s", c.RequestBudget(10<<20))
	}
}

func TestHotCacheConfirmsBytes(t *testing.T) {
	e := newEnv(t, nil)
	first, _ := json.Marshal(map[string]any{"text": lectureSRT})
	for i := range 3 {
		resp, err := http.Post(e.srv.URL+"/summarize", "application/json", bytes.NewReader(first))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if hit := resp.Header.Get("X-Transcept-Cache") == "hit"; hit != (i > 0) || resp.ContentLength != int64(len(b)) && i > 0 {
			t.Errorf("request %d: cache %q, length %d of %d", i, resp.Header.Get("X-Transcept-Cache"), resp.ContentLength, len(b))
		}
	}
	other, _ := json.Marshal(map[string]any{"text": lectureSRT + "\n"})
	resp, err := http.Post(e.srv.URL+"/summarize", "application/json", bytes.NewReader(other))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Transcept-Cache") == "hit" {
		t.Error("a different body was served from the cache")
	}
}

// Any method a client invents counts as "other": the metrics' label set
// stays bounded.
func TestMethodLabelBounded(t *testing.T) {
	e := newEnv(t, nil)
	for i := range 20 {
		e.do(fmt.Sprintf("BREW%d", i), "/summarize", "", nil)
	}
	_, _, text := e.do("GET", "/metrics", "", nil)
	if strings.Contains(text, `method="BREW`) || !strings.Contains(text, `method="other"`) {
		t.Errorf("invented methods reach the metrics labels")
	}
}
