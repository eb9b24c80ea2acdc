// Package gate is the offline evaluation gate: it runs the same evaluation
// on a candidate and a baseline engine (ROUGE on a fixed SummEval and QMSum
// subset for summaries, answer coverage and off-topic declines on QMSum for
// questions, WER on the speech clips for transcription), with latency
// p50/p95 and peak memory, and compares them against a versioned policy of
// allowed regressions. The default policy is gate-policy.json beside this
// file.
package gate

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/transcept/transcept/shared/eval"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/retrieval"
	"github.com/transcept/transcept/shared/text"
	"github.com/transcept/transcept/shared/transcript"
)

// Tasks the gate evaluates.
const (
	Summarize  = "summarize"
	QA         = "qa"
	Transcribe = "transcribe"
)

//go:embed gate-policy.json
var defaultPolicy []byte

// Policy is the allowed regression of a candidate against its baseline.
// Points are percentage points; a nil threshold is reported, not checked.
type Policy struct {
	Version         int      `json:"version"`
	About           string   `json:"about,omitempty"`
	RougeLMaxDrop   *float64 `json:"rouge_l_max_drop_points"`
	Rouge1MaxDrop   *float64 `json:"rouge_1_max_drop_points"`
	Rouge2MaxDrop   *float64 `json:"rouge_2_max_drop_points"`
	WERMaxRise      *float64 `json:"wer_max_rise_points"`
	CoverageMaxDrop *float64 `json:"coverage_max_drop_points"`
	DeclineMaxDrop  *float64 `json:"decline_max_drop_points"`
	P95MaxRise      *float64 `json:"p95_max_rise"`    // relative: 0.2 = +20%
	P95MinRiseMS    float64  `json:"p95_min_rise_ms"` // and at least this much slower
	PeakMemMaxRise  *float64 `json:"peak_memory_max_rise"`
	SummEvalItems   int      `json:"summeval_items"`
	QMSumMeetings   int      `json:"qmsum_meetings"`
	QAMeetings      int      `json:"qa_meetings"`
	SpeechClips     int      `json:"speech_clips"`
}

// DefaultPolicy is the committed gate-policy.json.
func DefaultPolicy() Policy {
	p, err := ParsePolicy(defaultPolicy)
	if err != nil {
		panic(err)
	}
	return p
}

// ParsePolicy reads a policy file's content.
func ParsePolicy(b []byte) (Policy, error) {
	var p Policy
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Policy{}, lecture.Wrap(lecture.EINVALID, err, "gate policy: %v", err)
	}
	if p.Version != 1 {
		return Policy{}, lecture.Errorf(lecture.EINVALID, "gate policy version %d: this transcept reads version 1", p.Version)
	}
	return p, nil
}

// LoadPolicy reads a policy file.
func LoadPolicy(path string) (Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Policy{}, lecture.Wrap(lecture.EINVALID, err, "gate policy %s: %v", path, err)
	}
	p, err := ParsePolicy(b)
	if err != nil {
		return Policy{}, lecture.Wrap(lecture.EINVALID, err, "%s: %s", path, lecture.ErrorMessage(err))
	}
	return p, nil
}

// Metrics are one engine's results on the task's evaluation set.
type Metrics struct {
	Items    int     `json:"items"`
	Rouge1   float64 `json:"rouge_1,omitempty"` // F x 100
	Rouge2   float64 `json:"rouge_2,omitempty"`
	RougeL   float64 `json:"rouge_l,omitempty"`
	RougeLs  float64 `json:"rouge_lsum,omitempty"`
	Words    float64 `json:"words,omitempty"`    // mean summary length
	WER      float64 `json:"wer,omitempty"`      // x 100
	Coverage float64 `json:"coverage,omitempty"` // specific questions answered, %
	Decline  float64 `json:"decline,omitempty"`  // off-topic questions declined, %
	P50MS    float64 `json:"latency_p50_ms"`
	P95MS    float64 `json:"latency_p95_ms"`
	// PeakHeapBytes is the Go heap's peak during the run; PeakRSSBytes
	// the process's resident set's (which includes ONNX Runtime's, and
	// whatever the side evaluated before left resident: the gate closes
	// each engine after its run).
	PeakHeapBytes uint64  `json:"peak_heap_bytes"`
	PeakRSSBytes  uint64  `json:"peak_rss_bytes"`
	Seconds       float64 `json:"seconds"`
}

// Subject is one side of a comparison.
type Subject struct {
	Spec    string  `json:"spec"`              // as given: N@alias, extractive:ratio=0.3
	Version string  `json:"version,omitempty"` // N@version when from the registry
	Engine  string  `json:"engine"`
	Model   string  `json:"model,omitempty"`
	Metrics Metrics `json:"metrics"`
}

