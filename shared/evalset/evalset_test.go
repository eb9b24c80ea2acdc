package evalset

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/eval"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/metrics"
	"github.com/transcept/transcept/shared/registry/gate"
	"github.com/transcept/transcept/shared/store/fs"
	"github.com/transcept/transcept/shared/store/minio"
	"github.com/transcept/transcept/tests/testkit/svctest"
)

func dataDir(t *testing.T) string {
	t.Helper()
	dir := eval.DataDir()
	if dir == "" {
		t.Skip("../shared/data not found (TRANSCEPT_EVAL_DATA)")
	}
	return dir
}

// stores runs f on the filesystem store and on a real MinIO server.
func stores(t *testing.T, f func(t *testing.T, st lecture.ObjectStore)) {
	t.Run("fs", func(t *testing.T) {
		st, err := fs.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		f(t, st)
	})
	t.Run("minio", func(t *testing.T) {
		srv := svctest.StartMinIO(t)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		st, err := minio.New(ctx, minio.Config{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
		if err != nil {
			t.Fatal(err)
		}
		f(t, st)
	})
}

var tiny = Selection{SummEvalItems: 3, QMSumMeetings: 1, QAMeetings: 1, SpeechClips: 2}

func TestSeedMaterialize(t *testing.T) {
	data := dataDir(t)
	stores(t, func(t *testing.T, st lecture.ObjectStore) {
		ctx := context.Background()
		if _, err := Current(ctx, st); lecture.ErrorCode(err) != lecture.ENOTFOUND || !strings.Contains(err.Error(), "eval seed") {
			t.Fatalf("an empty store: %v, want ENOTFOUND naming eval seed", err)
		}
		m, created, err := Seed(ctx, st, data, tiny, "tester", time.Now())
		if err != nil || !created {
			t.Fatalf("seed: %v created=%v", err, created)
		}
		// 3 SummEval lines in one file, one meeting per QMSum split, two clips with their references.
		var paths []string
		for _, it := range m.Items {
			paths = append(paths, it.Path)
		}
		if got := len(m.Items); got != 7 || m.Count(TaskSummarize) != 2 || m.Count(TaskQA) != 1 || m.Count(TaskTranscribe) != 2 {
			t.Fatalf("items %v: want 7 files (2 summarize, 1 qa, 2 clips + 2 references)", paths)
		}
		for _, it := range m.Items {
			if it.Path == "summeval/summeval100.jsonl" {
				continue // a cut of the file
			}
			b, err := os.ReadFile(filepath.Join(data, filepath.FromSlash(it.Path)))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			if it.SHA256 != hex.EncodeToString(sum[:]) || it.Size != int64(len(b)) {
				t.Errorf("%s: manifest sha256 %s size %d, file %x size %d", it.Path, it.SHA256, it.Size, sum, len(b))
			}
		}
		// Seeding again writes nothing new and keeps the version.
		m2, created, err := Seed(ctx, st, data, tiny, "tester", time.Now())
		if err != nil || created || m2.Version != m.Version {
			t.Fatalf("second seed: %v created=%v version %s, want %s unchanged", err, created, m2.Version, m.Version)
		}
		cur, err := Current(ctx, st)
		if err != nil || cur.Version != m.Version {
			t.Fatalf("current: %v %v", cur, err)
		}
		// The folder reads like shared/data.
		dir, err := Materialize(ctx, st, cur, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		p := gate.DefaultPolicy()
		docs, err := gate.SummaryDocs(dir, p)
		if err != nil || len(docs) != 4 {
			t.Fatalf("summary docs from the store's set: %d %v, want 3 SummEval + 1 QMSum", len(docs), err)
		}
		if ms, err := gate.QAMeetings(dir, p); err != nil || len(ms) != 1 {
			t.Fatalf("qa meetings: %d %v", len(ms), err)
		}
		// Vocabulary and profile.
		vocab, err := Vocabulary(ctx, st, cur)
		if err != nil || len(vocab) != cur.Vocabulary || !vocab["the"] || len(vocab) > MaxVocabulary {
			t.Fatalf("vocabulary: %d words (manifest %d), has the: %v, %v", len(vocab), cur.Vocabulary, vocab["the"], err)
		}
		meetings := map[string]bool{}
		for _, it := range cur.Items {
			if strings.HasPrefix(it.Path, "qmsum/") {
				meetings[filepath.Base(it.Path)] = true
			}
		}
		// Words of 3 articles and each meeting once; OOV shares of as many
		// held-out documents (the next 3 articles, another meeting).
		if n := 3 + len(meetings); len(cur.Profile.Words) != n || len(cur.Profile.OOV) != n || cur.Profile.HeldOut != n {
			t.Fatalf("profile %+v: want %d documents", cur.Profile, n)
		}
		for _, o := range cur.Profile.OOV {
			if o <= 0 || o >= 1 {
				t.Errorf("leave-one-out OOV share %g outside (0, 1)", o)
			}
		}
		// A file changed in the store is refused, named.
		bad := m.Items[0]
		if err := st.Put(ctx, Bucket, setKey(m.Version, bad.Path), bytes.NewReader([]byte("tampered")), 8, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := Materialize(ctx, st, cur, t.TempDir()); err == nil || !strings.Contains(err.Error(), bad.Path) {
			t.Fatalf("tampered %s: %v, want a refusal naming it", bad.Path, err)
		}
	})
}

func TestMeasure(t *testing.T) {
	tr := &lecture.Transcript{Language: "en", Segments: []lecture.Segment{
		{Start: 0, End: 4, Text: "The cat sat."},
		{Start: 6, End: 10, Text: "Zyxwv qwrtp 42!"},
	}}
	p := Measure(tr, map[string]bool{"the": true, "cat": true, "sat": true})
	// 6 words; 5 letter tokens of which zyxwv and qwrtp are unknown; 2 s
	// of the 10 s without speech.
	if p.Words != 6 || math.Abs(p.OOV-0.4) > 1e-12 || math.Abs(p.NoSpeech-0.2) > 1e-12 || p.Language != "en" {
		t.Fatalf("profile %+v: want 6 words, oov 0.4, no-speech 0.2", p)
	}
	p = Measure(&lecture.Transcript{Segments: []lecture.Segment{{Start: -1, End: -1, Text: "plain text"}}}, nil)
	if p.NoSpeech != -1 || p.OOV != -1 || p.Words != 2 {
		t.Fatalf("untimed, no vocabulary: %+v", p)
	}
}

func TestPSI(t *testing.T) {
	b := []float64{1, 2, 3}
	if got := PSI([]float64{1, 2, 3, 4}, []float64{1, 2, 3, 4}, b); got != 0 {
		t.Errorf("identical: %g", got)
	}
	// Two bins' shares by hand: ref 3 of 4 at <=1 (smoothed (3+.5)/(4+2)),
	// cur 1 of 4; the other bins alike (the bins with no one are equal).
	ref, cur := []float64{1, 1, 1, 5}, []float64{1, 5, 5, 5}
	r := []float64{3.5 / 6, 0.5 / 6, 0.5 / 6, 1.5 / 6}
	c := []float64{1.5 / 6, 0.5 / 6, 0.5 / 6, 3.5 / 6}
	want := 0.0
	for i := range r {
		want += (c[i] - r[i]) * math.Log(c[i]/r[i])
	}
	if got := PSI(ref, cur, b); math.Abs(got-want) > 1e-12 {
		t.Errorf("PSI %g, want %g", got, want)
	}
}

// A set of lectures like the eval set scores below the threshold; short
// lectures full of unknown words score above it on both features.
func TestScore(t *testing.T) {
	m := &Manifest{Version: "v1", Profile: Profile{Words: []int{400, 600, 700, 900, 12000, 15000}, OOV: []float64{0.01, 0.015, 0.02, 0.03, 0.04, 0.06}}}
	var like, unlike []LectureProfile
	for i, w := range m.Profile.Words {
		like = append(like, LectureProfile{Words: w + 10, OOV: m.Profile.OOV[i]})
		unlike = append(unlike, LectureProfile{Words: 80, OOV: 0.6})
	}
	d := Score(m, like, 0.25)
	if len(d.Exceeded) != 0 || d.Scores[FeatureWords] > 0.05 || d.Scores[FeatureOOV] > 0.05 {
		t.Errorf("a similar set: %+v", d)
	}
	d = Score(m, unlike, 0.25)
	if strings.Join(d.Exceeded, ",") != "words,oov" || d.Lectures != 6 {
		t.Errorf("an unlike set: %+v, want words and oov beyond 0.25", d)
	}
}

// The recorder measures a lecture against the stored vocabulary, records
// the histograms and keeps the profile where Recent finds it.
func TestRecorder(t *testing.T) {
	data := dataDir(t)
	st, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := Seed(ctx, st, data, Selection{SummEvalItems: 3, QMSumMeetings: -1, QAMeetings: -1, NoAudio: true}, "t", time.Now()); err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	now := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)
	r := &Recorder{Store: st, Metrics: m, Now: func() time.Time { return now }}
	// "the" and "said" are in every news article; the two made-up words are not.
	tr := &lecture.Transcript{Language: "fr", Segments: []lecture.Segment{{Start: 0, End: 1, Text: "the said qqzzyx wwvvkj"}}}
	r.Observe(ctx, "20261203-010000-aaaaaaaa", tr)
	n, sum, buckets := m.HistogramOf("transcept_input_oov_ratio", DriftStage)
	if n != 1 || sum != 0.5 || buckets[0.5] != 1 || buckets[0.3] != 0 {
		t.Fatalf("oov histogram: count %d sum %g buckets %v, want one observation of 0.5", n, sum, buckets)
	}
	if n, sum, b := m.HistogramOf("transcept_input_words", DriftStage); n != 1 || sum != 4 || b[250] != 1 {
		t.Fatalf("words histogram: %d %g %v", n, sum, b)
	}
	if got := m.QualityValue("transcept_input_language_total", DriftStage, "fr"); got != 1 {
		t.Fatalf("language fr counted %g", got)
	}
	recent, err := Recent(ctx, st, now.Add(time.Hour), 24*time.Hour)
	if err != nil || len(recent) != 1 || recent[0].OOV != 0.5 || recent[0].Words != 4 {
		t.Fatalf("recent profiles: %+v %v", recent, err)
	}
	if old, _ := Recent(ctx, st, now.Add(48*time.Hour), 24*time.Hour); len(old) != 0 {
		t.Fatalf("a profile two days old is in the last day's window: %+v", old)
	}
}
