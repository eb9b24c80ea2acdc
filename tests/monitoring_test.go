package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/transcept/transcept/shared/eval"
	"github.com/transcept/transcept/tests/testkit/svctest"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

// promtool finds Debian's promtool (apt-get install prometheus).
func promBin(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		svctest.Missing(t, "%s (apt-get install prometheus)", name)
	}
	return p
}

// ruleGroups writes the groups of infra/monitoring/prometheusrule.yaml as
// a plain Prometheus rules file in dir.
func ruleGroups(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile("../infra/monitoring/prometheusrule.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var pr struct {
		Spec struct {
			Groups []map[string]any `yaml:"groups"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &pr); err != nil || len(pr.Spec.Groups) == 0 {
		t.Fatalf("prometheusrule.yaml: %v (%d groups)", err, len(pr.Spec.Groups))
	}
	out, err := yaml.Marshal(map[string]any{"groups": pr.Spec.Groups})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAlertRules: the alert rules are valid and each one fires on the
// series it is meant for, and not below its threshold (promtool unit
// tests in tests/monitoring/alerts_test.yaml).
func TestAlertRules(t *testing.T) {
	promtool := promBin(t, "promtool")
	dir := t.TempDir()
	rules := ruleGroups(t, dir)
	if out, err := exec.Command(promtool, "check", "rules", rules).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	spec, err := os.ReadFile("monitoring/alerts_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), spec, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool, "test", "rules", "alerts_test.yaml")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	// The rules `make observe` loads are these (infra/monitoring/local/rules.yaml).
	want, _ := os.ReadFile(rules)
	if got, err := os.ReadFile("../infra/monitoring/local/rules.yaml"); err != nil || !bytes.Equal(got, want) {
		if os.Getenv("TRANSCEPT_UPDATE_RULES") == "1" {
			_ = os.WriteFile("../infra/monitoring/local/rules.yaml", want, 0o644)
		} else {
			t.Errorf("infra/monitoring/local/rules.yaml differs from the groups of prometheusrule.yaml; rerun with TRANSCEPT_UPDATE_RULES=1 (%v)", err)
		}
	}
	// Every alert has a unit test.
	b, _ := os.ReadFile(rules)
	for _, line := range strings.Split(string(b), "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "alert: "); ok && !bytes.Contains(spec, []byte("alertname: "+name)) {
			t.Errorf("alert %s has no unit test in tests/monitoring/alerts_test.yaml", name)
		}
	}
}

// TestLiveMetricsAndDashboards: after an upload, summaries and questions,
// a live /metrics scrape of `transcept serve` passes `promtool check
// metrics`, and every dashboard panel's query and every recording rule,
// run by a real Prometheus scraping it, returns data.
func TestLiveMetricsAndDashboards(t *testing.T) {
	promtool := promBin(t, "promtool")
	prometheus := promBin(t, "prometheus")
	bin := buildBinary(t)
	// A small eval set in the store the server uses (its vocabulary is what
	// the out-of-vocabulary share is measured against; POST /eval runs the
	// nightly evaluation on it).
	// The summaries come from a tiny random-weight BART on ONNX Runtime, so
	// that model runs generate tokens (the tokens-per-second panel).
	store, bart := t.TempDir(), t.TempDir()
	tiny := testmodels.Tiny()
	tiny.EOSBias = 0 // text for every window, however short (the tiny default ends most at once)
	if err := testmodels.WriteBART(bart, tiny); err != nil {
		t.Fatal(err)
	}
	env := []string{"TRANSCEPT_STORE_DIR=" + store, "TRANSCEPT_LOG_LEVEL=warn", "TRANSCEPT_EVAL_DATA=",
		"TRANSCEPT_EVAL_CACHE_DIR=" + t.TempDir(), "TRANSCEPT_DRIFT_MIN_LECTURES=1",
		"TRANSCEPT_SUMMARIZER=bart", "TRANSCEPT_SUMMARY_MODEL=" + bart}
	data := eval.DataDir()
	if data != "" {
		seed := exec.Command(bin, "eval", "seed", "--data", data, "--summeval", "3", "--qmsum", "1", "--qa", "1", "--no-audio")
		seed.Env = append(os.Environ(), env...)
		if out, err := seed.CombinedOutput(); err != nil {
			t.Fatalf("eval seed: %v\n%s", err, out)
		}
	}
	s := startServer(t, bin, env)
	defer s.stop(30 * time.Second)

	// Traffic: an upload processed to ready, summaries (one cached), questions.
	f := &faultClient{t: t, base: s.base, c: &http.Client{Timeout: 30 * time.Second}}
	code, id, m := f.upload(lectureOf(20))
	if code != 202 {
		t.Fatalf("upload: %d %v", code, m)
	}
	f.waitStatus(id, "ready", 60*time.Second)
	for range 2 {
		b, _ := json.Marshal(map[string]string{"text": lectureOf(4)})
		if code, m := f.post("/summarize", "application/json", b); code != 200 {
			t.Fatalf("summarize: %d %v", code, m)
		}
	}
	b, _ := json.Marshal(map[string]string{"lecture_id": id, "question": "Why does heat flow from hot to cold?"})
	if code, m := f.post("/qa", "application/json", b); code != 200 {
		t.Fatalf("qa: %d %v", code, m)
	}
	f.post("/qa", "application/json", []byte(`{"question": 1}`)) // a 4xx too

	resp, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	scrape, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The funnel saw the lecture uploaded and ready, once each; the
	// summariser's load time is reported.
	for _, want := range []string{`transcept_lectures_total{outcome="uploaded"} 1`, `transcept_lectures_total{outcome="ready"} 1`, `transcept_model_load_seconds{stage="summarize"}`,
		`transcept_model_tokens_total{engine="bart",task="summarize"}`, `transcept_stage_lectures_total{outcome="done",stage="index"} 1`} {
		if !bytes.Contains(scrape, []byte(want)) {
			t.Errorf("the live scrape lacks %s", want)
		}
	}
	// A timestamped lecture (the no-speech share), then the nightly
	// evaluation in the served process (the quality dashboard's gauges).
	if data != "" {
		srt := "1\n00:00:00,000 --> 00:00:08,000\nEntropy never decreases in an isolated system.\n\n" +
			"2\n00:00:10,000 --> 00:00:20,000\nSo heat flows from the hot body to the cold one.\n"
		b, _ := json.Marshal(map[string]string{"text": srt, "name": "drift.srt"})
		code, m := f.post("/lectures", "application/json", b)
		if code != 202 {
			t.Fatalf("upload drift.srt: %d %v", code, m)
		}
		f.waitStatus(m["id"].(string), "ready", 60*time.Second)
		c := &http.Client{Timeout: 5 * time.Minute}
		resp, err := c.Post(s.base+"/eval", "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"task":"summarize"`)) || !bytes.Contains(body, []byte(`"drift":{`)) {
			t.Fatalf("POST /eval: %d %s", resp.StatusCode, body)
		}
		if resp, err = http.Get(s.base + "/metrics"); err != nil {
			t.Fatal(err)
		}
		scrape, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{`transcept_eval_score{metric="rougeL",model="bart",task="summarize",version="`, `transcept_input_oov_ratio_count{stage="segment"} 2`,
			`transcept_input_no_speech_ratio_count{stage="segment"} 1`, `transcept_drift_score{feature="words",stage="segment"}`} {
			if !bytes.Contains(scrape, []byte(want)) {
				t.Errorf("the live scrape after POST /eval lacks %s", want)
			}
		}
	}
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = bytes.NewReader(scrape)
	if out, err := check.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics on a live scrape: %v\n%s", err, out)
	}

	// Prometheus scraping the server every second, with the project's rules.
	dir := t.TempDir()
	rules := ruleGroups(t, dir)
	u, _ := url.Parse(s.base)
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - %s\nscrape_configs:\n  - job_name: transcept\n    static_configs:\n      - targets: ['%s']\n", rules, u.Host)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := svctest.FreeAddr(t)
	var plog bytes.Buffer
	p := exec.Command(prometheus, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	p.Stdout, p.Stderr = &plog, &plog
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Process.Kill(); _ = p.Wait() }()
	query := func(q string) (int, error) {
		resp, err := http.Get("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		var r struct {
			Status string
			Error  string
			Data   struct{ Result []json.RawMessage }
		}
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			return 0, err
		}
		if r.Status != "success" {
			return 0, fmt.Errorf("%s", r.Error)
		}
		return len(r.Data.Result), nil
	}
	// Wait for a few scrapes, then keep traffic flowing so rates see it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if n, err := query(`count_over_time(up{job="transcept"}[1m])`); err == nil && n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never scraped the server:\n%s", plog.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i := range 3 {
		b, _ := json.Marshal(map[string]string{"text": lectureOf(4)})
		f.post("/summarize", "application/json", b)
		f.get("/lectures/" + id)
		_ = i
		time.Sleep(1100 * time.Millisecond)
	}

	files, _ := filepath.Glob("../infra/monitoring/dashboards/*.json")
	if len(files) == 0 {
		t.Fatal("no dashboards in infra/monitoring/dashboards")
	}
	var queries []string
	for _, file := range files {
		if filepath.Base(file) == "quality.json" && data == "" {
			t.Logf("quality.json not checked: no evaluation data (../shared/data) to seed the eval set from")
			continue
		}
		d, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var dash struct {
			Panels []struct {
				Title   string
				Targets []struct{ Expr string }
			}
		}
		if err := json.Unmarshal(d, &dash); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, pn := range dash.Panels {
			for _, tg := range pn.Targets {
				// Grafana's variables as the local Prometheus has them: no
				// Kubernetes service label, a short rate window.
				q := strings.NewReplacer(`$service`, `.*`, `$__rate_interval`, `1m`).Replace(tg.Expr)
				queries = append(queries, filepath.Base(file)+": "+pn.Title+"\x00"+q)
			}
		}
	}
	rb, _ := os.ReadFile(rules)
	for _, line := range strings.Split(string(rb), "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "record: "); ok {
			queries = append(queries, "recording rule\x00"+name)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tq := range queries {
		title, q, _ := strings.Cut(tq, "\x00")
		for {
			n, err := query(q)
			if err == nil && n > 0 {
				break
			}
			if ctx.Err() != nil {
				t.Errorf("panel %q: %s: no data (%v)", title, q, err)
				break
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
}
