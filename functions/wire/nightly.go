package wire

// The nightly evaluation (the eval function, triggered by a PingSource;
// `transcept serve`'s POST /eval): each champion's gate evaluation on the
// eval set, exported as transcept_eval_* and announced as
// transcept.model.evaluated; then the drift of the last day's lectures
// against the eval set, announced as transcept.model.retrain.requested
// when beyond the threshold.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"time"

	"github.com/transcept/transcept/shared/evalset"
	"github.com/transcept/transcept/shared/eventing"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/metrics"
	"github.com/transcept/transcept/shared/pipeline"
	modelreg "github.com/transcept/transcept/shared/registry"
	"github.com/transcept/transcept/shared/registry/gate"
	"github.com/transcept/transcept/shared/retrieval"
)

// Champion is the alias the nightly evaluation evaluates.
const Champion = "champion"

// EvalTasks are the tasks the nightly evaluation runs.
var EvalTasks = []string{gate.Summarize, gate.QA, gate.Transcribe}

// DriftWindow is how far back the nightly drift score looks.
const DriftWindow = 24 * time.Hour

// EvalReport is one champion's nightly evaluation, kept in the eval bucket
// (reports-<day>/<task>-<model>-<version>.json) and, for a registry
// version, with the version too. Its summary is the data of
// transcept.model.evaluated.
type EvalReport struct {
	Task    string             `json:"task"`
	Model   string             `json:"model"`   // registry name, or the configured engine
	Version string             `json:"version"` // registry version, or the engine's model ("builtin": none)
	EvalSet string             `json:"eval_set"`
	Scores  map[string]float64 `json:"scores"` // rouge1, rouge2, rougeL, coverage, decline, wer
	Subject gate.Subject       `json:"subject"`
	// Key is the report's key in the eval bucket; RegistryKey its key with
	// the registry version (models bucket).
	Key         string    `json:"key"`
	RegistryKey string    `json:"registry_key,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// Nightly is the outcome of one nightly evaluation.
type Nightly struct {
	EvalSet string                `json:"eval_set"`
	Reports []EvalReport          `json:"reports"`
	Failed  map[string]string     `json:"failed,omitempty"` // task -> error
	Drift   *evalset.DriftResult  `json:"drift,omitempty"`
	Events  []eventing.CloudEvent `json:"-"` // sent (or, without a sender, made)
}

// Scores are the gate metrics the nightly evaluation exports, by task.
func Scores(task string, m gate.Metrics) map[string]float64 {
	switch task {
	case gate.Summarize:
		return map[string]float64{"rouge1": m.Rouge1, "rouge2": m.Rouge2, "rougeL": m.RougeL}
	case gate.QA:
		return map[string]float64{"coverage": m.Coverage, "decline": m.Decline}
	case gate.Transcribe:
		return map[string]float64{"wer": m.WER}
	}
	return nil
}

// subject is what one nightly run evaluates: a registry champion or a
// configured engine.
type subject struct {
	task, model, version, spec string
	v                          *modelreg.Version
	engines                    *Engines
}

// champions lists the registry's champions by task.
func (s *Suite) champions(ctx context.Context, ev *Evaluator) (map[string][]subject, error) {
	reg := ev.Registry()
	names, err := reg.List(ctx)
	if err != nil && lecture.ErrorCode(err) != lecture.ENOTFOUND {
		return nil, err
	}
	out := map[string][]subject{}
	for _, name := range names {
		aliases, err := reg.Aliases(ctx, name)
		if err != nil || aliases[Champion] == "" {
			continue
		}
		spec := name + "@" + aliases[Champion]
		task, err := ev.TaskOf(ctx, spec)
		if err != nil {
			return nil, err
		}
		out[task] = append(out[task], subject{task: task, model: name, version: aliases[Champion], spec: spec})
	}
	return out, nil
}

// configured are the suite's own engines per task, for the tasks without a
// registry champion.
func (s *Suite) configured() map[string]subject {
	svc := s.Service
	version := func(model string) string {
		if model == "" {
			return "builtin"
		}
		return model
	}
	out := map[string]subject{}
	sm := svc.Summarizer
	out[gate.Summarize] = subject{task: gate.Summarize, model: sm.Name(), version: version(s.Models.Label("TRANSCEPT_SUMMARY_MODEL", sm.Model())), spec: "configured", engines: &Engines{Summarizer: sm}}
	qa := subject{task: gate.QA, model: svc.Answerer.Name(), version: "builtin", spec: "configured", engines: &Engines{Answerer: svc.Answerer, Embedder: svc.Answerer.Embedder}}
	if svc.Answerer.Embedder != nil {
		qa.version = s.Models.Label("TRANSCEPT_EMBED_MODEL", svc.Answerer.Embedder.Model())
	}
	if svc.LM != nil {
		qa.model = svc.LM.Name()
		qa.engines.Answerer = nightlyLM{svc.LM}
	}
	out[gate.QA] = qa
	if tx := svc.Transcriber; tx != nil {
		out[gate.Transcribe] = subject{task: gate.Transcribe, model: tx.Name(), version: version(s.Models.Label("TRANSCEPT_WHISPER_MODEL", tx.Model())), spec: "configured", engines: &Engines{Transcriber: tx}}
	}
	return out
}

// RunNightly runs the nightly evaluation once. send delivers the
// CloudEvents (K_SINK); nil keeps them in the result only. An error is
// returned when nothing could be evaluated; a task that failed is in
// Failed, counted as transcept_eval_runs_total{outcome="error"}.
func (s *Suite) RunNightly(ctx context.Context, send func(context.Context, eventing.CloudEvent) error, progress io.Writer) (*Nightly, error) {
	now := time.Now().UTC()
	m := s.Metrics
	st := s.Service.Store
	dir, label, set, err := EvalData(ctx, s.Config, st, "")
	if err != nil {
		m.CountEvalRun("all", "error")
		return nil, err
	}
	ev := &Evaluator{Config: s.Config, Policy: gate.DefaultPolicy(), Data: dir, Progress: progress, Store: st}
	if set != nil {
		ev.Policy = set.Policy(ev.Policy)
	}
	n := &Nightly{EvalSet: label, Failed: map[string]string{}}
	emit := func(typ, subj string, data any) {
		ce, err := eventing.NewModelEvent(ctx, typ, subj, data, time.Now().UTC())
		if err != nil {
			s.Log.Error("event not made", "type", typ, "err", err)
			return
		}
		n.Events = append(n.Events, ce)
		if send == nil {
			return
		}
		if err := send(ctx, ce); err != nil {
			m.CountEvent(typ, "error")
			s.Log.Error("event not delivered", "type", typ, "err", err)
			return
		}
		m.CountEvent(typ, "sent")
	}
	champs, err := s.champions(ctx, ev)
	if err != nil {
		m.CountEvalRun("all", "error")
		return nil, err
	}
	conf := s.configured()
	var subjects []subject
	for _, task := range EvalTasks {
		if set != nil && set.Count(task) == 0 {
			s.Log.Info("nightly evaluation: the eval set has no items for the task", "task", task, "eval_set", set.Version)
			continue
		}
		if len(champs[task]) > 0 {
			subjects = append(subjects, champs[task]...)
		} else if c, ok := conf[task]; ok {
			subjects = append(subjects, c)
		}
	}
	for _, sub := range subjects {
		r, err := s.evaluateOne(ctx, ev, sub, label, now)
		if err != nil {
			m.CountEvalRun(sub.task, "error")
			n.Failed[sub.task] = lecture.ErrorMessage(err)
			s.Log.Error("nightly evaluation failed", "task", sub.task, "model", sub.model, "err", err)
			continue
		}
		m.CountEvalRun(sub.task, "ok")
		m.SetEvalRun(metrics.EvalRun{Task: r.Task, Model: r.Model, Version: r.Version, Scores: r.Scores,
			P50: time.Duration(r.Subject.Metrics.P50MS * float64(time.Millisecond)), P95: time.Duration(r.Subject.Metrics.P95MS * float64(time.Millisecond))}, time.Now())
		n.Reports = append(n.Reports, *r)
		emit(lecture.ModelEvaluated, r.Task+"/"+r.Model+"@"+r.Version, r.summary())
		s.Log.Info("nightly evaluation", "task", r.Task, "model", r.Model, "version", r.Version, "scores", r.Scores, "report", r.Key)
	}
	if set != nil {
		m.SetEvalSet(set.Version, len(set.Items))
		recent, err := evalset.Recent(ctx, st, now, DriftWindow)
		switch {
		case err != nil:
			n.Failed["drift"] = lecture.ErrorMessage(err)
		case len(recent) < s.Config.Quality.DriftMinLectures || len(recent) == 0:
			s.Log.Info("drift not scored: too few lectures in the window", "lectures", len(recent), "min", s.Config.Quality.DriftMinLectures)
		default:
			d := evalset.Score(set, recent, s.Config.Quality.DriftThreshold)
			d.Window = DriftWindow.String()
			n.Drift = &d
			features := make([]string, 0, len(d.Scores))
			for f := range d.Scores {
				features = append(features, f)
			}
			sort.Strings(features)
			for _, f := range features {
				m.SetDrift(evalset.DriftStage, f, d.Scores[f])
			}
			_ = putReport(ctx, st, evalset.DayPrefix("reports", now)+"drift.json", d)
			if len(d.Exceeded) > 0 {
				m.CountRetrain("drift")
				emit(lecture.RetrainRequested, "drift", d)
				s.Log.Warn("input drift beyond the threshold: retraining requested", "scores", d.Scores, "threshold", d.Threshold)
			}
		}
	}
	if len(n.Reports) == 0 && len(subjects) > 0 {
		return n, lecture.Errorf(lecture.EUNAVAILABLE, "nightly evaluation: every task failed: %v", n.Failed)
	}
	return n, nil
}

// summary is the data of transcept.model.evaluated: the report without
// the gate's full subject.
func (r *EvalReport) summary() map[string]any {
	return map[string]any{
		"task": r.Task, "model": r.Model, "version": r.Version, "eval_set": r.EvalSet, "scores": r.Scores,
		"items": r.Subject.Metrics.Items, "latency_p50_ms": r.Subject.Metrics.P50MS, "latency_p95_ms": r.Subject.Metrics.P95MS,
		"report": r.Key, "registry_report": r.RegistryKey, "created_at": r.CreatedAt,
	}
}

var unsafeKey = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func (s *Suite) evaluateOne(ctx context.Context, ev *Evaluator, sub subject, label string, now time.Time) (*EvalReport, error) {
	var subj gate.Subject
	var v *modelreg.Version
	var err error
	if sub.engines != nil {
		subj = gate.Subject{Spec: sub.spec, Engine: sub.model, Model: sub.version}
		subj, err = ev.EvaluateEngines(ctx, sub.task, *sub.engines, subj)
	} else {
		subj, v, err = ev.Evaluate(ctx, sub.task, sub.spec)
	}
	if err != nil {
		return nil, err
	}
	r := &EvalReport{Task: sub.task, Model: sub.model, Version: sub.version, EvalSet: label, Scores: Scores(sub.task, subj.Metrics), Subject: subj, CreatedAt: now}
	name := unsafeKey.ReplaceAllString(fmt.Sprintf("%s-%s-%s", sub.task, sub.model, sub.version), "_")
	r.Key = evalset.DayPrefix("reports", now) + name + ".json"
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	if v != nil {
		if r.RegistryKey, err = ev.Registry().AttachReport(ctx, *v, b); err != nil {
			return nil, err
		}
		b, _ = json.MarshalIndent(r, "", "  ")
	}
	if err := s.Service.Store.Put(ctx, evalset.Bucket, r.Key, bytes.NewReader(b), int64(len(b)), "application/json"); err != nil {
		return nil, err
	}
	return r, nil
}

func putReport(ctx context.Context, st lecture.ObjectStore, key string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return st.Put(ctx, evalset.Bucket, key, bytes.NewReader(b), int64(len(b)), "application/json")
}

// nightlyLM is the suite's language model as a gate.Answerer.
type nightlyLM struct{ lm pipeline.GroundedAnswerer }

func (a nightlyLM) Answer(ctx context.Context, ix *retrieval.Index, q string) (*lecture.Answer, error) {
	return a.lm.Answer(ctx, ix, q, nil)
}
