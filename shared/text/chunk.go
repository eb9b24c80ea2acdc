package text

import (
	"context"
	"strings"
	"unicode"

	"github.com/transcept/transcept/shared/lecture"
)

// TokenCounter counts the tokens a model would see for a text.
type TokenCounter interface {
	CountTokens(s string) int
}

// Estimate is the conservative token count used when no model tokenizer is
// configured: byte-level BPE on English averages about 4 characters and 1.3
// tokens a word; this takes the larger of one token per 3 characters and one
// per word plus one per punctuation mark, so a window it fills never
// overflows a real tokenizer's 512.
type Estimate struct{}

func (Estimate) CountTokens(s string) int {
	chars, words, punct := 0, 0, 0
	in := false
	for _, r := range s {
		chars++
		switch {
		case unicode.IsSpace(r):
			in = false
		case unicode.IsPunct(r) || unicode.IsSymbol(r):
			punct++
			in = false
		default:
			if !in {
				words++
				in = true
			}
			if r > 0x7f {
				punct++ // non-ASCII letters often cost a byte-level token each
			}
		}
	}
	return max((chars+2)/3, words+punct)
}

// Chunk packs consecutive sentences into windows of at most maxTokens tokens
// (counted by tc, plus the reserved special tokens), never splitting a
// sentence unless it alone exceeds the window; such a sentence is cut on
// word boundaries. Each chunk carries the time span of its sentences.
func Chunk(sents []lecture.Sentence, maxTokens int, tc TokenCounter) []lecture.Chunk {
	out, _ := ChunkContext(context.Background(), sents, maxTokens, tc)
	return out
}

// ChunkContext is Chunk that stops when ctx ends, with ctx's error as a
// lecture error, code EUNAVAILABLE. Its time is linear in the sentences.
func ChunkContext(ctx context.Context, sents []lecture.Sentence, maxTokens int, tc TokenCounter) ([]lecture.Chunk, error) {
	if tc == nil {
		tc = Estimate{}
	}
	const reserved = 2 // <s> and </s>
	budget := maxTokens - reserved
	if budget < 8 {
		budget = 8
	}
	var (
		out   []lecture.Chunk
		cur   []string
		curTk int
		first = -1
		span  lecture.Span
	)
	flush := func(last int) {
		if len(cur) == 0 {
			return
		}
		txt := strings.Join(cur, " ")
		out = append(out, lecture.Chunk{Index: len(out), Text: txt, Span: span, Tokens: tc.CountTokens(txt) + reserved, FirstSent: first, LastSent: last})
		cur, curTk, first = nil, 0, -1
	}
	for i, s := range sents {
		if i%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, lecture.Wrap(lecture.EUNAVAILABLE, err, "cutting the transcript into chunks stopped")
			}
		}
		n := tc.CountTokens(s.Text) + 1 // +1: joining space may merge into a token
		if n > budget {
			flush(i - 1)
			for _, piece := range splitToBudget(s.Text, budget, tc) {
				span = s.Span
				first = i
				cur = []string{piece}
				flush(i)
			}
			continue
		}
		if curTk+n > budget {
			flush(i - 1)
		}
		if first < 0 {
			first = i
			span = s.Span
		}
		if s.Span.Valid() {
			if !span.Valid() {
				span = s.Span
			}
			span.End = max(span.End, s.Span.End)
		}
		cur = append(cur, s.Text)
		curTk += n
	}
	flush(len(sents) - 1)
	return out, nil
}

// splitToBudget cuts one over-long sentence into word-bounded pieces that fit.
// Each piece's length is found by doubling and then halving, so a piece
// costs joins of about its own size, not of the whole remaining sentence.
func splitToBudget(s string, budget int, tc TokenCounter) []string {
	words := strings.Fields(s)
	var out []string
	fits := func(n int) bool { return tc.CountTokens(strings.Join(words[:n], " ")) <= budget }
	for len(words) > 0 {
		// Largest prefix that fits (at least one word): lo fits or is 1,
		// hi+1 does not fit or is past the end.
		lo, hi := 1, len(words)
		for step := 2; step < len(words); step *= 2 {
			if !fits(step) {
				hi = step - 1
				break
			}
			lo = step
		}
		for lo < hi {
			mid := (lo + hi + 1) / 2
			if fits(mid) {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		out = append(out, strings.Join(words[:lo], " "))
		words = words[lo:]
	}
	return out
}
