package eval

import (
	"strings"
	"unicode"
)

// WERResult is a word error rate with its edit breakdown.
type WERResult struct {
	Substitutions int
	Deletions     int // reference words missing from the hypothesis
	Insertions    int // hypothesis words not in the reference
	RefWords      int // words in the normalised reference
	HypWords      int // words in the normalised hypothesis
	// WER is (S+D+I)/RefWords. With an empty reference it is 0 when the
	// hypothesis is empty too and 1 otherwise (rather than infinity).
	WER float64
}

// Errors is S + D + I.
func (r WERResult) Errors() int { return r.Substitutions + r.Deletions + r.Insertions }

// NormalizeTranscript applies the usual ASR scoring normalisation and returns
// the words: lowercase; every character that is not a letter, digit or
// combining mark separates words, except an apostrophe (' or ’ or ʼ, all
// written as ') between two letters or digits ("don't", "o'clock") and a '.'
// or ',' between two digits ("3.5", "1,000"), which stay inside the word.
// Numbers stay as written; nothing is spelled out or expanded.
func NormalizeTranscript(text string) []string {
	rs := []rune(strings.ToLower(text))
	isWordRune := func(r rune) bool {
		return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
	}
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, string(cur))
			cur = cur[:0]
		}
	}
	for i, r := range rs {
		switch {
		case isWordRune(r):
			cur = append(cur, r)
			continue
		case r == '\'' || r == '\u2019' || r == '\u02bc':
			if len(cur) > 0 && i+1 < len(rs) && isWordRune(rs[i+1]) {
				cur = append(cur, '\'')
				continue
			}
		case r == '.' || r == ',':
			if len(cur) > 0 && unicode.IsDigit(cur[len(cur)-1]) && i+1 < len(rs) && unicode.IsDigit(rs[i+1]) {
				cur = append(cur, r)
				continue
			}
		}
		flush()
	}
	flush()
	return words
}

// werCell is one DP cell: the edit cost and the edits of the chosen path.
type werCell struct{ cost, s, d, i int32 }

// alignWords returns S, D and I of a minimum edit alignment of hyp to ref.
// Ties between equally cheap alignments prefer a match or substitution, then
// a deletion, then an insertion (so "a b" vs "b a" is 2 substitutions, not a
// deletion and an insertion). Two rows of memory, so long transcripts are
// fine.
func alignWords(ref, hyp []string) (s, d, ins int) {
	prev := make([]werCell, len(hyp)+1)
	cur := make([]werCell, len(hyp)+1)
	for j := range prev {
		prev[j] = werCell{cost: int32(j), i: int32(j)}
	}
	for i := 1; i <= len(ref); i++ {
		cur[0] = werCell{cost: int32(i), d: int32(i)}
		for j := 1; j <= len(hyp); j++ {
			best := prev[j-1]
			if ref[i-1] != hyp[j-1] {
				best.cost++
				best.s++
			}
			if del := prev[j]; del.cost+1 < best.cost {
				best = del
				best.cost++
				best.d++
			}
			if in := cur[j-1]; in.cost+1 < best.cost {
				best = in
				best.cost++
				best.i++
			}
			cur[j] = best
		}
		prev, cur = cur, prev
	}
	last := prev[len(hyp)]
	return int(last.s), int(last.d), int(last.i)
}

// WER normalises both texts with NormalizeTranscript and aligns them.
func WER(reference, hypothesis string) WERResult {
	ref := NormalizeTranscript(reference)
	hyp := NormalizeTranscript(hypothesis)
	s, d, i := alignWords(ref, hyp)
	r := WERResult{Substitutions: s, Deletions: d, Insertions: i, RefWords: len(ref), HypWords: len(hyp)}
	r.WER = werRate(r.Errors(), r.RefWords)
	return r
}

func werRate(errors, refWords int) float64 {
	if refWords == 0 {
		if errors == 0 {
			return 0
		}
		return 1
	}
	return float64(errors) / float64(refWords)
}

// CorpusWER sums substitutions, deletions, insertions and word counts over
// all pairs (references[k] with hypotheses[k]) and divides total errors by
// total reference words, the usual corpus-level WER (not a mean of
// per-utterance rates). It panics if the slices differ in length.
func CorpusWER(references, hypotheses []string) WERResult {
	if len(references) != len(hypotheses) {
		panic("eval.CorpusWER: references and hypotheses differ in length")
	}
	var t WERResult
	for k := range references {
		r := WER(references[k], hypotheses[k])
		t.Substitutions += r.Substitutions
		t.Deletions += r.Deletions
		t.Insertions += r.Insertions
		t.RefWords += r.RefWords
		t.HypWords += r.HypWords
	}
	t.WER = werRate(t.Errors(), t.RefWords)
	return t
}
