package rollout_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/registry"
	"github.com/transcept/transcept/shared/rollout"
	"github.com/transcept/transcept/shared/store/fs"
)

// fakePlatform keeps one Service's traffic in memory.
type fakePlatform struct {
	serving string            // the revision at 100% before a rollout
	traffic map[string]int    // revision -> percent
	env     map[string]string // the last plan's settings
	calls   int
}

func (f *fakePlatform) Start(_ context.Context, p rollout.Plan) (string, string, []string, error) {
	f.calls++
	f.env = p.Env
	champion := f.serving
	f.traffic = map[string]int{champion: 100 - p.Percent, p.Revision: p.Percent}
	return champion, "", []string{"kn service update " + p.Service}, nil
}

func (f *fakePlatform) SetTraffic(_ context.Context, _, champion, challenger string, pct int) ([]string, error) {
	f.calls++
	f.traffic = map[string]int{champion: 100 - pct, challenger: pct}
	if pct == 100 {
		f.serving = challenger
	}
	return []string{"kn"}, nil
}

func (f *fakePlatform) Traffic(context.Context, string) ([]rollout.Target, error) { return nil, nil }

// fakeProm answers each query by the revision it names: errRatio and p95
// per revision; a missing revision has no data.
type fakeProm struct {
	errRatio, p95 map[string]float64
	err           error
	queries       []string
}

func (f *fakeProm) Query(_ context.Context, q string) (float64, bool, error) {
	f.queries = append(f.queries, q)
	if f.err != nil {
		return 0, false, f.err
	}
	m := f.p95
	if strings.Contains(q, `outcome="error"`) {
		m = f.errRatio
	}
	for rev, v := range m {
		if strings.Contains(q, `revision="`+rev+`"`) {
			return v, !math.IsNaN(v), nil
		}
	}
	return 0, false, nil
}

type env struct {
	r    *rollout.Rollouts
	reg  *registry.Registry
	plat *fakePlatform
	v1   registry.Version // the champion
	v2   registry.Version // the challenger
}