// Check is one metric compared.
type Check struct {
	Metric    string  `json:"metric"`
	Baseline  float64 `json:"baseline"`
	Candidate float64 `json:"candidate"`
	Delta     float64 `json:"delta"`
	Limit     string  `json:"limit"`
	Pass      bool    `json:"pass"`
}

// Report is the gate's verdict.
type Report struct {
	Task      string    `json:"task"`
	Pass      bool      `json:"pass"`
	Candidate Subject   `json:"candidate"`
	Baseline  Subject   `json:"baseline"`
	Checks    []Check   `json:"checks"`
	Policy    Policy    `json:"policy"`
	Data      string    `json:"data"`
	CreatedAt time.Time `json:"created_at"`
}

// Failed lists the checks that failed.
func (r *Report) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if !c.Pass {
			out = append(out, c)
		}
	}
	return out
}

// Compare fills r.Checks and r.Pass from the two subjects' metrics.
func Compare(r *Report) {
	b, c, p := r.Baseline.Metrics, r.Candidate.Metrics, r.Policy
	r.Checks = nil
	drop := func(name string, base, cand float64, limit *float64) {
		ch := Check{Metric: name, Baseline: round(base), Candidate: round(cand), Delta: round(cand - base), Limit: "reported", Pass: true}
		if limit != nil {
			ch.Limit = fmt.Sprintf("drop <= %g points", *limit)
			ch.Pass = base-cand <= *limit+1e-9
		}
		r.Checks = append(r.Checks, ch)
	}
	rise := func(name string, base, cand float64, limit *float64) {
		ch := Check{Metric: name, Baseline: round(base), Candidate: round(cand), Delta: round(cand - base), Limit: "reported", Pass: true}
		if limit != nil {
			ch.Limit = fmt.Sprintf("rise <= %g points", *limit)
			ch.Pass = cand-base <= *limit+1e-9
		}
		r.Checks = append(r.Checks, ch)
	}
	switch r.Task {
	case Summarize:
		drop("rouge_l", b.RougeL, c.RougeL, p.RougeLMaxDrop)
		drop("rouge_1", b.Rouge1, c.Rouge1, p.Rouge1MaxDrop)
		drop("rouge_2", b.Rouge2, c.Rouge2, p.Rouge2MaxDrop)
	case QA:
		drop("coverage", b.Coverage, c.Coverage, p.CoverageMaxDrop)
		drop("decline", b.Decline, c.Decline, p.DeclineMaxDrop)
	case Transcribe:
		rise("wer", b.WER, c.WER, p.WERMaxRise)
	}
	lat := Check{Metric: "latency_p95_ms", Baseline: round(b.P95MS), Candidate: round(c.P95MS), Delta: round(c.P95MS - b.P95MS), Limit: "reported", Pass: true}
	if p.P95MaxRise != nil {
		lat.Limit = fmt.Sprintf("rise <= %g%% or <= %g ms", 100**p.P95MaxRise, p.P95MinRiseMS)
		lat.Pass = c.P95MS <= b.P95MS*(1+*p.P95MaxRise)+1e-9 || c.P95MS-b.P95MS <= p.P95MinRiseMS
	}
	r.Checks = append(r.Checks, lat)
	mem := Check{Metric: "peak_rss_bytes", Baseline: float64(b.PeakRSSBytes), Candidate: float64(c.PeakRSSBytes), Delta: float64(c.PeakRSSBytes) - float64(b.PeakRSSBytes), Limit: "reported", Pass: true}
	if p.PeakMemMaxRise != nil {
		mem.Limit = fmt.Sprintf("rise <= %g%%", 100**p.PeakMemMaxRise)
		mem.Pass = float64(c.PeakRSSBytes) <= float64(b.PeakRSSBytes)*(1+*p.PeakMemMaxRise)
	}
	r.Checks = append(r.Checks, mem)
	r.Pass = len(r.Failed()) == 0
}

func round(x float64) float64 { return math.Round(x*1000) / 1000 }

// Doc is one summarisation item: sentences, the reference and the length
// the summary is asked for.
type Doc struct {
	Set       string
	ID        string
	Sentences []lecture.Sentence
	Reference string // sentences on lines
	MaxWords  int
}

