package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"knative.dev/serving/pkg/client/clientset/versioned/fake"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/pipeline"
	"github.com/transcept/transcept/shared/registry"
	"github.com/transcept/transcept/shared/rollout"
	"github.com/transcept/transcept/shared/rollout/knative"
	"github.com/transcept/transcept/shared/rollout/prometheus"
	"github.com/transcept/transcept/shared/store/fs"
	"github.com/transcept/transcept/shared/transcript"
	"github.com/transcept/transcept/tests/testkit/svctest"
)

// summarizeInstance is one `transcept function summarize` process with a
// store of its own, standing for one Knative revision.
type summarizeInstance struct {
	revision string
	addr     string
	store    *fs.Store
	sent     atomic.Int64
	failed   atomic.Int64
}

// drive sends transcept.chunks.ready events for fresh lectures (each one
// new, so no cached summary shortens the stage) until ctx ends.
func (in *summarizeInstance) drive(ctx context.Context, t *testing.T) {
	c := &http.Client{Timeout: 10 * time.Second}
	for i := 0; ctx.Err() == nil; i++ {
		id := fmt.Sprintf("canary-%05d", i)
		var b strings.Builder
		for j := range 12 {
			fmt.Fprintf(&b, "Lecture %d, point %d: the entropy of an isolated system %d never decreases, so heat flows from body %d to body %d.\n", i, j, i*j, i%7, j%11)
		}
		tr, err := pipeline.ParseTranscript([]byte(b.String()), "l.txt", transcript.Text)
		if err != nil {
			t.Error(err)
			return
		}
		data, _ := json.Marshal(tr)
		if err := in.store.Put(ctx, lecture.BucketPreprocessed, id+"/"+pipeline.ArtifactTranscript, bytes.NewReader(data), int64(len(data)), "application/json"); err != nil {
			if ctx.Err() == nil {
				t.Error(err)
			}
			return
		}
		ev, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": fmt.Sprintf("%s-%d", in.revision, i), "source": "/tests/rollout",
			"type": lecture.ChunksReady, "datacontenttype": "application/json",
			"data": lecture.Ref{LectureID: id, Bucket: lecture.BucketPreprocessed, Key: id + "/" + pipeline.ArtifactChunks, ContentHash: pipeline.Hash([]byte(b.String()))}})
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+in.addr+"/", bytes.NewReader(ev))
		req.Header.Set("Content-Type", "application/cloudevents+json")
		resp, err := c.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				t.Errorf("%s: %v", in.revision, err)
			}
			return
		}
		resp.Body.Close()
		in.sent.Add(1)
		if resp.StatusCode >= 500 {
			in.failed.Add(1)
		}
		time.Sleep(40 * time.Millisecond)
	}
}

