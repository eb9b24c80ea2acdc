package main

// transcept eval gate: the offline evaluation gate between two models.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/transcept/transcept/functions/wire"
	"github.com/transcept/transcept/gpu-runtime/embed"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/gpu-runtime/rag"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/eval"
	"github.com/transcept/transcept/shared/extractive"
	"github.com/transcept/transcept/shared/lecture"
	modelreg "github.com/transcept/transcept/shared/registry"
	"github.com/transcept/transcept/shared/registry/gate"
	"github.com/transcept/transcept/shared/retrieval"
)

const gateHelp = `Usage: transcept eval gate --task summarize|qa|transcribe --candidate SPEC --baseline SPEC [options]

Runs the same evaluation on a candidate and a baseline and exits 1 when the
candidate regresses beyond the policy's thresholds (default: the committed
shared/registry/gate/gate-policy.json: ROUGE-L -0.5 point, WER +1 point,
latency p95 +20%):

  summarize   ROUGE-1/2/L on the first SummEval-100 articles (at LEAD-3's
              length) and QMSum Academic/val meetings (at the reference's)
  qa          QMSum ALL/val: share of its specific questions answered, share
              of off-topic questions declined
  transcribe  corpus WER on the speech clips (../shared/data/audio)

each with latency p50/p95 and peak memory (Go heap, resident set). SPEC is
a registry version (NAME@ALIAS, NAME@VERSION, registry://NAME@ALIAS), a
model folder, or for tests and baselines: extractive, extractive:ratio=R
(summarize), extractive:min-coverage=C (qa). A registry model is the summary
model (BART) for summarize, the embedder or the instruct LM for qa, Whisper
for transcribe.

The JSON report goes to stdout (and --out FILE); when the candidate is a
registry version it is also stored with it, and its key printed on stderr
for ` + "`transcept models alias NAME@champion VERSION --report KEY`" + `.
`

func cmdEvalGate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval gate", gateHelp, stderr)
	task := fs.String("task", gate.Summarize, "summarize, qa or transcribe")
	cand := fs.String("candidate", "", "the candidate model")
	base := fs.String("baseline", "", "the baseline model (the champion)")
	policyFile := fs.String("policy", "", "policy file (default: the committed gate-policy.json)")
	data := fs.String("data", "", "evaluation data folder (default: TRANSCEPT_EVAL_DATA or ../shared/data)")
	out := fs.String("out", "", "also write the report to this file")
	noStore := fs.Bool("no-store", false, "do not store the report with a registry candidate")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *cand == "" || *base == "" {
		return usageError{msg: "gate needs --candidate and --baseline, and no other arguments"}
	}
	if *task != gate.Summarize && *task != gate.QA && *task != gate.Transcribe {
		return usageError{msg: fmt.Sprintf("--task %q: want summarize, qa or transcribe", *task)}
	}
	p := gate.DefaultPolicy()
	if *policyFile != "" {
		if p, err = gate.LoadPolicy(*policyFile); err != nil {
			return err
		}
	}
	dir := *data
	if dir == "" {
		dir = eval.DataDir()
	}
	if _, err := os.Stat(dir); dir == "" || err != nil {
		return usageError{msg: fmt.Sprintf("evaluation data not found at %q: pass --data DIR", dir)}
	}
	c, err := config.FromEnv()
	if err != nil {
		return err
	}
	g := &gateRun{ctx: ctx, c: c, task: *task, policy: p, data: dir, stderr: stderr}
	if err := g.load(); err != nil {
		return err
	}
	r := &gate.Report{Task: *task, Policy: p, Data: dir, CreatedAt: time.Now().UTC()}
	var candVersion *modelreg.Version
	for _, side := range []struct {
		spec string
		s    *gate.Subject
		v    **modelreg.Version
	}{{*base, &r.Baseline, nil}, {*cand, &r.Candidate, &candVersion}} {
		s, v, err := g.evaluate(side.spec)
		if err != nil {
			return err
		}
		*side.s = s
		if side.v != nil {
			*side.v = v
		}
	}
	gate.Compare(r)
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := stdout.Write(b); err != nil {
		return err
	}
	if *out != "" {
		if err := os.WriteFile(*out, b, 0o644); err != nil {
			return lecture.Wrap(lecture.EUNAVAILABLE, err, "cannot write %s", *out)
		}
	}
	printChecks(stderr, r)
	if candVersion != nil && !*noStore {
		key, err := g.registry().AttachReport(ctx, *candVersion, b)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "report stored with %s: %s\n", candVersion, key)
	}
	if !r.Pass {
		var names []string
		for _, ch := range r.Failed() {
			names = append(names, fmt.Sprintf("%s %g -> %g (%s)", ch.Metric, ch.Baseline, ch.Candidate, ch.Limit))
		}
		return lecture.Errorf(lecture.ECONFLICT, "gate failed: %s regresses against %s: %s", *cand, *base, strings.Join(names, "; "))
	}
	fmt.Fprintf(stderr, "gate passed: %s against %s\n", *cand, *base)
	return nil
}

