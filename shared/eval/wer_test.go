package eval

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestNormalizeTranscript(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  ...  ", nil},
		{"Hello, World!  Don't stop.", []string{"hello", "world", "don't", "stop"}},
		{"It costs $3.50, i.e. 1,000 yen", []string{"it", "costs", "3.50", "i", "e", "1,000", "yen"}},
		{"rock \u2019n\u2019 roll, O\u2019Brien's", []string{"rock", "n", "roll", "o'brien's"}},
		{"'quoted' well-known 50% 2,", []string{"quoted", "well", "known", "50", "2"}},
		{"Caf\u00e9 NA\u00cfVE\tresume\n", []string{"caf\u00e9", "na\u00efve", "resume"}},
	} {
		if got := NormalizeTranscript(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("NormalizeTranscript(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestWER(t *testing.T) {
	for _, c := range []struct {
		ref, hyp   string
		s, d, i, n int
		wer        float64
	}{
		{"the cat sat on the mat", "the cat sat on the mat", 0, 0, 0, 6, 0},
		{"the cat sat on the mat", "The cat sat on mat.", 0, 1, 0, 6, 1.0 / 6},
		{"a b c", "a x c", 1, 0, 0, 3, 1.0 / 3},
		{"a b", "a b c d", 0, 0, 2, 2, 1},
		{"a b", "b a", 2, 0, 0, 2, 1},
		{"the quick brown fox", "quick brown fax jumps", 1, 1, 1, 4, 0.75},
		{"one two three", "", 0, 3, 0, 3, 1},
		{"", "", 0, 0, 0, 0, 0},
		{"", "hello there", 0, 0, 2, 0, 1},
		{"I can't go, it's 3.5 km!", "i cant go its 3.5 km", 2, 0, 0, 6, 2.0 / 6},
	} {
		r := WER(c.ref, c.hyp)
		if r.Substitutions != c.s || r.Deletions != c.d || r.Insertions != c.i || r.RefWords != c.n || math.Abs(r.WER-c.wer) > 1e-12 {
			t.Errorf("WER(%q, %q) = %+v, want S=%d D=%d I=%d N=%d WER=%v", c.ref, c.hyp, r, c.s, c.d, c.i, c.n, c.wer)
		}
		if r.HypWords != len(NormalizeTranscript(c.hyp)) {
			t.Errorf("WER(%q, %q): HypWords %d", c.ref, c.hyp, r.HypWords)
		}
	}
}

func TestCorpusWER(t *testing.T) {
	r := CorpusWER(
		[]string{"the cat sat on the mat", "a b"},
		[]string{"the cat sat on mat", "a b c d"},
	)
	want := WERResult{Substitutions: 0, Deletions: 1, Insertions: 2, RefWords: 8, HypWords: 9, WER: 3.0 / 8}
	if r != want {
		t.Fatalf("CorpusWER = %+v, want %+v", r, want)
	}
	if z := CorpusWER(nil, nil); z != (WERResult{}) {
		t.Fatalf("CorpusWER(nil, nil) = %+v", z)
	}
}

// TestWERRealTranscripts is a smoke test on the reference transcripts of
// the shared audio clips.
func TestWERRealTranscripts(t *testing.T) {
	dir := DataDir()
	if dir == "" {
		skipNoData(t)
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "audio", "*.txt"))
	if len(paths) == 0 {
		t.Skip("no audio transcripts in shared data")
	}
	var refs, hyps []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		ref := string(b)
		if r := WER(ref, strings.ToUpper(ref)); r.Errors() != 0 || r.RefWords == 0 {
			t.Errorf("%s: WER against itself = %+v", p, r)
		}
		words := NormalizeTranscript(ref)
		refs = append(refs, ref)
		hyps = append(hyps, strings.Join(words[1:], " ")) // drop the first word
	}
	r := CorpusWER(refs, hyps)
	if r.Deletions != len(paths) || r.Substitutions != 0 || r.Insertions != 0 {
		t.Errorf("CorpusWER with first words dropped = %+v, want %d deletions", r, len(paths))
	}
	t.Logf("%d transcripts, %d reference words", len(paths), r.RefWords)
}
