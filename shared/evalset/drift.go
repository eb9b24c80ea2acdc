package evalset

import (
	"context"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/metrics"
	"github.com/transcept/transcept/shared/text"
)

// DriftStage is the stage label of the input measures and drift scores:
// segment, where every lecture's transcript is read whole.
const DriftStage = "segment"

// Drift features.
const (
	FeatureWords = "words"
	FeatureOOV   = "oov"
)

// LectureProfile is what the pipeline measured of one lecture's input,
// kept as drift-<day>/<lecture id>.json for the nightly drift score.
type LectureProfile struct {
	LectureID string    `json:"lecture_id"`
	At        time.Time `json:"at"`
	Words     int       `json:"words"`
	Language  string    `json:"language,omitempty"`
	NoSpeech  float64   `json:"no_speech"` // -1: no timestamps
	OOV       float64   `json:"oov"`       // -1: no vocabulary or no words
	EvalSet   string    `json:"eval_set,omitempty"`
}

// DayPrefix is the key prefix of a kind of object of one day (UTC):
// drift-2026-12-03/ (input profiles), reports-2026-12-03/ (nightly reports).
func DayPrefix(kind string, at time.Time) string {
	return kind + "-" + at.UTC().Format("2006-01-02") + "/"
}

func profileKey(at time.Time, id string) string {
	return DayPrefix("drift", at) + id + ".json"
}

// Measure profiles a transcript: its words, language, the share of its
// timestamped length without speech (the gaps between segments; -1
// without timestamps) and its out-of-vocabulary share (-1 when vocab is nil).
func Measure(tr *lecture.Transcript, vocab map[string]bool) LectureProfile {
	body := tr.Text()
	p := LectureProfile{LectureID: tr.LectureID, Words: text.WordCount(body), Language: tr.Language, NoSpeech: -1, OOV: -1}
	if tr.HasTimestamps() {
		var speech, end float64
		for _, s := range tr.Segments {
			if !s.HasTime() || s.End <= s.Start {
				continue
			}
			speech += s.End - s.Start
			end = math.Max(end, s.End)
		}
		if end > 0 {
			p.NoSpeech = math.Min(1, math.Max(0, 1-speech/end))
		}
	}
	if vocab != nil {
		p.OOV = OOVShare(body, vocab)
	}
	return p
}

// Recorder is the pipeline's input hook: it records each lecture's input
// measures in the metrics and keeps its profile in the store. The eval
// set's vocabulary is read from the store on first use (again every 10
// minutes while the store has none).
type Recorder struct {
	Store   lecture.ObjectStore
	Metrics *metrics.Metrics
	Log     *slog.Logger
	Now     func() time.Time

	mu      sync.Mutex
	vocab   map[string]bool
	version string
	tried   time.Time
}

func (r *Recorder) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Recorder) vocabulary(ctx context.Context) (map[string]bool, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.vocab != nil || (!r.tried.IsZero() && r.now().Sub(r.tried) < 10*time.Minute) {
		return r.vocab, r.version
	}
	r.tried = r.now()
	m, err := Current(ctx, r.Store)
	if err == nil {
		var v map[string]bool
		if v, err = Vocabulary(ctx, r.Store, m); err == nil {
			r.vocab, r.version = v, m.Version
		}
	}
	if err != nil && r.Log != nil {
		r.Log.Info("no eval set vocabulary: out-of-vocabulary shares are not recorded", "reason", lecture.ErrorMessage(err))
	}
	return r.vocab, r.version
}

// Observe records one lecture's transcript. Failures to keep the profile
// are logged, never the stage's failure.
func (r *Recorder) Observe(ctx context.Context, id string, tr *lecture.Transcript) {
	vocab, version := r.vocabulary(ctx)
	p := Measure(tr, vocab)
	p.LectureID, p.At, p.EvalSet = id, r.now().UTC(), version
	r.Metrics.ObserveInput(DriftStage, metrics.Input{Words: p.Words, Language: p.Language, NoSpeech: p.NoSpeech, OOV: p.OOV})
	if err := putJSON(ctx, r.Store, profileKey(p.At, id), p); err != nil && r.Log != nil {
		r.Log.Warn("input profile not kept", "lecture", id, "err", err)
	}
}

