package wire

// The gate's evaluation of one engine on a task's eval data: `transcept
// eval gate` runs it on two sides, the nightly evaluation on each champion.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/transcept/transcept/gpu-runtime/embed"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/gpu-runtime/rag"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/eval"
	"github.com/transcept/transcept/shared/evalset"
	"github.com/transcept/transcept/shared/extractive"
	"github.com/transcept/transcept/shared/lecture"
	modelreg "github.com/transcept/transcept/shared/registry"
	"github.com/transcept/transcept/shared/registry/gate"
	"github.com/transcept/transcept/shared/retrieval"
)

// EvalData finds the evaluation data: dir when given, else the folder
// TRANSCEPT_EVAL_DATA names, else the eval set kept in the store (fetched
// and verified under TRANSCEPT_EVAL_CACHE_DIR), else shared/data beside the
// repository. It returns the folder, a label for reports ("store:eval@V" or
// the folder) and the store's manifest when the set came from there.
func EvalData(ctx context.Context, c *config.Config, st lecture.ObjectStore, dir string) (string, string, *evalset.Manifest, error) {
	if dir == "" {
		dir = config.Get("TRANSCEPT_EVAL_DATA")
	}
	if dir != "" {
		if _, err := os.Stat(dir); err != nil {
			return "", "", nil, lecture.Errorf(lecture.ENOTFOUND, "evaluation data not found at %q", dir)
		}
		return dir, dir, nil, nil
	}
	if st != nil {
		m, err := evalset.Current(ctx, st)
		switch {
		case err == nil:
			d, err := evalset.Materialize(ctx, st, m, c.Quality.EvalCacheDir)
			if err != nil {
				return "", "", nil, err
			}
			return d, "store:eval@" + m.Version, m, nil
		case lecture.ErrorCode(err) != lecture.ENOTFOUND:
			return "", "", nil, err
		}
	}
	if dir = eval.DataDir(); dir == "" {
		return "", "", nil, lecture.Errorf(lecture.ENOTFOUND, "no evaluation data: the store has no eval set (run `transcept eval seed`) and no data folder was found (TRANSCEPT_EVAL_DATA)")
	}
	return dir, dir, nil, nil
}

// Evaluator runs the gate's evaluation of engines on a data folder laid
// out like shared/data, each task's items loaded once.
type Evaluator struct {
	Config   *config.Config
	Policy   gate.Policy
	Data     string
	Progress io.Writer // a line per engine evaluated; nil: none
	Store    lecture.ObjectStore

	reg   *modelreg.Registry
	docs  []gate.Doc
	meets []eval.QMSumMeeting
	clips []eval.Clip
	done  map[string]bool
}

// Load reads a task's items (the gate calls it before building engines,
// so that missing data is reported first).
func (g *Evaluator) Load(task string) (err error) {
	if g.done == nil {
		g.done = map[string]bool{}
	}
	if g.done[task] {
		return nil
	}
	switch task {
	case gate.Summarize:
		g.docs, err = gate.SummaryDocs(g.Data, g.Policy)
	case gate.QA:
		g.meets, err = gate.QAMeetings(g.Data, g.Policy)
	case gate.Transcribe:
		g.clips, err = gate.Clips(g.Data, g.Policy)
	default:
		return lecture.Errorf(lecture.EINVALID, "task %q: want summarize, qa or transcribe", task)
	}
	g.done[task] = err == nil
	return err
}

// Items counts the items of a task's evaluation (loaded).
func (g *Evaluator) Items(task string) int {
	switch task {
	case gate.Summarize:
		return len(g.docs)
	case gate.QA:
		return len(g.meets)
	case gate.Transcribe:
		return len(g.clips)
	}
	return 0
}

// Registry is the model registry in the configured store.
func (g *Evaluator) Registry() *modelreg.Registry {
	if g.reg == nil {
		st := g.Store
		if st == nil {
			var err error
			if st, err = Store(context.Background(), g.Config); err != nil {
				st = failingStore{err}
			}
		}
		g.reg = modelreg.New(st)
	}
	return g.reg
}

