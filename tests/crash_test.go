package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/cache/mem"
	"github.com/transcept/transcept/shared/eval"
	"github.com/transcept/transcept/shared/extractive"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/metrics"
	"github.com/transcept/transcept/shared/pipeline"
	"github.com/transcept/transcept/shared/retrieval"
	"github.com/transcept/transcept/shared/store/fs"
	"github.com/transcept/transcept/tests/testkit/svctest"
)

// server is a `transcept serve` process that the test may kill -9.
type server struct {
	t    *testing.T
	cmd  *exec.Cmd
	base string
	mu   sync.Mutex
	log  *bytes.Buffer
	done chan struct{}
}

func (s *server) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

func startServer(t *testing.T, bin string, env []string) *server {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), env...)
	stdout, _ := cmd.StdoutPipe()
	s := &server{t: t, cmd: cmd, log: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = &lockedWriter{mu: &s.mu, b: s.log}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(s.done) }()
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
		s.base = strings.TrimPrefix(l, "transcept listening on ")
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("transcept serve did not start:\n%s", s.logText())
	case <-s.done:
		t.Fatalf("transcept serve exited at start:\n%s", s.logText())
	}
	return s
}

func (s *server) kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// stop sends SIGTERM and returns how long the process took to exit.
func (s *server) stop(limit time.Duration) time.Duration {
	t0 := time.Now()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(limit):
		s.kill()
		s.t.Errorf("transcept serve ignored SIGTERM for %s", limit)
	}
	return time.Since(t0)
}

// crashInput is one upload of the crash test.
type crashInput struct {
	title, name, text string
	poisoned          bool
}

// crashInputs builds n uploads of mixed sizes from QMSum meetings: most a
// few KB, some hundreds of KB, a few over a MB; and poisoned ones that
// pass upload validation but fail in the pipeline (noise tags only).
func crashInputs(t *testing.T, n int) []crashInput {
	d := eval.DataDir()
	ms, err := eval.LoadQMSum(filepath.Join(d, "qmsum", "Academic", "val"))
	if err != nil || len(ms) == 0 {
		if os.Getenv(svctest.RequireEnv) == "1" {
			t.Fatalf("evaluation data: %v", err)
		}
		t.Skipf("evaluation data not found (%v): skipping", err)
	}
	var lines []string
	for _, m := range ms {
		for _, tu := range m.Turns {
			lines = append(lines, tu.Speaker+": "+tu.Content)
		}
	}
	rng := rand.New(rand.NewPCG(11, 13))
	out := make([]crashInput, n)
	for i := range out {
		size := 2<<10 + rng.IntN(30<<10)
		switch {
		case i%20 == 7:
			size = 1<<20 + rng.IntN(1<<20)
		case i%4 == 1:
			size = 100<<10 + rng.IntN(400<<10)
		}
		var b strings.Builder
		for at := rng.IntN(len(lines)); b.Len() < size; at = (at + 1) % len(lines) {
			b.WriteString(lines[at])
			b.WriteByte('\n')
		}
		out[i] = crashInput{title: fmt.Sprintf("in-%03d", i), name: fmt.Sprintf("meeting-%03d.txt", i), text: b.String()}
		if i%33 == 5 {
			out[i].text = "A: {vocalsound} {disfmarker}\nB: {vocalsound}\n"
			out[i].poisoned = true
		}
	}
	return out
}

// expectedSummaries is what an uninterrupted run gives: the same parsing
// and summariser, in this process.
func expectedSummaries(t *testing.T, in []crashInput) map[string]*lecture.Summary {
	st, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	svc := &pipeline.Service{Store: st, Cache: mem.New(1 << 20), Summarizer: extractive.New(), Answerer: retrieval.NewAnswerer(),
		Metrics: metrics.New(), Log: slog.New(slog.NewTextHandler(io.Discard, nil)), ChunkTokens: 512, Ratio: 0.3, CacheTTL: time.Hour}
	out := map[string]*lecture.Summary{}
	for _, c := range in {
		if c.poisoned {
			continue
		}
		tr, err := pipeline.ParseTranscript([]byte(c.text), c.name, "")
		if err != nil {
			t.Fatalf("%s: %v", c.title, err)
		}
		sum, _, err := svc.Summarize(context.Background(), tr, lecture.SummarizeOptions{Ratio: 0.3})
		if err != nil {
			t.Fatalf("%s: %v", c.title, err)
		}
		out[c.title] = sum
	}
	return out
}

