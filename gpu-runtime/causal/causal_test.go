package causal

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/tokenizer"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

func TestLeftPadAndPositions(t *testing.T) {
	ids, mask := LeftPad([][]int{{5, 6, 7}, {8}}, 0)
	if !slices.Equal(ids[1], []int{0, 0, 8}) || !slices.Equal(mask[1], []int{0, 0, 1}) || !slices.Equal(mask[0], []int{1, 1, 1}) {
		t.Errorf("%v %v", ids, mask)
	}
	// transformers.js's cumsum_masked_fill: cumsum − 1, padding at 1
	pos := PositionIDs([][]int{{0, 0, 1, 1, 1}, {1, 1, 1, 1, 1}})
	if !slices.Equal(pos[0], []int{1, 1, 0, 1, 2}) || !slices.Equal(pos[1], []int{0, 1, 2, 3, 4}) {
		t.Errorf("positions %v", pos)
	}
}

// Hand-computed: logits [2, 1, 0, -1] at temperature 1 have softmax
// p = [.6439, .2369, .0871, .0321]. top_p 0.8: ascending cumulative sums
// .0321, .1192 ≤ 0.2 are removed, .3561 > 0.2 stops, so {0, 1} stay and
// renormalise to [e²/(e²+e), e/(e²+e)] = [.7311, .2689].
func TestDistributionHand(t *testing.T) {
	l := []float32{2, 1, 0, -1}
	d := distribution(l, Sampling{Temperature: 1, TopP: 0.8})
	e := math.E
	want := []float64{e * e / (e*e + e), e / (e*e + e), 0, 0}
	for i := range d {
		if math.Abs(d[i]-want[i]) > 1e-12 {
			t.Fatalf("top-p 0.8: %v, want %v", d, want)
		}
	}
	// top_p 0.5: only the top token (.6439 ≥ 0.5)
	if d := distribution(l, Sampling{Temperature: 1, TopP: 0.5}); d[0] != 1 || d[1] != 0 {
		t.Errorf("top-p 0.5: %v", d)
	}
	// top-k 3 then temperature 2: softmax of [1, .5, 0]
	d = distribution(l, Sampling{Temperature: 2, TopK: 3})
	z := math.Exp(1) + math.Exp(.5) + 1
	if math.Abs(d[0]-math.Exp(1)/z) > 1e-7 || d[3] != 0 {
		t.Errorf("top-k 3, T 2: %v", d)
	}
	// top_p 1 and top_k 0 keep everything
	if d := distribution(l, Sampling{Temperature: 1}); slices.Contains(d, 0) {
		t.Errorf("no filtering: %v", d)
	}
}

func TestSamplerSeededAndFollowsDistribution(t *testing.T) {
	l := []float32{2, 1, 0, -1, -8}
	s := Sampling{Temperature: 0.9, TopP: 0.95, Seed: 42}
	a, _ := NewSampler(s)
	b, _ := NewSampler(s)
	counts := make([]int, len(l))
	const n = 20000
	for range n {
		x, y := a.Sample(l), b.Sample(l)
		if x != y {
			t.Fatal("same seed, different draws")
		}
		counts[x]++
	}
	p := a.Distribution(l)
	for i := range l {
		got := float64(counts[i]) / n
		if math.Abs(got-p[i]) > 4*math.Sqrt(p[i]*(1-p[i])/n)+1e-9 {
			t.Errorf("token %d drawn %.4f of the time, distribution says %.4f", i, got, p[i])
		}
	}
	if counts[4] != 0 || p[4] != 0 {
		t.Errorf("a token top-p removed was drawn %d times (p=%g)", counts[4], p[4])
	}
	c, _ := NewSampler(Sampling{Temperature: 0.9, TopP: 0.95, Seed: 43})
	same := 0
	for range 200 {
		if a.Sample(l) == c.Sample(l) {
			same++
		}
	}
	if same == 200 {
		t.Error("different seeds give the same 200 draws")
	}
}