// SummaryDocs loads the summarisation set: the first SummEvalItems articles
// of SummEval-100 (asked for LEAD-3's length) and the first QMSumMeetings
// meetings of QMSum Academic/val (asked for the reference's length).
func SummaryDocs(dataDir string, p Policy) ([]Doc, error) {
	items, err := eval.LoadSummEval(filepath.Join(dataDir, "summeval", "summeval100.jsonl"))
	if err != nil {
		return nil, lecture.Wrap(lecture.ENOTFOUND, err, "evaluation data: %v", err)
	}
	if n := p.SummEvalItems; n > 0 && n < len(items) {
		items = items[:n]
	}
	var docs []Doc
	for _, it := range items {
		tr, err := transcript.Parse([]byte(it.Source), transcript.Text)
		if err != nil {
			return nil, fmt.Errorf("summeval %s: %w", it.ID, err)
		}
		docs = append(docs, Doc{Set: "summeval", ID: it.ID, Sentences: text.Sentences(tr), Reference: lines(it.Highlights), MaxWords: max(1, text.WordCount(it.Systems["M0"]))})
	}
	if p.QMSumMeetings != 0 {
		ms, err := eval.LoadQMSum(filepath.Join(dataDir, "qmsum", "Academic", "val"))
		if err != nil {
			return nil, lecture.Wrap(lecture.ENOTFOUND, err, "evaluation data: %v", err)
		}
		if n := p.QMSumMeetings; n > 0 && n < len(ms) {
			ms = ms[:n]
		}
		for _, m := range ms {
			if len(m.General) == 0 {
				continue
			}
			ref := m.General[0].Answer
			docs = append(docs, Doc{Set: "qmsum", ID: m.Name, Sentences: text.Sentences(eval.QMSumTranscript(m)), Reference: lines(ref), MaxWords: text.WordCount(ref)})
		}
	}
	return docs, nil
}

func lines(s string) string { return strings.Join(text.SplitSentences(text.Normalize(s)), "\n") }

// EvalSummarize scores sm on docs.
func EvalSummarize(ctx context.Context, sm lecture.Summarizer, docs []Doc) (Metrics, error) {
	var scores []eval.Rouge
	var lat []time.Duration
	words := 0
	m, err := measure(func() error {
		for _, d := range docs {
			start := time.Now()
			sum, err := sm.Summarize(ctx, d.Sentences, lecture.SummarizeOptions{MaxWords: d.MaxWords})
			if err != nil {
				return fmt.Errorf("%s %s: %w", d.Set, d.ID, err)
			}
			lat = append(lat, time.Since(start))
			parts := make([]string, len(sum.Bullets))
			for i, b := range sum.Bullets {
				parts[i] = b.Text
			}
			cand := strings.Join(parts, "\n")
			words += text.WordCount(cand)
			scores = append(scores, eval.ROUGE(d.Reference, cand))
		}
		return nil
	})
	if err != nil {
		return Metrics{}, err
	}
	r := eval.MeanRouge(scores)
	m.Items = len(docs)
	m.Rouge1, m.Rouge2, m.RougeL, m.RougeLs = 100*r.R1.F, 100*r.R2.F, 100*r.RL.F, 100*r.RLsum.F
	m.Words = float64(words) / float64(max(1, len(docs)))
	m.P50MS, m.P95MS = percentile(lat, 0.50), percentile(lat, 0.95)
	return m, nil
}

// QAMeetings loads the first n meetings of QMSum ALL/val (0: all).
func QAMeetings(dataDir string, p Policy) ([]eval.QMSumMeeting, error) {
	ms, err := eval.LoadQMSum(filepath.Join(dataDir, "qmsum", "ALL", "val"))
	if err != nil {
		return nil, lecture.Wrap(lecture.ENOTFOUND, err, "evaluation data: %v", err)
	}
	if n := p.QAMeetings; n > 0 && n < len(ms) {
		ms = ms[:n]
	}
	return ms, nil
}

// Answerer answers a question from a lecture's index (retrieval.Answerer;
// the instruct LM through an adapter).
type Answerer interface {
	Answer(ctx context.Context, ix *retrieval.Index, question string) (*lecture.Answer, error)
}