// TestCrashAnywhere: 100 uploads of mixed sizes while the server is killed
// with SIGKILL at random moments ten times and restarted on the same store.
// Every accepted lecture ends ready (or failed with a reason, for the
// poisoned ones), each summary equals an uninterrupted run's, and no
// temporary file, queued job or half-made lecture remains.
func TestCrashAnywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: not in -short")
	}
	inputs := crashInputs(t, 100)
	want := expectedSummaries(t, inputs)
	bin := buildBinary(t)
	dir := t.TempDir()
	storeDir, tmpDir := filepath.Join(dir, "data"), filepath.Join(dir, "tmp")
	_ = os.MkdirAll(tmpDir, 0o755)
	env := []string{"TRANSCEPT_STORE_DIR=" + storeDir, "TMPDIR=" + tmpDir, "TRANSCEPT_LOG_LEVEL=warn", "TRANSCEPT_WORKERS=2"}

	var mu sync.Mutex
	srv := startServer(t, bin, env)
	current := func() *server { mu.Lock(); defer mu.Unlock(); return srv }
	accepted := map[string]string{} // lecture id -> title
	client := &http.Client{Timeout: 60 * time.Second}

	uploaded := make(chan struct{})
	go func() { // the client: uploads one after another, retrying through crashes
		defer close(uploaded)
		for _, c := range inputs {
			body, _ := json.Marshal(map[string]string{"text": c.text, "title": c.title, "name": c.name})
			for try := 0; ; try++ {
				resp, err := client.Post(current().base+"/lectures", "application/json", bytes.NewReader(body))
				if err == nil {
					var m map[string]any
					_ = json.NewDecoder(resp.Body).Decode(&m)
					resp.Body.Close()
					if resp.StatusCode == http.StatusAccepted {
						mu.Lock()
						accepted[m["id"].(string)] = c.title
						mu.Unlock()
						break
					}
					if resp.StatusCode != http.StatusServiceUnavailable {
						t.Errorf("%s: upload answered %d %v", c.title, resp.StatusCode, m)
						break
					}
				}
				if try > 200 {
					t.Errorf("%s: no server took the upload: %v", c.title, err)
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}()

	rng := rand.New(rand.NewPCG(3, 5))
	for kill := range 10 {
		time.Sleep(time.Duration(100+rng.IntN(600)) * time.Millisecond)
		s := current()
		s.kill()
		if kill == 9 {
			t.Logf("log before the last kill:\n%s", tail(s.logText(), 2000))
		}
		next := startServer(t, bin, env)
		mu.Lock()
		srv = next
		mu.Unlock()
	}
	<-uploaded
	s := current()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("transcept serve log:\n%s", tail(s.logText(), 8000))
		}
	})

	// Every lecture in the store, accepted or left by an upload cut short,
	// reaches an end state.
	deadline := time.Now().Add(5 * time.Minute)
	titles := map[string]string{}
	for {
		ids := lectureIDs(t, storeDir)
		pending := 0
		for _, id := range ids {
			var l lecture.Lecture
			if code := getJSON(t, s.base+"/lectures/"+id, &l); code != 200 {
				t.Fatalf("lecture %s: status %d", id, code)
			}
			titles[id] = l.Title
			if l.Status != lecture.StatusReady && l.Status != lecture.StatusFailed {
				pending++
			}
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d lectures still processing after 5 minutes", pending, len(ids))
		}
		time.Sleep(200 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(accepted) != len(inputs) {
		t.Errorf("%d of %d uploads accepted", len(accepted), len(inputs))
	}
	byTitle := map[string]crashInput{}
	for _, c := range inputs {
		byTitle[c.title] = c
	}
	ready, failed := 0, 0
	for id, title := range titles {
		c := byTitle[title]
		var l lecture.Lecture
		getJSON(t, s.base+"/lectures/"+id, &l)
		if c.poisoned {
			if l.Status != lecture.StatusFailed || l.Error == nil || !strings.Contains(l.Error.Message, "no words") {
				t.Errorf("poisoned %s (%s): %s %+v", id, title, l.Status, l.Error)
			}
			failed++
			continue
		}
		if l.Status != lecture.StatusReady {
			t.Errorf("%s (%s): %s %+v", id, title, l.Status, l.Error)
			continue
		}
		ready++
		var got lecture.Summary
		getJSON(t, s.base+"/lectures/"+id+"/summary", &got)
		if w := want[title]; w == nil || !sameSummary(&got, w) {
			t.Errorf("%s (%s): summary differs from an uninterrupted run's", id, title)
		}
	}
	for id := range accepted {
		if _, ok := titles[id]; !ok {
			t.Errorf("accepted lecture %s is gone", id)
		}
	}
	t.Logf("%d uploads accepted through 10 kills; %d lectures in the store (%d from uploads cut short): %d ready, %d failed as poisoned",
		len(accepted), len(titles), len(titles)-len(accepted), ready, failed)

	if d := s.stop(30 * time.Second); d > 10*time.Second {
		t.Errorf("an idle server took %s to stop", d)
	}
	var leftovers []string
	for _, root := range []string{storeDir, tmpDir} {
		_ = filepath.WalkDir(root, func(p string, d iofs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (strings.HasPrefix(d.Name(), ".tmp-") || strings.HasPrefix(d.Name(), "transcept-") || strings.Contains(p, "/_queue/")) {
				leftovers = append(leftovers, p)
			}
			return nil
		})
	}
	if len(leftovers) > 0 {
		t.Errorf("left behind: %v", leftovers)
	}
}

func sameSummary(a, b *lecture.Summary) bool {
	if len(a.Bullets) != len(b.Bullets) {
		return false
	}
	for i := range a.Bullets {
		if a.Bullets[i].Text != b.Bullets[i].Text || a.Bullets[i].Span != b.Bullets[i].Span {
			return false
		}
	}
	return true
}

// lectureIDs lists the lectures of a filesystem store (folders with a
// lecture record).
func lectureIDs(t *testing.T, root string) []string {
	ents, err := os.ReadDir(filepath.Join(root, lecture.BucketPreprocessed))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "_") || !e.IsDir() {
			continue
		}
		if files, _ := os.ReadDir(filepath.Join(root, lecture.BucketPreprocessed, e.Name())); len(files) == 0 {
			continue // the folder of a removed half-made upload
		}
		if _, err := os.Stat(filepath.Join(root, lecture.BucketPreprocessed, e.Name(), pipeline.ArtifactLecture)); err != nil {
			t.Errorf("lecture folder %s without its record: %v", e.Name(), err)
			continue
		}
		ids = append(ids, e.Name())
	}
	return ids
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