// folder turns a spec into a model folder, fetching a registry version.
func (g *Evaluator) folder(ctx context.Context, spec string) (string, *modelreg.Version, error) {
	if fi, err := os.Stat(spec); err == nil && fi.IsDir() {
		return spec, nil, nil
	}
	if _, _, err := modelreg.ParseRef(spec); err != nil {
		return "", nil, lecture.Errorf(lecture.EINVALID, "%q is neither a model folder nor a registry reference (NAME@ALIAS): %s", spec, lecture.ErrorMessage(err))
	}
	v, err := g.Registry().Resolve(ctx, spec)
	if err != nil {
		return "", nil, err
	}
	dir, err := g.Registry().Fetch(ctx, v, g.Config.ModelCacheDir)
	if err != nil {
		return "", nil, err
	}
	return dir, &v, nil
}

// TaskOf says which task a model folder or registry version serves, from
// its config.json: Whisper transcribes, encoder-decoders summarise,
// sentence encoders and decoder-only LMs answer.
func (g *Evaluator) TaskOf(ctx context.Context, spec string) (string, error) {
	dir, _, err := g.folder(ctx, spec)
	if err != nil {
		return "", err
	}
	switch modelType(dir) {
	case "whisper":
		return gate.Transcribe, nil
	case "bart", "mbart", "pegasus", "t5", "marian", "led":
		return gate.Summarize, nil
	case "":
		return "", lecture.Errorf(lecture.EINVALID, "%s: no model_type in config.json: cannot tell its task", spec)
	}
	return gate.QA, nil
}

func modelType(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return ""
	}
	var cfg struct {
		ModelType string `json:"model_type"`
	}
	_ = json.Unmarshal(b, &cfg)
	return cfg.ModelType
}

// ExtractiveSpec reads extractive[:key=value], returning the value of key
// (-1 when none is given); ok says whether spec is extractive at all.
func ExtractiveSpec(spec, key string) (float64, bool, error) {
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
		return 0, true, lecture.Errorf(lecture.EINVALID, "%q: want extractive or extractive:%s=NUMBER from 0 to 1", spec, key)
	}
	return x, true, nil
}

// Engines are already loaded engines to evaluate (the nightly evaluation of
// a deployment's configured engines): the one the task needs is used.
type Engines struct {
	Summarizer  lecture.Summarizer
	Answerer    gate.Answerer
	Embedder    retrieval.Embedder // embeds each meeting's index first (qa)
	Transcriber lecture.Transcriber
}

// EvaluateEngines runs a task's evaluation on loaded engines.
func (g *Evaluator) EvaluateEngines(ctx context.Context, task string, e Engines, s gate.Subject) (gate.Subject, error) {
	if err := g.Load(task); err != nil {
		return s, err
	}
	var m gate.Metrics
	var err error
	switch task {
	case gate.Summarize:
		if len(g.docs) > 0 { // a warm-up item
			if _, err := gate.EvalSummarize(ctx, e.Summarizer, g.docs[:1]); err != nil {
				return s, err
			}
		}
		m, err = gate.EvalSummarize(ctx, e.Summarizer, g.docs)
	case gate.QA:
		m, err = gate.EvalQA(ctx, e.Answerer, e.Embedder, g.meets)
	case gate.Transcribe:
		if e.Transcriber == nil {
			return s, lecture.Errorf(lecture.EUNAVAILABLE, "no transcription engine to evaluate")
		}
		m, err = gate.EvalTranscribe(ctx, e.Transcriber, g.clips)
	}
	if err != nil {
		return s, err
	}
	s.Metrics = m
	if g.Progress != nil {
		fmt.Fprintf(g.Progress, "evaluated %s (%s %s): %d items in %.1fs\n", s.Spec, s.Engine, s.Model, m.Items, m.Seconds)
	}
	return s, nil
}

