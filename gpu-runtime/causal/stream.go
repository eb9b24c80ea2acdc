package causal

import (
	"strings"
	"unicode/utf8"

	"github.com/transcept/transcept/gpu-runtime/tokenizer"
)

// Streamer turns generated token ids, one at a time, into text pieces that
// never split a character: a token that ends inside a multi-byte UTF-8
// character (byte-level BPE writes one byte per token for rare characters)
// is held until the tokens completing it arrive. It decodes all ids so far
// and emits what is new, as Hugging Face's TextStreamer does, so decoders
// that treat the first token specially (SentencePiece's leading space) stay
// right. Special tokens are left out of the text.
type Streamer struct {
	tok     *tokenizer.Tokenizer
	emit    func(tokenID int, text string)
	ids     []int
	emitted int // bytes of the decoded text already emitted
	held    int // tokens since the last emit
}

// maxHeld is how many tokens an unfinished character may hold back: a UTF-8
// character has at most 4 bytes, so after that many tokens the replacement
// character is for good (an invalid sequence) and is emitted.
const maxHeld = 4

// NewStreamer calls emit once per token with the text that token completes
// ("" while a character is unfinished).
func NewStreamer(tok *tokenizer.Tokenizer, emit func(tokenID int, text string)) *Streamer {
	return &Streamer{tok: tok, emit: emit}
}

// Put adds one generated token.
func (s *Streamer) Put(id int) {
	s.ids = append(s.ids, id)
	text := s.tok.Decode(s.ids)
	s.held++
	if strings.HasSuffix(text, string(utf8.RuneError)) && s.held < maxHeld {
		s.emit(id, "")
		return
	}
	s.emit(id, s.take(text))
}

// Flush returns what is still held (an unfinished character at the end of
// generation, as U+FFFD); "" when nothing is.
func (s *Streamer) Flush() string {
	return s.take(s.tok.Decode(s.ids))
}

func (s *Streamer) take(text string) string {
	s.held = 0
	if len(text) <= s.emitted {
		return ""
	}
	out := text[s.emitted:]
	s.emitted = len(text)
	return out
}

// Text is everything decoded so far.
func (s *Streamer) Text() string { return s.tok.Decode(s.ids) }