// Forget deletes the input profile of a lecture measured between from and
// to (a day's slack each side for clocks and redeliveries; at most the 31
// days before to); a day without one is not an error.
func (r *Recorder) Forget(ctx context.Context, id string, from, to time.Time) error {
	if err := lecture.ValidateLectureID(id); err != nil {
		return err
	}
	if to.IsZero() {
		to = r.now()
	}
	if to.Before(from) || from.IsZero() {
		from = to
	}
	if to.Sub(from) > 31*24*time.Hour { // a profile is written while the lecture processes
		from = to.Add(-31 * 24 * time.Hour)
	}
	last := to.UTC().Add(24 * time.Hour)
	for day := from.UTC().Add(-24 * time.Hour).Truncate(24 * time.Hour); !day.After(last); day = day.Add(24 * time.Hour) {
		if err := r.Store.Delete(ctx, Bucket, profileKey(day, id)); err != nil && lecture.ErrorCode(err) != lecture.ENOTFOUND {
			return err
		}
	}
	return nil
}

// Recent reads the profiles of the lectures measured within window before now.
func Recent(ctx context.Context, st lecture.ObjectStore, now time.Time, window time.Duration) ([]LectureProfile, error) {
	var out []LectureProfile
	from := now.Add(-window)
	seen := map[string]bool{}
	for day := from.UTC().Truncate(24 * time.Hour); !day.After(now); day = day.Add(24 * time.Hour) {
		prefix := DayPrefix("drift", day)
		list, err := st.List(ctx, Bucket, prefix)
		if err != nil {
			if lecture.ErrorCode(err) == lecture.ENOTFOUND {
				continue
			}
			return nil, err
		}
		for _, o := range list {
			if !strings.HasSuffix(o.Key, ".json") || seen[o.Key] {
				continue
			}
			seen[o.Key] = true
			var p LectureProfile
			if err := getJSON(ctx, st, o.Key, &p); err != nil {
				continue // deleted since the listing
			}
			if !p.At.Before(from) && !p.At.After(now) {
				out = append(out, p)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

// PSI is the population stability index of cur against ref over the bins
// bounds makes (x <= bound[0], ..., > bound[last]):
// sum over bins of (c - r) * ln(c / r), each share smoothed by half an
// observation so that an empty bin stays finite. 0 for identical
// distributions; above 0.25 is usually read as a significant shift.
func PSI(ref, cur []float64, bounds []float64) float64 {
	if len(ref) == 0 || len(cur) == 0 {
		return 0
	}
	bin := func(xs []float64) []float64 {
		c := make([]float64, len(bounds)+1)
		for _, x := range xs {
			c[sort.SearchFloat64s(bounds, x)]++ // first bound >= x
		}
		k := float64(len(c))
		for i := range c {
			c[i] = (c[i] + 0.5) / (float64(len(xs)) + 0.5*k)
		}
		return c
	}
	r, c := bin(ref), bin(cur)
	psi := 0.0
	for i := range r {
		psi += (c[i] - r[i]) * math.Log(c[i]/r[i])
	}
	return psi
}

// DriftResult is the nightly drift of recent lectures against the eval set.
type DriftResult struct {
	EvalSet   string             `json:"eval_set"`
	Lectures  int                `json:"lectures"`
	Window    string             `json:"window"`
	Threshold float64            `json:"threshold"`
	Scores    map[string]float64 `json:"scores"`   // feature -> PSI
	Exceeded  []string           `json:"exceeded"` // features beyond the threshold
}

// Score compares recent lecture profiles with the set's profile: PSI of
// words per lecture (binned as transcept_input_words) and of the
// out-of-vocabulary share (binned as transcept_input_oov_ratio).
func Score(m *Manifest, recent []LectureProfile, threshold float64) DriftResult {
	d := DriftResult{EvalSet: m.Version, Lectures: len(recent), Threshold: threshold, Scores: map[string]float64{}}
	var refW, curW, curO []float64
	for _, w := range m.Profile.Words {
		refW = append(refW, float64(w))
	}
	for _, p := range recent {
		curW = append(curW, float64(p.Words))
		if p.OOV >= 0 {
			curO = append(curO, p.OOV)
		}
	}
	d.Scores[FeatureWords] = round(PSI(refW, curW, metrics.WordBuckets))
	if len(curO) > 0 {
		d.Scores[FeatureOOV] = round(PSI(m.Profile.OOV, curO, metrics.ShareBuckets))
	}
	for _, f := range []string{FeatureWords, FeatureOOV} {
		if s, ok := d.Scores[f]; ok && s > threshold {
			d.Exceeded = append(d.Exceeded, f)
		}
	}
	return d
}

func round(x float64) float64 { return math.Round(x*10000) / 10000 }