func TestSamplingRejectsBadSettings(t *testing.T) {
	for _, s := range []Sampling{{Temperature: 0}, {Temperature: -1}, {Temperature: math.NaN()}, {Temperature: 1, TopP: 1.5}, {Temperature: 1, TopK: -1}} {
		if _, err := NewSampler(s); lecture.ErrorCode(err) != lecture.EINVALID {
			t.Errorf("%+v: %v", s, err)
		}
	}
}

func tinyTokenizer(t *testing.T) *tokenizer.Tokenizer {
	t.Helper()
	dir := t.TempDir()
	tj, cj := testmodels.QwenTinyTokenizer()
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), tj, 0o644)
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), cj, 0o644)
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestStreamerKeepsCharactersWhole(t *testing.T) {
	tok := tinyTokenizer(t)
	text := "the café ünï 😀 ok"
	ids := tok.EncodePlain(text)
	var pieces []string
	var got []int
	s := NewStreamer(tok, func(id int, piece string) {
		got = append(got, id)
		pieces = append(pieces, piece)
	})
	for _, id := range append(ids, testmodels.QwenIMEnd) {
		s.Put(id)
	}
	if rest := s.Flush(); rest != "" {
		t.Errorf("flush left %q", rest)
	}
	if !slices.Equal(got, append(ids, testmodels.QwenIMEnd)) {
		t.Errorf("callback ids %v", got)
	}
	held := 0
	for _, p := range pieces {
		if strings.ContainsRune(p, '\uFFFD') {
			t.Errorf("piece %q splits a character (pieces %q)", p, pieces)
		}
		if p == "" {
			held++
		}
	}
	if strings.Join(pieces, "") != text {
		t.Errorf("pieces %q join to %q, want %q", pieces, strings.Join(pieces, ""), text)
	}
	if held < 4 { // é, ü, ï are 2 bytes, 😀 4: one byte token each
		t.Errorf("only %d tokens held back for multi-byte characters: %q", held, pieces)
	}
	// an invalid byte is emitted as U+FFFD once it cannot complete
	s = NewStreamer(tok, func(int, string) {})
	bad, _ := tok.TokenID("Ã") // byte 0xC3, a lead byte
	s.Put(bad)
	if s.Flush() != "\uFFFD" {
		t.Errorf("an unfinished character at the end flushes as U+FFFD")
	}
}