func printChecks(w io.Writer, r *gate.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s gate\tbaseline %s\tcandidate %s\tlimit\t\n", r.Task, r.Baseline.Spec, r.Candidate.Spec)
	for _, ch := range r.Checks {
		mark := "ok"
		if !ch.Pass {
			mark = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ch.Metric, num(ch.Baseline), num(ch.Candidate), ch.Limit, mark)
	}
	tw.Flush()
}

func num(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

// gateRun holds what both sides of a gate share: the data, the store.
type gateRun struct {
	ctx    context.Context
	c      *config.Config
	task   string
	policy gate.Policy
	data   string
	stderr io.Writer

	reg   *modelreg.Registry
	docs  []gate.Doc
	meets []eval.QMSumMeeting
	clips []eval.Clip
}

func (g *gateRun) load() (err error) {
	switch g.task {
	case gate.Summarize:
		g.docs, err = gate.SummaryDocs(g.data, g.policy)
	case gate.QA:
		g.meets, err = gate.QAMeetings(g.data, g.policy)
	case gate.Transcribe:
		g.clips, err = gate.Clips(g.data, g.policy)
	}
	return err
}

func (g *gateRun) registry() *modelreg.Registry {
	if g.reg == nil {
		st, err := wire.Store(g.ctx, g.c)
		if err != nil {
			g.reg = modelreg.New(failingStore{err})
		} else {
			g.reg = modelreg.New(st)
		}
	}
	return g.reg
}

// folder turns a spec into a model folder, fetching a registry version.
func (g *gateRun) folder(spec string) (string, *modelreg.Version, error) {
	if fi, err := os.Stat(spec); err == nil && fi.IsDir() {
		return spec, nil, nil
	}
	if _, _, err := modelreg.ParseRef(spec); err != nil {
		return "", nil, usageError{msg: fmt.Sprintf("%q is neither a model folder nor a registry reference (NAME@ALIAS): %s", spec, lecture.ErrorMessage(err))}
	}
	v, err := g.registry().Resolve(g.ctx, spec)
	if err != nil {
		return "", nil, err
	}
	cache := g.c.ModelCacheDir
	dir, err := g.registry().Fetch(g.ctx, v, cache)
	if err != nil {
		return "", nil, err
	}
	return dir, &v, nil
}

// extractiveSpec reads extractive[:key=value], returning the value of key.
func extractiveSpec(spec, key string) (float64, bool, error) {
	rest, ok := strings.CutPrefix(spec, "extractive")
	if !ok || (rest != "" && rest[0] != ':') {
		return 0, false, nil
	}
	if rest == "" {
		return -1, true, nil
	}
	k, v, _ := strings.Cut(rest[1:], "=")
	x, err := strconv.ParseFloat(v, 64)
	if k != key || err != nil || x < 0 || x > 1 {
		return 0, true, usageError{msg: fmt.Sprintf("%q: want extractive or extractive:%s=NUMBER from 0 to 1", spec, key)}
	}
	return x, true, nil
}

// evaluate builds the engine a spec names and runs the task's evaluation
// on it, after one warm-up item.
func (g *gateRun) evaluate(spec string) (gate.Subject, *modelreg.Version, error) {
	s := gate.Subject{Spec: spec}
	var v *modelreg.Version
	var m gate.Metrics
	var engine any // closed after the run, so the other side's memory is its own
	defer func() {
		if c, ok := engine.(io.Closer); ok {
			_ = c.Close()
		}
	}()
	switch g.task {
	case gate.Summarize:
		var sm lecture.Summarizer
		ratio, ok, err := extractiveSpec(spec, "ratio")
		switch {
		case err != nil:
			return s, nil, err
		case ok && ratio >= 0:
			sm = gate.WithRatio(extractive.New(), ratio)
		case ok:
			sm = extractive.New()
		default:
			var dir string
			if dir, v, err = g.folder(spec); err != nil {
				return s, nil, err
			}
			c := *g.c
			c.Summarizer, c.SummaryModel, c.SummaryAdapter = "bart", dir, ""
			if sm, err = wire.Summarizer(&c); err != nil {
				return s, nil, err
			}
			engine = sm
		}
		s.Engine, s.Model = sm.Name(), sm.Model()
		if len(g.docs) > 0 {
			if _, err := gate.EvalSummarize(g.ctx, sm, g.docs[:1]); err != nil {
				return s, nil, err
			}
		}
		if m, err = gate.EvalSummarize(g.ctx, sm, g.docs); err != nil {
			return s, nil, err
		}
	case gate.QA:
		ans := retrieval.NewAnswerer()
		ans.MinCoverage = g.c.QAMinCoverage
		var a gate.Answerer = ans
		var e retrieval.Embedder
		cov, ok, err := extractiveSpec(spec, "min-coverage")
		switch {
		case err != nil:
			return s, nil, err
		case ok:
			if cov >= 0 {
				ans.MinCoverage = cov
			}
			s.Engine = ans.Name()
		default:
			var dir string
			if dir, v, err = g.folder(spec); err != nil {
				return s, nil, err
			}
			if isEmbedder(dir) {
				em, err := embed.Load(dir, embed.Options{})
				if err != nil {
					return s, nil, err
				}
				ans.Embedder, e, engine = em, em, em
				s.Engine, s.Model = ans.Name(), em.Model()
			} else {
				lm, err := rag.Load(dir, ort.Options{IntraOpThreads: g.c.ORTThreads, NoPrepack: !g.c.ORTPrepack})
				if err != nil {
					return s, nil, err
				}
				lm.Retrieval = ans
				a, engine = lmAnswerer{lm}, lm
				s.Engine, s.Model = lm.Name(), filepath.Base(dir)
			}
		}
		if m, err = gate.EvalQA(g.ctx, a, e, g.meets); err != nil {
			return s, nil, err
		}
	case gate.Transcribe:
		dir, ver, err := g.folder(spec)
		if err != nil {
			return s, nil, err
		}
		v = ver
		c := *g.c
		c.WhisperModel = dir
		tr, err := wire.Transcriber(&c)
		if err != nil {
			return s, nil, err
		}
		engine = tr
		s.Engine, s.Model = tr.Name(), tr.Model()
		if m, err = gate.EvalTranscribe(g.ctx, tr, g.clips); err != nil {
			return s, nil, err
		}
	}
	if v != nil {
		s.Version = v.String()
	}
	s.Metrics = m
	fmt.Fprintf(g.stderr, "evaluated %s (%s %s): %d items in %.1fs\n", spec, s.Engine, s.Model, m.Items, m.Seconds)
	return s, v, nil
}

// isEmbedder says whether a folder holds a sentence encoder (BERT family)
// rather than a decoder-only LM.
func isEmbedder(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return false
	}
	var cfg struct {
		ModelType string `json:"model_type"`
	}
	_ = json.Unmarshal(b, &cfg)
	switch cfg.ModelType {
	case "bert", "roberta", "xlm-roberta", "mpnet", "distilbert", "nomic_bert":
		return true
	}
	return false
}

// lmAnswerer is the instruct LM as a gate.Answerer (no token stream).
type lmAnswerer struct{ lm *rag.LMAnswerer }

func (a lmAnswerer) Answer(ctx context.Context, ix *retrieval.Index, q string) (*lecture.Answer, error) {
	return a.lm.Answer(ctx, ix, q, nil)
}

// failingStore answers every call with the error that opening the store gave.
type failingStore struct{ err error }

func (f failingStore) Put(context.Context, string, string, io.Reader, int64, string) error {
	return f.err
}
func (f failingStore) Get(context.Context, string, string) (io.ReadCloser, error) { return nil, f.err }
func (f failingStore) Stat(context.Context, string, string) (lecture.ObjectInfo, error) {
	return lecture.ObjectInfo{}, f.err
}
func (f failingStore) List(context.Context, string, string) ([]lecture.ObjectInfo, error) {
	return nil, f.err
}
func (f failingStore) Delete(context.Context, string, string) error { return f.err }
