package eval

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
)

type rougeRef struct {
	Name      string     `json:"name"`
	Ref       string     `json:"ref"`
	Cand      string     `json:"cand"`
	Rouge1    [3]float64 `json:"rouge1"`
	Rouge2    [3]float64 `json:"rouge2"`
	RougeL    [3]float64 `json:"rougeL"`
	RougeLsum [3]float64 `json:"rougeLsum"`
}

func loadRougeRefs(t testing.TB) []rougeRef {
	f, err := os.Open("testdata/rouge_reference.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var refs []rougeRef
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var r rougeRef
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return refs
}

func checkScore(t *testing.T, name, kind string, got Score, want [3]float64, tol float64) {
	t.Helper()
	g := [3]float64{got.Precision, got.Recall, got.F}
	for k, label := range []string{"P", "R", "F"} {
		if math.Abs(g[k]-want[k]) > tol {
			t.Errorf("%s: %s %s = %.12f, want %.12f", name, kind, label, g[k], want[k])
		}
	}
}

// TestROUGEReference compares against testdata/rouge_reference.jsonl
// (rouge_score's algorithm with NLTK's real stemmer; see gen_reference.py).
func TestROUGEReference(t *testing.T) {
	refs := loadRougeRefs(t)
	if len(refs) < 200 {
		t.Fatalf("only %d reference pairs", len(refs))
	}
	for _, r := range refs {
		got := ROUGE(r.Ref, r.Cand)
		checkScore(t, r.Name, "rouge1", got.R1, r.Rouge1, 1e-9)
		checkScore(t, r.Name, "rouge2", got.R2, r.Rouge2, 1e-9)
		checkScore(t, r.Name, "rougeL", got.RL, r.RougeL, 1e-9)
		checkScore(t, r.Name, "rougeLsum", got.RLsum, r.RougeLsum, 1e-9)
	}
	t.Logf("%d pairs match", len(refs))
}

func TestROUGEHandComputed(t *testing.T) {
	s := func(p, r, f float64) Score { return Score{p, r, f} }
	cases := []struct {
		name, ref, cand string
		want            Rouge
	}{
		{
			// ref: the cat sat on the mat (6 tokens, 5 bigrams)
			// cand: the cat on the mat (5 tokens, 4 bigrams)
			// unigram overlap 5; bigram overlap {the cat, on the, the mat} = 3; LCS 5.
			name: "textbook", ref: "the cat sat on the mat", cand: "the cat on the mat",
			want: Rouge{
				R1:    s(1, 5.0/6, 10.0/11),
				R2:    s(3.0/4, 3.0/5, 2.0/3),
				RL:    s(1, 5.0/6, 10.0/11),
				RLsum: s(1, 5.0/6, 10.0/11),
			},
		},
		{
			name: "identical with case and punctuation", ref: "The Cat, sat!", cand: "the cat sat",
			want: Rouge{R1: s(1, 1, 1), R2: s(1, 1, 1), RL: s(1, 1, 1), RLsum: s(1, 1, 1)},
		},
		{
			name: "no overlap", ref: "alpha beta", cand: "gamma delta",
		},
		{
			name: "empty candidate", ref: "alpha beta", cand: "",
		},
		{
			// ref: a a a b (4), cand: a b b (3): clipped unigram overlap min(3,1)+min(1,2) = 2.
			// bigrams ref {aa, aa, ab}, cand {ab, bb}: overlap 1. LCS "a b" = 2.
			name: "clipped counts", ref: "a a a b", cand: "a b b",
			want: Rouge{
				R1:    s(2.0/3, 2.0/4, 4.0/7),
				R2:    s(1.0/2, 1.0/3, 2.0/5),
				RL:    s(2.0/3, 2.0/4, 4.0/7),
				RLsum: s(2.0/3, 2.0/4, 4.0/7),
			},
		},
		{
			// Stemming: runners->runner, running->run, runs->run; "ran" stays.
			// ref tokens: runner run ; cand tokens: run
			name: "stemmed", ref: "runners running", cand: "runs",
			want: Rouge{R1: s(1, 0.5, 2.0/3), RL: s(1, 0.5, 2.0/3), RLsum: s(1, 0.5, 2.0/3)},
		},
		{
			// Lsum: reference lines "a b c" / "d e"; candidate lines "d e" / "a b c":
			// every token is in the union LCS of its line, so hits 5 of 5,
			// while plain ROUGE-L has LCS 3 ("a b c").
			name: "lsum order", ref: "a b c\nd e", cand: "d e\na b c",
			want: Rouge{
				R1:    s(1, 1, 1),
				R2:    s(3.0/4, 3.0/4, 3.0/4),
				RL:    s(3.0/5, 3.0/5, 3.0/5),
				RLsum: s(1, 1, 1),
			},
		},
		{
			// Lsum double counting: ref "x y" twice on two lines, candidate "x y"
			// once: each ref line's union LCS is {x, y}, but the candidate only
			// has one x and one y, so hits are 2: P 2/2, R 2/4.
			name: "lsum no double count", ref: "x y\nx y", cand: "x y",
			want: Rouge{
				R1:    s(1, 0.5, 2.0/3),
				R2:    s(1, 1.0/3, 0.5),
				RL:    s(1, 0.5, 2.0/3),
				RLsum: s(1, 0.5, 2.0/3),
			},
		},
	}
	for _, c := range cases {
		got := ROUGE(c.ref, c.cand)
		for _, v := range []struct {
			kind      string
			got, want Score
		}{{"R1", got.R1, c.want.R1}, {"R2", got.R2, c.want.R2}, {"RL", got.RL, c.want.RL}, {"RLsum", got.RLsum, c.want.RLsum}} {
			checkScore(t, c.name, v.kind, v.got, [3]float64{v.want.Precision, v.want.Recall, v.want.F}, 1e-12)
		}
	}
}

func TestTokenize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"...!!", nil},
		{"The quick brown foxes jumped!", []string{"the", "quick", "brown", "fox", "jump"}},
		{"It's 2024: covid-19 rose 3.5%", []string{"it", "s", "2024", "covid", "19", "rose", "3", "5"}},
		{"café naïve", []string{"caf", "na", "ve"}},
		// Python lowercases U+0130 to "i" + U+0307 and U+212A to "k".
		{"\u0130stanbul \u212aelvin", []string{"i", "stanbul", "kelvin"}},
		{"line one\nline two", []string{"line", "one", "line", "two"}},
	} {
		if got := Tokenize(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Tokenize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestROUGEConcurrent(t *testing.T) {
	refs := loadRougeRefs(t)
	want := make([]Rouge, len(refs))
	for i, r := range refs {
		want[i] = ROUGE(r.Ref, r.Cand)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, r := range refs {
				if got := ROUGE(r.Ref, r.Cand); got != want[i] {
					t.Errorf("%s: concurrent result differs", r.Name)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestMeanRouge(t *testing.T) {
	if got := MeanRouge(nil); got != (Rouge{}) {
		t.Fatalf("MeanRouge(nil) = %+v", got)
	}
	a := Rouge{R1: Score{1, 0.5, 0.25}, RLsum: Score{0.2, 0.4, 0.6}}
	b := Rouge{R1: Score{0, 0.5, 0.75}, RL: Score{1, 1, 1}}
	got := MeanRouge([]Rouge{a, b})
	want := Rouge{R1: Score{0.5, 0.5, 0.5}, RL: Score{0.5, 0.5, 0.5}, RLsum: Score{0.1, 0.2, 0.3}}
	if got != want {
		t.Fatalf("MeanRouge = %+v, want %+v", got, want)
	}
}

func loadSummEvalOrSkip(t testing.TB) []SummEvalItem {
	dir := DataDir()
	if dir == "" {
		skipNoData(t)
	}
	path := filepath.Join(dir, "summeval", "summeval100.jsonl")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("SummEval data not available: %v", err)
	}
	items, err := LoadSummEval(path)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

// TestSummEvalAnchors scores LEAD-3 (M0) and BART (M22) against the
// highlights of SummEval-100. Published rouge-score figures are about
// 42.0/19.4/26.9 (M0) and 46.0/23.0/32.9 (M22); SummEval's text is
// pre-tokenised and partly lowercased, so only a loose range is asserted.
func TestSummEvalAnchors(t *testing.T) {
	items := loadSummEvalOrSkip(t)
	for _, sys := range []struct {
		name       string
		r1, r2, rl float64
	}{{"M0", 42.0, 19.4, 26.9}, {"M22", 46.0, 23.0, 32.9}} {
		var scores []Rouge
		for _, it := range items {
			scores = append(scores, ROUGE(it.Highlights, it.Systems[sys.name]))
		}
		m := MeanRouge(scores)
		t.Logf("%s on %d items: R1 %.2f  R2 %.2f  RL %.2f  RLsum %.2f (published %.1f/%.1f/%.1f)",
			sys.name, len(scores), 100*m.R1.F, 100*m.R2.F, 100*m.RL.F, 100*m.RLsum.F, sys.r1, sys.r2, sys.rl)
		for _, c := range []struct {
			label     string
			got, want float64
		}{{"R1", 100 * m.R1.F, sys.r1}, {"R2", 100 * m.R2.F, sys.r2}, {"RL", 100 * m.RL.F, sys.rl}} {
			if math.Abs(c.got-c.want) > 4 {
				t.Errorf("%s %s F = %.2f, published %.1f", sys.name, c.label, c.got, c.want)
			}
		}
	}
}

func BenchmarkROUGE(b *testing.B) {
	refs := loadRougeRefs(b)
	var pairs []rougeRef
	for _, r := range refs {
		if len(r.Name) > 8 && r.Name[:8] == "summeval" {
			pairs = append(pairs, r)
		}
	}
	if len(pairs) == 0 {
		b.Fatal("no summeval pairs in reference file")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		p := pairs[i%len(pairs)]
		ROUGE(p.Ref, p.Cand)
	}
}

func BenchmarkTokenize(b *testing.B) {
	refs := loadRougeRefs(b)
	text := refs[len(refs)-1].Cand
	b.ReportAllocs()
	for b.Loop() {
		Tokenize(text)
	}
}