// EvalQA asks every meeting its own specific queries (coverage: the share
// answered) and the off-topic list (decline: the share refused). e, when
// not nil, embeds each meeting's index first.
func EvalQA(ctx context.Context, a Answerer, e retrieval.Embedder, meetings []eval.QMSumMeeting) (Metrics, error) {
	var lat []time.Duration
	var spec, specOK, off, offDeclined int
	m, err := measure(func() error {
		for _, mt := range meetings {
			ix := retrieval.NewIndex("", text.Sentences(eval.QMSumTranscript(mt)))
			if e != nil {
				if err := ix.Embed(ctx, e); err != nil {
					return err
				}
			}
			ask := func(q string) (bool, error) {
				start := time.Now()
				ans, err := a.Answer(ctx, ix, q)
				lat = append(lat, time.Since(start))
				if err != nil {
					return false, fmt.Errorf("qmsum %s: %q: %w", mt.Name, q, err)
				}
				return ans.Covered, nil
			}
			for _, q := range mt.Specific {
				ok, err := ask(q.Query)
				if err != nil {
					return err
				}
				spec++
				if ok {
					specOK++
				}
			}
			for _, q := range eval.OffTopic {
				ok, err := ask(q)
				if err != nil {
					return err
				}
				off++
				if !ok {
					offDeclined++
				}
			}
		}
		return nil
	})
	if err != nil {
		return Metrics{}, err
	}
	m.Items = spec + off
	m.Coverage = 100 * float64(specOK) / float64(max(1, spec))
	m.Decline = 100 * float64(offDeclined) / float64(max(1, off))
	m.P50MS, m.P95MS = percentile(lat, 0.50), percentile(lat, 0.95)
	return m, nil
}

// Clips lists the speech clips (the first n; 0: all).
func Clips(dataDir string, p Policy) ([]eval.Clip, error) {
	clips, err := eval.SpeechClips(dataDir)
	if err != nil {
		return nil, lecture.Wrap(lecture.ENOTFOUND, err, "evaluation data: %v", err)
	}
	if n := p.SpeechClips; n > 0 && n < len(clips) {
		clips = clips[:n]
	}
	return clips, nil
}

// EvalTranscribe is the corpus WER of tr on the clips (English).
func EvalTranscribe(ctx context.Context, tr lecture.Transcriber, clips []eval.Clip) (Metrics, error) {
	var lat []time.Duration
	var refs, hyps []string
	m, err := measure(func() error {
		for _, c := range clips {
			start := time.Now()
			out, err := tr.Transcribe(ctx, c.Path, lecture.TranscribeOptions{Language: "en"}, nil)
			if err != nil {
				return fmt.Errorf("%s: %w", c.Name, err)
			}
			lat = append(lat, time.Since(start))
			var parts []string
			for _, s := range out.Segments {
				parts = append(parts, s.Text)
			}
			refs, hyps = append(refs, c.Reference), append(hyps, strings.Join(parts, " "))
		}
		return nil
	})
	if err != nil {
		return Metrics{}, err
	}
	m.Items = len(clips)
	m.WER = 100 * eval.CorpusWER(refs, hyps).WER
	m.P50MS, m.P95MS = percentile(lat, 0.50), percentile(lat, 0.95)
	return m, nil
}

// percentile is the nearest-rank percentile in milliseconds.
func percentile(d []time.Duration, q float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(math.Ceil(q*float64(len(s)))) - 1
	i = min(max(i, 0), len(s)-1)
	return float64(s[i].Microseconds()) / 1000
}

// measure runs f while sampling the Go heap and the resident set every
// 5 ms, returning the peaks and the wall time.
func measure(f func() error) (Metrics, error) {
	var m Metrics
	var mu sync.Mutex
	sample := func() {
		h, r := heapBytes(), rssBytes()
		mu.Lock()
		m.PeakHeapBytes, m.PeakRSSBytes = max(m.PeakHeapBytes, h), max(m.PeakRSSBytes, r)
		mu.Unlock()
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	debug.FreeOSMemory() // what an earlier run left collectable is not this run's
	start := time.Now()
	sample()
	err := f()
	sample()
	close(stop)
	<-done
	m.Seconds = math.Round(time.Since(start).Seconds()*1000) / 1000
	return m, err
}

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		return s[0].Value.Uint64()
	}
	return 0
}

// rssBytes reads the resident set from /proc/self/statm (0 elsewhere).
func rssBytes() uint64 {
	f, err := os.Open("/proc/self/statm")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(fields[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

// WithRatio is sm asked for a fixed share of the words instead of the
// set's lengths: the spec extractive:ratio=R (a ratio that guts the
// summaries makes a deliberately degraded candidate).
func WithRatio(sm lecture.Summarizer, ratio float64) lecture.Summarizer {
	return ratioSummarizer{sm, ratio}
}

type ratioSummarizer struct {
	lecture.Summarizer
	ratio float64
}

func (r ratioSummarizer) Model() string {
	return strings.TrimPrefix(r.Summarizer.Model()+" ratio="+strconv.FormatFloat(r.ratio, 'g', -1, 64), " ")
}

func (r ratioSummarizer) Summarize(ctx context.Context, s []lecture.Sentence, _ lecture.SummarizeOptions) (*lecture.Summary, error) {
	return r.Summarizer.Summarize(ctx, s, lecture.SummarizeOptions{Ratio: r.ratio})
}