// Evaluate builds the engine a spec names and runs the task's evaluation
// on it (after one warm-up item for summaries). A spec is a registry
// version, a model folder, or extractive[:ratio=R] (summarize),
// extractive[:min-coverage=C] (qa).
func (g *Evaluator) Evaluate(ctx context.Context, task, spec string) (gate.Subject, *modelreg.Version, error) {
	s := gate.Subject{Spec: spec}
	if err := g.Load(task); err != nil {
		return s, nil, err
	}
	var v *modelreg.Version
	var e Engines
	var engine any // closed after the run, so the other side's memory is its own
	defer func() {
		if c, ok := engine.(io.Closer); ok {
			_ = c.Close()
		}
	}()
	switch task {
	case gate.Summarize:
		ratio, ok, err := ExtractiveSpec(spec, "ratio")
		switch {
		case err != nil:
			return s, nil, err
		case ok && ratio >= 0:
			e.Summarizer = gate.WithRatio(extractive.New(), ratio)
		case ok:
			e.Summarizer = extractive.New()
		default:
			var dir string
			if dir, v, err = g.folder(ctx, spec); err != nil {
				return s, nil, err
			}
			c := *g.Config
			c.Summarizer, c.SummaryModel, c.SummaryAdapter = "bart", dir, ""
			if e.Summarizer, err = Summarizer(&c); err != nil {
				return s, nil, err
			}
			engine = e.Summarizer
		}
		s.Engine, s.Model = e.Summarizer.Name(), e.Summarizer.Model()
	case gate.QA:
		ans := retrieval.NewAnswerer()
		ans.MinCoverage = g.Config.QAMinCoverage
		e.Answerer = ans
		cov, ok, err := ExtractiveSpec(spec, "min-coverage")
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
			if dir, v, err = g.folder(ctx, spec); err != nil {
				return s, nil, err
			}
			if isEmbedder(dir) {
				em, err := embed.Load(dir, embed.Options{})
				if err != nil {
					return s, nil, err
				}
				ans.Embedder, e.Embedder, engine = em, em, em
				s.Engine, s.Model = ans.Name(), em.Model()
			} else {
				lm, err := rag.Load(dir, ort.Options{IntraOpThreads: g.Config.ORTThreads, NoPrepack: !g.Config.Prepack(config.EngineLM, ""), Int8Weights: g.Config.ORTInt8Weights, OptimizedCacheDir: g.Config.ORTCacheDir})
				if err != nil {
					return s, nil, err
				}
				lm.Retrieval = ans
				e.Answerer, engine = LMAnswerer{lm}, lm
				s.Engine, s.Model = lm.Name(), filepath.Base(dir)
			}
		}
	case gate.Transcribe:
		dir, ver, err := g.folder(ctx, spec)
		if err != nil {
			return s, nil, err
		}
		v = ver
		c := *g.Config
		c.WhisperModel = dir
		if e.Transcriber, err = Transcriber(&c); err != nil {
			return s, nil, err
		}
		engine = e.Transcriber
		s.Engine, s.Model = e.Transcriber.Name(), e.Transcriber.Model()
	}
	if v != nil {
		s.Version = v.String()
	}
	s, err := g.EvaluateEngines(ctx, task, e, s)
	return s, v, err
}

// isEmbedder says whether a folder holds a sentence encoder (BERT family)
// rather than a decoder-only LM.
func isEmbedder(dir string) bool {
	switch modelType(dir) {
	case "bert", "roberta", "xlm-roberta", "mpnet", "distilbert", "nomic_bert":
		return true
	}
	return false
}

// LMAnswerer is the instruct LM as a gate.Answerer (no token stream).
type LMAnswerer struct{ LM *rag.LMAnswerer }

// Answer answers from the index.
func (a LMAnswerer) Answer(ctx context.Context, ix *retrieval.Index, q string) (*lecture.Answer, error) {
	return a.LM.Answer(ctx, ix, q, nil)
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