// TestCanaryAnalysis: two local instances of the summarize function and
// more, scraped by a real Prometheus with the revision labels the
// PodMonitor gives them on Knative; the champion runs normally, three
// challengers run with the fault settings (slow, failing) or without. The
// shipped analysis policy, with a short interval and window, must abort
// the slow and the failing challenger and promote the good one; the
// rollout log and the registry's alias history must say so.
func TestCanaryAnalysis(t *testing.T) {
	prom := promBin(t, "prometheus")
	bin := buildBinary(t)
	began := time.Now()
	ctx := context.Background()

	// The registry: a champion version and three challengers.
	regStore, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const champRev = "transcept-summarize-00001"
	svc := &servingv1.Service{ObjectMeta: metav1.ObjectMeta{Name: "transcept-summarize", Namespace: "transcept"},
		Spec: servingv1.ServiceSpec{ConfigurationSpec: servingv1.ConfigurationSpec{Template: servingv1.RevisionTemplateSpec{
			Spec: servingv1.RevisionSpec{PodSpec: corev1.PodSpec{Containers: []corev1.Container{{Name: "summarize", Image: "transcept"}}}}}}}}
	svc.Status.LatestReadyRevisionName = champRev
	plat := knative.New(fake.NewSimpleClientset(svc), "transcept")
	ro := rollout.New(regStore, plat)
	push := func(content string) registry.Version {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		v, err := ro.Registry.Push(ctx, dir, "distilbart", registry.Meta{CreatedBy: "test"})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	champion := push(`{"v":"champion"}`)
	if _, err := ro.Registry.Alias(ctx, "distilbart", "champion", champion.ID, "test", "baseline", ""); err != nil {
		t.Fatal(err)
	}
	scenarios := []struct {
		name    string
		version registry.Version
		env     []string
		verdict string
		metric  string // the metric that fails
	}{
		{"slow", push(`{"v":"slow"}`), []string{"TRANSCEPT_FAULT_DELAY=300ms"}, rollout.VerdictAbort, "latency-p95"},
		{"failing", push(`{"v":"failing"}`), []string{"TRANSCEPT_FAULT_ERROR_RATE=0.5"}, rollout.VerdictAbort, "error-ratio"},
		{"good", push(`{"v":"good"}`), nil, rollout.VerdictPromote, ""},
	}
	// Rollout n's challenger revision is named by its version and the seq
	// of its start record: three records (start, analysis, decision) each.
	revisions := []string{champRev}
	for i, s := range scenarios {
		revisions = append(revisions, fmt.Sprintf("transcept-summarize-%s-r%d", s.version.ID, 1+3*i))
	}

	// The function instances: champion first, then the challengers.
	var instances []*summarizeInstance
	var targets strings.Builder
	for i, rev := range revisions {
		dir := t.TempDir()
		st, err := fs.New(dir)
		if err != nil {
			t.Fatal(err)
		}
		in := &summarizeInstance{revision: rev, addr: svctest.FreeAddr(t), store: st}
		env := []string{"LISTEN_ADDRESS=" + in.addr, "TRANSCEPT_STORE_DIR=" + dir, "TRANSCEPT_LOG_LEVEL=error"}
		if i > 0 {
			env = append(env, scenarios[i-1].env...)
		}
		startProc(t, rev, []string{bin, "function", "summarize"}, env)
		instances = append(instances, in)
		fmt.Fprintf(&targets, "      - targets: ['%s']\n        labels: {revision: %s, service: transcept-summarize}\n", in.addr, rev)
	}
	for _, in := range instances {
		waitReady(t, "http://"+in.addr+"/health/readiness", 30*time.Second)
	}
	dctx, stopTraffic := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, in := range instances {
		wg.Add(1)
		go func() { defer wg.Done(); in.drive(dctx, t) }()
	}
	defer func() { stopTraffic(); wg.Wait() }()

	// Prometheus, scraping every second.
	pdir := t.TempDir()
	cfg := "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: transcept-functions\n    static_configs:\n" + targets.String()
	if err := os.WriteFile(filepath.Join(pdir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	paddr := svctest.FreeAddr(t)
	var plog bytes.Buffer
	p := exec.Command(prom, "--config.file="+filepath.Join(pdir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(pdir, "data"),
		"--web.listen-address="+paddr, "--log.level=warn")
	p.Stdout, p.Stderr = &plog, &plog
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Process.Kill(); _ = p.Wait() }()
	q, err := prometheus.New("http://" + paddr)
	if err != nil {
		t.Fatal(err)
	}
	const window = 5 * time.Second
	// Wait until every revision has a window of stage rates.
	ready := fmt.Sprintf(`count(count_over_time(transcept_stage_duration_seconds_count{stage="summarize"}[%ds]) >= %d)`, int(window/time.Second), int(window/time.Second)-1)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if n, ok, err := q.Query(ctx, ready); err == nil && ok && int(n) >= len(revisions) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus has no window of data for every revision after 30 s:\n%s", plog.String())
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("traffic and scrapes ready after %v", time.Since(began).Round(100*time.Millisecond))

	policy := rollout.DefaultPolicy().With(time.Second, 4, window)
	for i, s := range scenarios {
		if _, err := ro.Registry.Alias(ctx, "distilbart", "challenger", s.version.ID, "test", s.name, ""); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		rec, err := ro.Start(ctx, rollout.StartOptions{Function: "summarize", Model: "distilbart@challenger", Percent: 10, Who: "test", Why: s.name})
		if err != nil {
			t.Fatal(err)
		}
		if rec.Challenger.Revision != revisions[i+1] || rec.Champion.Revision != champRev {
			t.Fatalf("%s: rollout of %s against %s, want %s against %s", s.name, rec.Challenger.Revision, rec.Champion.Revision, revisions[i+1], champRev)
		}
		rep, _, err := ro.Analyze(ctx, "summarize", &rollout.Analysis{Policy: policy, Querier: q}, "test")
		if err != nil {
			t.Fatal(err)
		}
		dec, err := ro.Decide(ctx, "summarize", "test", rep)
		if err != nil {
			t.Fatal(err)
		}
		var vals []string
		for _, m := range rep.Metrics {
			vals = append(vals, fmt.Sprintf("%s %s/%s (%d ok, %d failed, %d no data)", m.Name, m.Challenger.String(), m.Champion.String(), m.Successful, m.Failed, m.Inconclusive))
		}
		t.Logf("%s: %s after %d measurements in %v: %s; %s", s.name, rep.Verdict, len(rep.Measurements)/len(rep.Metrics),
			time.Since(start).Round(100*time.Millisecond), strings.Join(vals, ", "), rep.Reason)
		if rep.Verdict != s.verdict || dec == nil {
			t.Fatalf("%s: verdict %s (%s), want %s", s.name, rep.Verdict, rep.Reason, s.verdict)
		}
		if s.metric != "" && !strings.HasPrefix(rep.Reason, s.metric+" failed") {
			t.Errorf("%s: aborted for %q, want %s", s.name, rep.Reason, s.metric)
		}
		// What was measured is what the faults do.
		errRatio, p95 := rep.Metrics[0], rep.Metrics[1]
		switch s.name {
		case "slow":
			if p95.Challenger == nil || *p95.Challenger < 0.256 || p95.Champion == nil || *p95.Champion > 0.064 {
				t.Errorf("slow: p95 %s against %s, want the challenger over 256 ms and the champion under 64 ms", p95.Challenger.String(), p95.Champion.String())
			}
		case "failing":
			if errRatio.Challenger == nil || *errRatio.Challenger < 0.2 || *errRatio.Challenger > 0.8 || errRatio.Champion == nil || *errRatio.Champion != 0 {
				t.Errorf("failing: error ratio %s against %s, want about 0.5 against 0", errRatio.Challenger.String(), errRatio.Champion.String())
			}
		case "good":
			if errRatio.Challenger == nil || *errRatio.Challenger != 0 || len(rep.Measurements) != 2*policy.Count {
				t.Errorf("good: error ratio %s, %d measurements", errRatio.Challenger.String(), len(rep.Measurements))
			}
		}
	}
	stopTraffic()
	wg.Wait()
	if f := instances[2].failed.Load(); f == 0 || instances[0].failed.Load() != 0 || instances[3].failed.Load() != 0 {
		t.Errorf("500s: champion %d, failing %d, good %d", instances[0].failed.Load(), f, instances[3].failed.Load())
	}

	// The rollout log: three rollouts, each start, analysis, decision.
	log, err := ro.Log(ctx, "summarize")
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, r := range log {
		steps = append(steps, r.Action+":"+r.State)
		if r.Action != rollout.ActionStart && (r.Analysis == nil || r.PolicyVersion != policy.Version || r.Who != "test") {
			t.Errorf("record #%d (%s) lacks its analysis, policy version or author: %+v", r.Seq, r.Action, r)
		}
	}
	want := "start:analyzing analysis:analyzing abort:aborted start:analyzing analysis:analyzing abort:aborted start:analyzing analysis:analyzing promote:promoted"
	if got := strings.Join(steps, " "); got != want {
		t.Errorf("rollout log:\n got %s\nwant %s", got, want)
	}
	// The champion alias moved once, by the promotion, with the report.
	h, err := ro.Registry.History(ctx, "distilbart")
	if err != nil {
		t.Fatal(err)
	}
	var moves []registry.Entry
	for _, e := range h {
		if e.Alias == "champion" {
			moves = append(moves, e)
		}
	}
	promo := log[len(log)-1]
	if len(moves) != 2 || moves[1].From != champion.ID || moves[1].To != scenarios[2].version.ID || moves[1].Seq != promo.AliasSeq ||
		moves[1].Report == "" || moves[1].Report != promo.ReportKey || !strings.Contains(moves[1].Why, "rollout #7") {
		t.Fatalf("champion alias moves %+v; promote record alias #%d report %s", moves, promo.AliasSeq, promo.ReportKey)
	}
	rc, err := regStore.Get(ctx, registry.BucketModels, moves[1].Report)
	if err != nil {
		t.Fatal(err)
	}
	var stored rollout.Report
	err = json.NewDecoder(rc).Decode(&stored)
	rc.Close()
	if err != nil || stored.Verdict != rollout.VerdictPromote || stored.Challenger != revisions[3] || stored.PolicyVersion != policy.Version || len(stored.Measurements) != 2*policy.Count {
		t.Errorf("the report of the alias move: %+v, %v", stored, err)
	}
	// The Service ends with the good challenger serving everything.
	tt, err := plat.Traffic(ctx, "transcept-summarize")
	if err != nil || len(tt) != 2 || tt[1].Revision != revisions[3] || tt[1].Percent != 100 || tt[0].Percent != 0 {
		t.Errorf("final traffic %+v %v", tt, err)
	}
	t.Logf("canary analysis test took %v", time.Since(began).Round(100*time.Millisecond))
}
