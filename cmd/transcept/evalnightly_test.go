package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	evalfn "github.com/transcept/transcept/functions/eval"
	"github.com/transcept/transcept/shared/eval"
	"github.com/transcept/transcept/shared/evalset"
	"github.com/transcept/transcept/shared/eventing"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/registry/gate"
	"github.com/transcept/transcept/tests/testkit/orttest"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

// eventSink is a CloudEvents receiver that keeps what it is sent.
type eventSink struct {
	mu     sync.Mutex
	events []eventing.CloudEvent
}

func (s *eventSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ce, ok := eventing.ReadHTTP(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	s.events = append(s.events, *ce)
	s.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// The eval set seeded into the store is what eval gate reads, and the eval
// function's nightly run over it exports the gate's numbers as gauges and
// sends one transcept.model.evaluated per task with them.
func TestEvalSeedGateAndNightly(t *testing.T) {
	needData(t)
	data := eval.DataDir()
	t.Setenv("TRANSCEPT_EVAL_DATA", "") // the store's set, not the folder
	cli := inStore(t)
	t.Setenv("TRANSCEPT_EVAL_CACHE_DIR", t.TempDir())
	seed := []string{"eval", "seed", "--data", data, "--summeval", "3", "--qmsum", "1", "--qa", "1", "--no-audio"}
	code, out, errs := cli(seed...)
	m := regexp.MustCompile(`^eval set ([0-9a-f]{16}) seeded: 3 files \(2 summarize, 1 qa, 0 transcribe\)`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("seed: exit %d: %s%s", code, out, errs)
	}
	version := m[1]
	if code, out, _ := cli(seed...); code != 0 || !strings.Contains(out, version+" already stored") {
		t.Fatalf("second seed: exit %d: %s", code, out)
	}

	// eval gate on the store's set.
	reports := map[string]gate.Report{}
	for _, task := range []string{gate.Summarize, gate.QA} {
		code, stdout, errs := cli("eval", "gate", "--task", task, "--candidate", "extractive", "--baseline", "extractive")
		var r gate.Report
		if err := json.Unmarshal([]byte(stdout), &r); code != 0 || err != nil {
			t.Fatalf("gate %s: exit %d %v\n%s", task, code, err, errs)
		}
		if r.Data != "store:eval@"+version {
			t.Fatalf("gate %s read %q, want the store's set %s", task, r.Data, version)
		}
		reports[task] = r
	}
	if n := reports[gate.Summarize].Candidate.Metrics.Items; n != 4 { // 3 articles and a meeting
		t.Fatalf("summarize items %d, want 4", n)
	}

	// The eval function, as its PingSource triggers it.
	var got eventSink
	srv := httptest.NewServer(&got)
	defer srv.Close()
	f := evalfn.New()
	ctx := context.Background()
	cfg := map[string]string{"TRANSCEPT_STORE_DIR": os.Getenv("TRANSCEPT_STORE_DIR"), "TRANSCEPT_EVAL_CACHE_DIR": t.TempDir(), "K_SINK": srv.URL, "TRANSCEPT_LOG_LEVEL": "warn"}
	if err := f.Start(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	defer f.Stop(ctx)
	other, _ := eventing.NewModelEvent(ctx, lecture.ChunksReady, "", map[string]string{}, time.Now())
	if _, err := f.Handle(ctx, other); err == nil {
		t.Fatalf("eval took a %s event", lecture.ChunksReady)
	}
	ping, _ := eventing.NewModelEvent(ctx, evalfn.PingType, "", map[string]string{"task": "nightly"}, time.Now())
	if _, err := f.Handle(ctx, ping); err != nil {
		t.Fatal(err)
	}

	// Gauges equal to the gate's numbers on the same set.
	want := map[string]map[string]float64{
		gate.Summarize: {"rouge1": reports[gate.Summarize].Candidate.Metrics.Rouge1, "rouge2": reports[gate.Summarize].Candidate.Metrics.Rouge2, "rougeL": reports[gate.Summarize].Candidate.Metrics.RougeL},
		gate.QA:        {"coverage": reports[gate.QA].Candidate.Metrics.Coverage, "decline": reports[gate.QA].Candidate.Metrics.Decline},
	}
	for task, scores := range want {
		for metric, w := range scores {
			if g := f.Metrics.QualityValue("transcept_eval_score", task, "extractive", "builtin", metric); g != w || w <= 0 {
				t.Errorf("transcept_eval_score{task=%s,metric=%s} = %g, eval gate says %g", task, metric, g, w)
			}
		}
		if f.Metrics.QualityValue("transcept_eval_runs_total", task, "ok") != 1 || f.Metrics.QualityValue("transcept_eval_last_run_timestamp_seconds", task) < float64(time.Now().Add(-time.Minute).Unix()) {
			t.Errorf("%s: no successful run recorded", task)
		}
		if p95 := f.Metrics.QualityValue("transcept_eval_latency_seconds", task, "extractive", "builtin", "p95"); p95 <= 0 || p95 > 10 {
			t.Errorf("%s: latency p95 %gs", task, p95)
		}
	}
	if n := f.Metrics.QualityValue("transcept_eval_set_items", version); n != 3 {
		t.Errorf("eval set items %g, want 3", n)
	}

	// One transcept.model.evaluated per task, with the same scores.
	got.mu.Lock()
	defer got.mu.Unlock()
	if len(got.events) != 2 {
		t.Fatalf("sink got %d events, want 2", len(got.events))
	}
	for _, ce := range got.events {
		var d struct {
			Task, Model, Version, EvalSet string
			Scores                        map[string]float64
			Report                        string
		}
		if err := json.Unmarshal(ce.Data(), &d); err != nil {
			t.Fatal(err)
		}
		var ed struct {
			EvalSet string `json:"eval_set"`
		}
		_ = json.Unmarshal(ce.Data(), &ed)
		if ce.Type() != lecture.ModelEvaluated || ce.Source() != lecture.ModelEventSource || d.Model != "extractive" || ed.EvalSet != "store:eval@"+version {
			t.Errorf("event %s from %s: %s", ce.Type(), ce.Source(), ce.Data())
		}
		for metric, w := range want[d.Task] {
			if d.Scores[metric] != w {
				t.Errorf("event %s: %s = %g, want %g", d.Task, metric, d.Scores[metric], w)
			}
		}
		// The report is in the eval bucket, under the key the event names.
		p := filepath.Join(os.Getenv("TRANSCEPT_STORE_DIR"), evalset.Bucket, filepath.FromSlash(d.Report))
		if b, err := os.ReadFile(p); err != nil || !strings.Contains(string(b), `"task": "`+d.Task+`"`) {
			t.Errorf("report %s: %v", d.Report, err)
		}
	}
}

// A registry champion is what the nightly run evaluates for its task: the
// tiny random BART at tiny@champion gets the gate's numbers as its gauges,
// labelled with its name and version, and its report is stored with the
// version; the task without a champion (qa) runs the configured engine.
func TestNightlyChampion(t *testing.T) {
	needData(t)
	orttest.Need(t)
	t.Setenv("TRANSCEPT_EVAL_DATA", "")
	cli := inStore(t)
	t.Setenv("TRANSCEPT_EVAL_CACHE_DIR", t.TempDir())
	if code, out, errs := cli("eval", "seed", "--data", eval.DataDir(), "--summeval", "3", "--qmsum", "-1", "--qa", "1", "--no-audio"); code != 0 {
		t.Fatalf("seed: %d %s%s", code, out, errs)
	}
	dir := filepath.Join(t.TempDir(), "tiny-bart")
	if err := testmodels.WriteBART(dir, testmodels.Tiny()); err != nil {
		t.Fatal(err)
	}
	_, v, _ := cli("models", "push", dir, "--name", "tiny")
	v = strings.TrimSpace(v)
	if code, _, errs := cli("models", "alias", "tiny@champion", v); code != 0 {
		t.Fatal(errs)
	}
	code, stdout, errs := cli("eval", "gate", "--task", "summarize", "--candidate", "tiny@champion", "--baseline", "extractive", "--no-store", "--policy", writeFile(t, "p.json", `{"version":1}`))
	var r gate.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || r.Candidate.Metrics.Items != 3 {
		t.Fatalf("gate: exit %d %v %+v\n%s", code, err, r.Candidate, errs)
	}

	f := evalfn.New()
	ctx := context.Background()
	if err := f.Start(ctx, map[string]string{"TRANSCEPT_STORE_DIR": os.Getenv("TRANSCEPT_STORE_DIR"), "TRANSCEPT_EVAL_CACHE_DIR": t.TempDir(),
		"TRANSCEPT_MODEL_CACHE_DIR": os.Getenv("TRANSCEPT_MODEL_CACHE_DIR"), "TRANSCEPT_LOG_LEVEL": "warn"}); err != nil {
		t.Fatal(err)
	}
	defer f.Stop(ctx)
	n, err := f.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for metric, w := range map[string]float64{"rouge1": r.Candidate.Metrics.Rouge1, "rougeL": r.Candidate.Metrics.RougeL} {
		if g := f.Metrics.QualityValue("transcept_eval_score", gate.Summarize, "tiny", v, metric); g != w {
			t.Errorf("tiny@%s %s = %g, the gate says %g", v, metric, g, w)
		}
	}
	var tasks []string
	for _, rep := range n.Reports {
		tasks = append(tasks, rep.Task+":"+rep.Model+"@"+rep.Version)
		if rep.Task == gate.Summarize && !strings.HasPrefix(rep.RegistryKey, "tiny/"+v+".report.") {
			t.Errorf("the champion's report is not stored with its version: %q", rep.RegistryKey)
		}
	}
	if strings.Join(tasks, " ") != "summarize:tiny@"+v+" qa:extractive@builtin" {
		t.Errorf("evaluated %v, want the champion for summarize and the configured engine for qa", tasks)
	}
	if _, show, _ := cli("models", "list"); !strings.Contains(show, "tiny") {
		t.Errorf("models list: %s", show)
	}
}
