package text

import (
	"context"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/transcept/transcept/shared/lecture"
)

// MaxSentenceWords bounds a sentence: a longer run without a full stop, as
// unpunctuated speech recognition produces, is cut at discourse markers or
// commas, or failing that at this length. Written sentences rarely reach it.
const MaxSentenceWords = 60

var abbreviations = map[string]bool{
	"mr": true, "mrs": true, "ms": true, "dr": true, "prof": true, "sr": true, "jr": true, "st": true,
	"vs": true, "etc": true, "e.g": true, "i.e": true, "cf": true, "al": true, "fig": true, "eq": true,
	"no": true, "vol": true, "approx": true, "dept": true, "inc": true, "ltd": true, "co": true,
	"jan": true, "feb": true, "mar": true, "apr": true, "jun": true, "jul": true, "aug": true,
	"sep": true, "sept": true, "oct": true, "nov": true, "dec": true, "u.s": true, "ph.d": true, "a.m": true, "p.m": true,
}

// SplitSentences splits cleaned text into sentences. It breaks after . ! ?
// (not after abbreviations, initials or decimals), and cuts long unpunctuated
// runs, as speech recognition produces, at discourse markers or at
// MaxSentenceWords words.
func SplitSentences(s string) []string {
	return splitSentences(s, nil)
}

func splitSentences(s string, st *stopper) []string {
	words := strings.Fields(s)
	var out []string
	start := 0
	for i, w := range words {
		if st.tick() {
			return nil
		}
		if i+1 < len(words) && endsSentence(w, words[i+1]) || i+1 == len(words) {
			out = appendBounded(out, words[start:i+1])
			start = i + 1
		}
	}
	return out
}

func endsSentence(w, next string) bool {
	last, _ := utf8.DecodeLastRuneInString(strings.TrimRight(w, `"')]`))
	if last != '.' && last != '?' && last != '!' && last != '…' {
		return false
	}
	if last == '.' {
		core := strings.ToLower(strings.TrimRight(strings.TrimLeft(w, `"'([`), `."')]`))
		if abbreviations[core] {
			return false
		}
		// A single initial ("J. Smith") or "a.m." style.
		if utf8.RuneCountInString(core) == 1 && unicode.IsUpper([]rune(w)[0]) {
			return false
		}
	}
	// A full stop followed by a digit may be a decimal or a list ("3. 5");
	// speech transcripts often continue in lower case after a real stop, so
	// case is not a signal.
	first, _ := utf8.DecodeRuneInString(strings.TrimLeft(next, `"'([`))
	return !(last == '.' && unicode.IsDigit(first) && len(w) <= 3)
}

// discourse markers that start a new sentence in unpunctuated speech.
var markers = map[string]bool{"so": true, "okay": true, "ok": true, "now": true, "and": true, "but": true, "because": true, "then": true, "alright": true, "right": true}

func appendBounded(out []string, ws []string) []string {
	for len(ws) > MaxSentenceWords {
		cut := 0
		// Prefer a marker or a comma in the second half of the window.
		for j := MaxSentenceWords; j >= MaxSentenceWords/2; j-- {
			if markers[strings.ToLower(ws[j])] {
				cut = j
				break
			}
			if strings.HasSuffix(ws[j-1], ",") || strings.HasSuffix(ws[j-1], ";") {
				cut = j
				break
			}
		}
		if cut == 0 {
			cut = MaxSentenceWords
		}
		out = append(out, strings.Join(ws[:cut], " "))
		ws = ws[cut:]
	}
	if len(ws) > 0 {
		out = append(out, strings.Join(ws, " "))
	}
	return out
}

// Sentences cleans every segment of t and splits it into sentences. A
// sentence takes its segment's speaker and a time span interpolated within
// the segment by character position. Its time is linear in the text.
func Sentences(t *lecture.Transcript) []lecture.Sentence {
	return sentences(t, nil)
}

// SentencesContext is Sentences that stops soon after ctx ends, with ctx's
// error as a lecture error, code EUNAVAILABLE.
func SentencesContext(ctx context.Context, t *lecture.Transcript) ([]lecture.Sentence, error) {
	st := &stopper{ctx: ctx}
	out := sentences(t, st)
	if st.err != nil {
		return nil, lecture.Wrap(lecture.EUNAVAILABLE, st.err, "splitting the transcript into sentences stopped")
	}
	return out, nil
}

func sentences(t *lecture.Transcript, st *stopper) []lecture.Sentence {
	var out []lecture.Sentence
	for si, seg := range t.Segments {
		if st.tick() {
			break
		}
		parts := splitSentences(clean(seg.Text, st), st)
		total := 0
		for _, p := range parts {
			total += len(p)
		}
		pos := 0
		for _, p := range parts {
			if !isWordy(p) {
				continue
			}
			span := lecture.Span{Start: -1, End: -1}
			if seg.HasTime() {
				d := seg.End - seg.Start
				if d < 0 {
					d = 0
				}
				span.Start = seg.Start + d*float64(pos)/float64(max(total, 1))
				span.End = seg.Start + d*float64(pos+len(p))/float64(max(total, 1))
			}
			pos += len(p)
			out = append(out, lecture.Sentence{Index: len(out), Text: p, Speaker: seg.Speaker, Span: span, Segment: si})
		}
	}
	return out
}

// stopper looks at a context every checkEvery ticks (runes or words) and
// remembers its error; a nil stopper never stops.
type stopper struct {
	ctx context.Context
	n   int
	err error
}

const checkEvery = 4096

// tick counts one step and reports whether to stop.
func (st *stopper) tick() bool {
	if st == nil {
		return false
	}
	if st.n++; st.n < checkEvery {
		return st.err != nil
	}
	return st.stop()
}

// stop looks at the context now and reports whether to stop.
func (st *stopper) stop() bool {
	if st == nil {
		return false
	}
	st.n = 0
	if st.err == nil {
		st.err = st.ctx.Err()
	}
	return st.err != nil
}

// WordCount counts whitespace-separated words that hold a letter or digit
// (a lone "," or "--" of tokenised text is not a word).
func WordCount(s string) int {
	n, in, counted := 0, false, false
	for _, r := range s {
		if unicode.IsSpace(r) {
			in = false
			continue
		}
		if !in {
			in, counted = true, false
		}
		if !counted && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			counted = true
			n++
		}
	}
	return n
}