func setup(t *testing.T) *env {
	t.Helper()
	st, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	plat := &fakePlatform{serving: "transcept-summarize-00001"}
	r := rollout.New(st, plat)
	ctx := context.Background()
	push := func(content string) registry.Version {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		v, err := r.Registry.Push(ctx, dir, "bart", registry.Meta{CreatedBy: "test"})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	e := &env{r: r, reg: r.Registry, plat: plat, v1: push(`{"v":1}`), v2: push(`{"v":2}`)}
	if _, err := r.Registry.Alias(ctx, "bart", "champion", e.v1.ID, "test", "first", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Registry.Alias(ctx, "bart", "challenger", e.v2.ID, "test", "candidate", ""); err != nil {
		t.Fatal(err)
	}
	return e
}

func fastPolicy(t *testing.T) *rollout.Policy {
	return rollout.DefaultPolicy().With(time.Millisecond, 4, 5*time.Second)
}

func TestDefaultPolicy(t *testing.T) {
	p := rollout.DefaultPolicy()
	if p.Version == "" || len(p.Metrics) != 2 || p.Count < 1 || p.FailureLimit != 1 {
		t.Fatalf("default policy: %+v", p)
	}
	for _, m := range p.Metrics {
		if !strings.Contains(m.Query, "{{revision}}") || !strings.Contains(m.Query, "{{window}}") {
			t.Errorf("%s: query %q does not select the revision and window", m.Name, m.Query)
		}
	}
	for _, bad := range []string{
		`{"version":"1","interval":"1s","count":1,"window":"1m","metrics":[{"name":"x","query":"up{revision=\"{{revision}}\"}","successCondition":"result <="}]}`,
		`{"version":"1","interval":"1s","count":1,"window":"1m","metrics":[{"name":"x","query":"up","successCondition":"result < 1"}]}`,
		`{"version":"1","interval":"1s","count":0,"window":"1m","metrics":[{"name":"x","query":"up{revision=\"{{revision}}\"}","successCondition":"result < 1"}]}`,
		`{"interval":"1s","count":1,"window":"1m","metrics":[{"name":"x","query":"up{revision=\"{{revision}}\"}","successCondition":"result < 1"}]}`,
		`{"version":"1","interval":"1s","count":1,"window":"1m","metrics":[{"name":"x","query":"up{revision=\"{{revision}}\"}","successCondition":"result"}]}`,
		`{"version":"1","interval":"soon","count":1,"window":"1m","metrics":[]}`,
	} {
		if _, err := rollout.ParsePolicy([]byte(bad)); lecture.ErrorCode(err) != lecture.EINVALID {
			t.Errorf("policy accepted (%v): %s", err, bad)
		}
	}
}

// The analysis decides by the policy: a failing or slow challenger is
// aborted at the second failed measurement, an equal one promoted after
// the count, one without data is inconclusive.
func TestAnalysisVerdicts(t *testing.T) {
	const champ, chall = "rev-champ", "rev-chall"
	cases := []struct {
		name          string
		errRatio, p95 map[string]float64
		verdict       string
		rounds        int // measurements taken
		failedMetric  string
	}{
		{"equal", map[string]float64{champ: 0, chall: 0}, map[string]float64{champ: 0.004, chall: 0.0045}, rollout.VerdictPromote, 4, ""},
		{"failing", map[string]float64{champ: 0, chall: 0.3}, map[string]float64{champ: 0.004, chall: 0.004}, rollout.VerdictAbort, 2, "error-ratio"},
		{"3 points more errors than the champion", map[string]float64{champ: 0.01, chall: 0.04}, map[string]float64{champ: 0.004, chall: 0.004}, rollout.VerdictAbort, 2, "error-ratio"},
		{"slow", map[string]float64{champ: 0, chall: 0}, map[string]float64{champ: 0.004, chall: 0.25}, rollout.VerdictAbort, 2, "latency-p95"},
		{"slow in the +Inf bucket", map[string]float64{champ: 0, chall: 0}, map[string]float64{champ: 0.004, chall: math.Inf(1)}, rollout.VerdictAbort, 2, "latency-p95"},
		{"within 1.2x", map[string]float64{champ: 0.01, chall: 0.02}, map[string]float64{champ: 2, chall: 2.3}, rollout.VerdictPromote, 4, ""},
		{"no traffic", map[string]float64{}, map[string]float64{}, rollout.VerdictInconclusive, 4, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := &fakeProm{errRatio: c.errRatio, p95: c.p95}
			pol := fastPolicy(t)
			pol.InconclusiveLimit = 3
			a := &rollout.Analysis{Policy: pol, Querier: q}
			rep, err := a.Run(context.Background(), rollout.Targets{Function: "summarize", Service: "transcept-summarize", Champion: champ, Challenger: chall})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Verdict != c.verdict || len(rep.Measurements) != c.rounds*2 {
				t.Fatalf("verdict %s after %d measurements (%s), want %s after %d", rep.Verdict, len(rep.Measurements), rep.Reason, c.verdict, c.rounds*2)
			}
			if c.failedMetric != "" && !strings.HasPrefix(rep.Reason, c.failedMetric+" failed 2 of 2") {
				t.Errorf("reason %q does not name %s", rep.Reason, c.failedMetric)
			}
			if !strings.Contains(q.queries[0], `stage="summarize"`) || !strings.Contains(q.queries[0], "[5s]") {
				t.Errorf("query not rendered: %s", q.queries[0])
			}
		})
	}
}

func TestRolloutPromoteRecordsAndMovesAlias(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	rec, err := e.r.Start(ctx, rollout.StartOptions{Function: "summarize", Model: "bart@challenger", Percent: 10, Who: "ana", Why: "new fine-tune"})
	if err != nil {
		t.Fatal(err)
	}
	wantRev := "transcept-summarize-" + e.v2.ID + "-r1"
	if rec.Seq != 1 || rec.State != rollout.StateAnalyzing || rec.Challenger.Revision != wantRev || rec.Challenger.Version != e.v2.ID ||
		rec.Champion.Revision != "transcept-summarize-00001" || rec.Percent != 10 || rec.Who != "ana" {
		t.Fatalf("start record %+v", rec)
	}
	if e.plat.traffic[wantRev] != 10 || e.plat.traffic["transcept-summarize-00001"] != 90 {
		t.Errorf("traffic %v", e.plat.traffic)
	}
	if e.plat.env["TRANSCEPT_SUMMARY_MODEL"] != "registry://bart@"+e.v2.ID || e.plat.env["TRANSCEPT_SUMMARIZER"] != "bart" {
		t.Errorf("challenger settings %v: want the version pinned", e.plat.env)
	}
	if _, err := e.r.Start(ctx, rollout.StartOptions{Function: "summarize", Model: "bart@challenger", Percent: 10}); lecture.ErrorCode(err) != lecture.ECONFLICT {
		t.Errorf("a second start during a rollout: %v", err)
	}
	q := &fakeProm{errRatio: map[string]float64{rec.Champion.Revision: 0, wantRev: 0}, p95: map[string]float64{rec.Champion.Revision: 0.01, wantRev: 0.011}}
	rep, arec, err := e.r.Analyze(ctx, "summarize", &rollout.Analysis{Policy: fastPolicy(t), Querier: q}, "ci")
	if err != nil || rep.Verdict != rollout.VerdictPromote || arec.Seq != 2 || arec.Analysis == nil || arec.PolicyVersion != rollout.DefaultPolicy().Version {
		t.Fatalf("analysis: %+v %+v %v", rep, arec, err)
	}
	prec, err := e.r.Decide(ctx, "summarize", "ci", rep)
	if err != nil {
		t.Fatal(err)
	}
	if prec.Action != rollout.ActionPromote || prec.State != rollout.StatePromoted || prec.Percent != 100 || e.plat.traffic[wantRev] != 100 {
		t.Errorf("promote record %+v, traffic %v", prec, e.plat.traffic)
	}
	h, err := e.reg.History(ctx, "bart")
	if err != nil {
		t.Fatal(err)
	}
	last := h[len(h)-1]
	if len(h) != 3 || last.Alias != "champion" || last.From != e.v1.ID || last.To != e.v2.ID || last.Report == "" || last.Report != prec.ReportKey || last.Seq != prec.AliasSeq {
		t.Fatalf("alias history %+v (promote record %+v)", h, prec)
	}
	m, err := e.reg.Manifest(ctx, e.v2)
	if err != nil || len(m.Reports) != 1 || m.Reports[0] != last.Report {
		t.Errorf("report attached to %s: %v %v", e.v2, m.Reports, err)
	}
	log, err := e.r.Log(ctx, "summarize")
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, r := range log {
		actions = append(actions, fmt.Sprintf("%d:%s:%s", r.Seq, r.Action, r.State))
	}
	if got := strings.Join(actions, " "); got != "1:start:analyzing 2:analysis:analyzing 3:promote:promoted" {
		t.Errorf("log %s", got)
	}
	// Nothing in progress now.
	for _, f := range []func() error{
		func() error { _, err := e.r.Promote(ctx, "summarize", "", "", nil); return err },
		func() error { _, err := e.r.Abort(ctx, "summarize", "", "", nil); return err },
		func() error {
			_, _, err := e.r.Analyze(ctx, "summarize", &rollout.Analysis{Policy: fastPolicy(t), Querier: q}, "")
			return err
		},
	} {
		if err := f(); lecture.ErrorCode(err) != lecture.ENOTFOUND || !strings.Contains(lecture.ErrorMessage(err), "no rollout of summarize in progress") {
			t.Errorf("after promote: %v", err)
		}
	}
	// The next rollout starts from the promoted revision.
	rec2, err := e.r.Start(ctx, rollout.StartOptions{Function: "summarize", Model: "bart@" + e.v1.ID, Percent: 50})
	if err != nil || rec2.Champion.Revision != wantRev || rec2.Rollout != 4 || rec2.Challenger.Revision != "transcept-summarize-"+e.v1.ID+"-r4" {
		t.Fatalf("second rollout: %+v %v", rec2, err)
	}
}

func TestRolloutAbortLeavesRegistry(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	rec, err := e.r.Start(ctx, rollout.StartOptions{Function: "summarize", Model: "bart@challenger", Percent: 20})
	if err != nil {
		t.Fatal(err)
	}
	q := &fakeProm{errRatio: map[string]float64{rec.Champion.Revision: 0, rec.Challenger.Revision: 0.5}, p95: map[string]float64{rec.Champion.Revision: 0.01, rec.Challenger.Revision: 0.01}}
	rep, _, err := e.r.Analyze(ctx, "summarize", &rollout.Analysis{Policy: fastPolicy(t), Querier: q}, "")
	if err != nil || rep.Verdict != rollout.VerdictAbort {
		t.Fatalf("analysis %+v %v", rep, err)
	}
	arec, err := e.r.Decide(ctx, "summarize", "ci", rep)
	if err != nil || arec.State != rollout.StateAborted || arec.Percent != 0 || e.plat.traffic[rec.Champion.Revision] != 100 || e.plat.traffic[rec.Challenger.Revision] != 0 {
		t.Fatalf("abort %+v %v, traffic %v", arec, err, e.plat.traffic)
	}
	if !strings.Contains(arec.Why, "error-ratio failed") || arec.Analysis == nil {
		t.Errorf("abort record does not say why: %+v", arec)
	}
	if a, _ := e.reg.Aliases(ctx, "bart"); a["champion"] != e.v1.ID {
		t.Errorf("champion moved on abort: %v", a)
	}
}

// Wrong input changes nothing: no platform call, no log entry.
func TestRolloutBadInput(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		o    rollout.StartOptions
		code string
		msg  string
	}{
		{"unknown function", rollout.StartOptions{Function: "gateway", Model: "bart@challenger", Percent: 10}, lecture.EINVALID, "unknown function"},
		{"unknown alias", rollout.StartOptions{Function: "summarize", Model: "bart@staging", Percent: 10}, lecture.ENOTFOUND, "no alias staging"},
		{"unknown model", rollout.StartOptions{Function: "summarize", Model: "t5@challenger", Percent: 10}, lecture.ENOTFOUND, ""},
		{"no alias", rollout.StartOptions{Function: "summarize", Model: "bart", Percent: 10}, lecture.EINVALID, "NAME@ALIAS"},
		{"percent 0", rollout.StartOptions{Function: "summarize", Model: "bart@challenger", Percent: 0}, lecture.EINVALID, "1 to 99"},
		{"percent 100", rollout.StartOptions{Function: "summarize", Model: "bart@challenger", Percent: 100}, lecture.EINVALID, "1 to 99"},
	} {
		_, err := e.r.Start(ctx, c.o)
		if lecture.ErrorCode(err) != c.code || !strings.Contains(lecture.ErrorMessage(err), c.msg) {
			t.Errorf("%s: %v, want %s mentioning %q", c.name, err, c.code, c.msg)
		}
	}
	if _, err := e.r.Promote(ctx, "summarize", "", "", nil); lecture.ErrorCode(err) != lecture.ENOTFOUND {
		t.Errorf("promote with no rollout: %v", err)
	}
	if _, err := e.r.Abort(ctx, "summarize", "", "", nil); lecture.ErrorCode(err) != lecture.ENOTFOUND {
		t.Errorf("abort with no rollout: %v", err)
	}
	if e.plat.calls != 0 {
		t.Errorf("the platform was called %d times", e.plat.calls)
	}
	// Prometheus unreachable: an error, nothing recorded, traffic unchanged.
	if _, err := e.r.Start(ctx, rollout.StartOptions{Function: "summarize", Model: "bart@challenger", Percent: 10}); err != nil {
		t.Fatal(err)
	}
	before := fmt.Sprint(e.plat.traffic)
	down := &fakeProm{err: lecture.Wrap(lecture.EUNAVAILABLE, errors.New("connection refused"), "Prometheus at http://127.0.0.1:1 unreachable")}
	_, _, err := e.r.Analyze(ctx, "summarize", &rollout.Analysis{Policy: fastPolicy(t), Querier: down}, "")
	if lecture.ErrorCode(err) != lecture.EUNAVAILABLE || !strings.Contains(lecture.ErrorMessage(err), "unreachable") {
		t.Errorf("analysis with Prometheus down: %v", err)
	}
	if log, _ := e.r.Log(ctx, "summarize"); len(log) != 1 || fmt.Sprint(e.plat.traffic) != before {
		t.Errorf("Prometheus down changed something: %d records, traffic %v", len(log), e.plat.traffic)
	}
}
