package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/cache/redis"
	"github.com/transcept/transcept/shared/eval"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/store/minio"
	"github.com/transcept/transcept/tests/testkit/svctest"
)

// buildBinary compiles cmd/transcept once per test run.
func buildBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "transcept")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/transcept")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// serve starts `transcept serve` on a free port and returns its base URL.
func serve(t *testing.T, bin string, env ...string) string {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "TRANSCEPT_STORE_DIR="+t.TempDir()) // the catalogue database's default home
	cmd.Env = append(cmd.Env, env...)
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("transcept serve log:\n%s", stderr.String())
		}
	})
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case l := <-line:
		const prefix = "transcept listening on "
		if !strings.HasPrefix(l, prefix) {
			t.Fatalf("unexpected first line %q", l)
		}
		return strings.TrimPrefix(l, prefix)
	case <-time.After(20 * time.Second):
		t.Fatalf("transcept serve did not start:\n%s", stderr.String())
	}
	return ""
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(v)
	return resp.StatusCode
}

func postJSON(t *testing.T, url string, in, out any) int {
	t.Helper()
	b, _ := json.Marshal(in)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(out)
	return resp.StatusCode
}

// meetingText renders a QMSum meeting as "Speaker: text" lines.
func meetingText(t *testing.T, name string) (string, eval.QMSumMeeting) {
	d := eval.DataDir()
	m, err := eval.LoadQMSumFile(filepath.Join(d, "qmsum", "Academic", "val", name))
	if err != nil {
		if os.Getenv(svctest.RequireEnv) == "1" {
			t.Fatalf("evaluation data: %v", err)
		}
		t.Skipf("evaluation data not found (%v): skipping", err)
	}
	var b strings.Builder
	for _, tu := range m.Turns {
		fmt.Fprintf(&b, "%s: %s\n", tu.Speaker, tu.Content)
	}
	return b.String(), m
}

// TestEndToEnd runs the real binary against real MinIO and Redis: upload a
// QMSum meeting, wait for the pipeline, read the summary, ask questions.
func TestEndToEnd(t *testing.T) {
	rd := svctest.StartRedis(t)
	mi := svctest.StartMinIO(t)
	text, meeting := meetingText(t, "Bed002.json")
	bin := buildBinary(t)
	base := serve(t, bin, "REDIS_URL="+rd.URL, "MINIO_ENDPOINT="+mi.Endpoint, "MINIO_ACCESS_KEY="+mi.AccessKey,
		"MINIO_SECRET_KEY="+mi.SecretKey, "TRANSCEPT_LOG_LEVEL=debug")

	var created map[string]any
	resp, err := http.Post(base+"/lectures?name=Bed002.txt&title=Bed002", "text/plain", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("upload: %d %v", resp.StatusCode, created)
	}
	id := created["id"].(string)

	var l lecture.Lecture
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		getJSON(t, base+"/lectures/"+id, &l)
		if l.Status == lecture.StatusReady || l.Status == lecture.StatusFailed {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if l.Status != lecture.StatusReady {
		t.Fatalf("lecture %s: status %s, error %+v", id, l.Status, l.Error)
	}

	var sum lecture.Summary
	if code := getJSON(t, base+"/lectures/"+id+"/summary", &sum); code != 200 {
		t.Fatalf("summary: %d", code)
	}
	ratio := float64(sum.OutputWords) / float64(sum.InputWords)
	if len(sum.Bullets) < 5 || ratio < 0.2 || ratio > 0.4 {
		t.Errorf("summary: %d bullets, %d of %d words (%.2f)", len(sum.Bullets), sum.OutputWords, sum.InputWords, ratio)
	}

	// The artifacts are in MinIO, under the lecture.
	st, err := minio.New(context.Background(), minio.Config{Endpoint: mi.Endpoint, AccessKey: mi.AccessKey, SecretKey: mi.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := st.List(context.Background(), lecture.BucketPreprocessed, id+"/")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, filepath.Base(o.Key))
	}
	for _, want := range []string{"lecture.json", "transcript.json", "chunks.json", "summary.json", "index.json"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("preprocessed/%s/ lacks %s: %v", id, want, names)
		}
	}
	if raw, err := st.List(context.Background(), lecture.BucketRaw, id+"/"); err != nil || len(raw) != 1 {
		t.Errorf("raw input: %v %v", raw, err)
	}

	// The summary is cached in Redis.
	rc, err := redis.New(rd.URL)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := rc.Client().Keys(context.Background(), "transcept:summary:*").Result()
	if err != nil || len(keys) == 0 {
		t.Errorf("no summary in Redis: %v %v", keys, err)
	}

	// Questions from the meeting's own query list are covered and cited.
	covered := 0
	for _, q := range meeting.Specific {
		var ans lecture.Answer
		if code := postJSON(t, base+"/qa", map[string]string{"lecture_id": id, "question": q.Query}, &ans); code != 200 {
			t.Fatalf("qa %q: %d", q.Query, code)
		}
		if ans.Covered {
			covered++
			if len(ans.Citations) == 0 || ans.Text == "" {
				t.Errorf("covered answer without citations: %+v", ans)
			}
		}
	}
	if covered*2 < len(meeting.Specific) {
		t.Errorf("only %d of %d of the meeting's own questions answered", covered, len(meeting.Specific))
	}
	var off lecture.Answer
	postJSON(t, base+"/qa", map[string]string{"lecture_id": id, "question": "What is the boiling point of liquid nitrogen?"}, &off)
	if off.Covered || off.Text != "This lecture does not cover that." {
		t.Errorf("off-topic question: %+v", off)
	}

	// Metrics say what ran.
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`transcept_events_total{outcome="ok",type="transcept.chunks.ready"} 2`, `cache="redis"`} {
		if !bytes.Contains(mb, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