func writeTiny(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := testmodels.WriteQwen2(dir, testmodels.TinyQwen()); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCheckGood(t *testing.T) {
	f, tok, err := Check(writeTiny(t))
	if err != nil {
		t.Fatal(err)
	}
	g := f.Generation
	if f.Layers != 2 || f.KVHeads != 2 || f.HeadDim != 16 || f.Vocab != testmodels.QwenTinyTokenizerSize || !f.PositionIDs {
		t.Errorf("files %+v", f)
	}
	if !slices.Equal(g.EOSTokenIDs, []int{testmodels.QwenIMEnd, testmodels.QwenEndOfText}) || g.PadTokenID != testmodels.QwenEndOfText ||
		g.DoSample || g.Temperature != 0.7 || g.TopP != 0.8 || g.TopK != 20 || g.MaxLength != 20 {
		t.Errorf("generation %+v", g)
	}
	if g.RepetitionPenalty != 1 || g.NoRepeatNGram != 0 {
		t.Errorf("default penalties %g %d, want 1 0", g.RepetitionPenalty, g.NoRepeatNGram)
	}
	if s := g.Sampling(7); s != nil {
		t.Errorf("do_sample false gives sampling %+v", s)
	}
	g.DoSample = true
	if s := g.Sampling(7); s == nil || s.TopP != 0.8 || s.Seed != 7 {
		t.Errorf("sampling %+v", s)
	}
	if tok.Special().EOS != testmodels.QwenIMEnd {
		t.Errorf("tokenizer EOS %d", tok.Special().EOS)
	}
}

func TestCheckBad(t *testing.T) {
	edit := func(dir, file string, f func(string) string) {
		p := filepath.Join(dir, file)
		b, _ := os.ReadFile(p)
		os.WriteFile(p, []byte(f(string(b))), 0o644)
	}
	for _, c := range []struct {
		name, want string
		code       string
		break_     func(dir string)
	}{
		{"no model", "onnx/model.onnx does not exist", lecture.ENOTFOUND, func(d string) { os.Remove(filepath.Join(d, "onnx/model.onnx")) }},
		{"corrupt model", "corrupt or not ONNX", lecture.EINVALID, func(d string) { os.WriteFile(filepath.Join(d, "onnx/model.onnx"), []byte("not onnx at all"), 0o644) }},
		{"no config", "has no config.json", lecture.ENOTFOUND, func(d string) { os.Remove(filepath.Join(d, "config.json")) }},
		{"bad json", "config.json is not valid JSON", lecture.EINVALID, func(d string) { edit(d, "config.json", func(s string) string { return s[:10] }) }},
		{"more layers", `no input "past_key_values.2.key"`, lecture.EINVALID, func(d string) {
			edit(d, "config.json", func(s string) string {
				return strings.Replace(s, `"num_hidden_layers": 2`, `"num_hidden_layers": 3`, 1)
			})
		}},
		{"fewer layers", "more cache layers", lecture.EINVALID, func(d string) {
			edit(d, "config.json", func(s string) string {
				return strings.Replace(s, `"num_hidden_layers": 2`, `"num_hidden_layers": 1`, 1)
			})
		}},
		{"kv heads", "has 2 key/value heads but", lecture.EINVALID, func(d string) {
			edit(d, "config.json", func(s string) string {
				return strings.Replace(s, `"num_key_value_heads": 2`, `"num_key_value_heads": 4`, 1)
			})
		}},
		{"vocab", "logits over 299 tokens", lecture.EINVALID, func(d string) {
			edit(d, "config.json", func(s string) string { return strings.Replace(s, `"vocab_size": 299`, `"vocab_size": 300`, 1) })
		}},
		{"encoder-decoder", "is an encoder-decoder", lecture.EINVALID, func(d string) {
			edit(d, "config.json", func(s string) string { return strings.Replace(s, "{", `{"is_encoder_decoder": true,`, 1) })
		}},
		{"eos", "eos_token_id", lecture.EINVALID, func(d string) {
			edit(d, "generation_config.json", func(s string) string { return strings.Replace(s, `"eos_token_id": [`, `"eos_token_id": ["x", `, 1) })
		}},
		{"repetition_penalty 0", "generation_config.json: repetition_penalty 0 must be a number > 0", lecture.EINVALID, func(d string) {
			edit(d, "generation_config.json", func(s string) string { return strings.Replace(s, "{", `{"repetition_penalty": 0,`, 1) })
		}},
		{"repetition_penalty negative", "config.json: repetition_penalty -1.2 must be", lecture.EINVALID, func(d string) {
			edit(d, "config.json", func(s string) string { return strings.Replace(s, "{", `{"repetition_penalty": -1.2,`, 1) })
		}},
		{"no_repeat_ngram_size", "no_repeat_ngram_size -2 must be ≥ 0", lecture.EINVALID, func(d string) {
			edit(d, "generation_config.json", func(s string) string { return strings.Replace(s, "{", `{"no_repeat_ngram_size": -2,`, 1) })
		}},
		{"min_new_tokens", "min_new_tokens -1 must be ≥ 0", lecture.EINVALID, func(d string) {
			edit(d, "generation_config.json", func(s string) string { return strings.Replace(s, "{", `{"min_new_tokens": -1,`, 1) })
		}},
		{"no tokenizer", "tokenizer.json does not exist", lecture.ENOTFOUND, func(d string) { os.Remove(filepath.Join(d, "tokenizer.json")) }},
	} {
		dir := writeTiny(t)
		c.break_(dir)
		_, _, err := Check(dir)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || lecture.ErrorCode(err) != c.code {
			t.Errorf("%s: %v (code %s), want %q (%s)", c.name, err, lecture.ErrorCode(err), c.want, c.code)
		}
		if !strings.Contains(err.Error(), dir) {
			t.Errorf("%s: error does not name the file: %v", c.name, err)
		}
	}
}
