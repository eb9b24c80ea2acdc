package text

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// captions are bracketed non-speech annotations of subtitles and meeting
// corpora; "{...}" markers ("{vocalsound}", "{disfmarker}") are dropped too.
var captions = map[string]bool{
	"music": true, "laughter": true, "laughs": true, "applause": true, "inaudible": true, "noise": true,
	"silence": true, "crosstalk": true, "cough": true, "coughs": true, "pause": true, "blank_audio": true,
}

// clitics attach to the word before them in tokenised text ("do n't").
var clitics = map[string]bool{"n't": true, "'s": true, "'re": true, "'ve": true, "'ll": true, "'d": true, "'m": true}

// Normalize applies NFKC, maps every Unicode space and control character to a
// plain space, straightens typographic quotes, and collapses whitespace.
func Normalize(s string) string {
	return normalize(s, nil)
}

// nfkcPiece is the size of the pieces in which normalize runs NFKC over
// a long text, so that it can stop between them; shorter texts go whole.
var nfkcPiece = 1 << 20

func normalize(s string, st *stopper) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= nfkcPiece || st == nil {
		s = norm.NFKC.String(s)
	} else {
		// Normalisation on either side of a boundary is independent, so
		// pieces cut at boundaries normalise to the whole's normal form.
		var buf []byte
		for len(s) > 0 && !st.stop() {
			end := len(s)
			if end > nfkcPiece {
				if j := norm.NFKC.FirstBoundaryInString(s[nfkcPiece:]); j >= 0 {
					end = nfkcPiece + j
				}
			}
			buf = norm.NFKC.AppendString(buf, s[:end])
			s = s[end:]
		}
		s = string(buf)
	}
	var b strings.Builder
	b.Grow(len(s))
	space := true // trims leading space
	for _, r := range s {
		if st.tick() {
			return ""
		}
		switch {
		case unicode.IsSpace(r) || unicode.IsControl(r) || r == '\u200b' || r == '\ufeff':
			if !space {
				b.WriteByte(' ')
				space = true
			}
			continue
		case r == '\u2018' || r == '\u2019':
			r = '\''
		case r == '\u201c' || r == '\u201d':
			r = '"'
		}
		b.WriteRune(r)
		space = false
	}
	return strings.TrimRight(b.String(), " ")
}

// fillers are sounds, not words: removing them never drops content.
var fillers = map[string]bool{
	"um": true, "umm": true, "uh": true, "uhh": true, "uhm": true, "er": true, "erm": true,
	"ah": true, "eh": true, "hmm": true, "hm": true, "mm": true, "mmm": true, "mhm": true,
	"uh-huh": true, "mm-hmm": true, "um-hum": true,
}

// grammatical repetitions that must survive ("I think that that is", "had had").
var keepDoubled = map[string]bool{"that": true, "had": true, "is": true, "do": true, "no": true, "bye": true}

// Clean normalises s and removes disfluencies: annotation markers, filler
// sounds, immediate repetitions ("the the", "I think I think"), and the
// spacing of tokenised text ("we 're on ." becomes "we're on."). Content
// words are never dropped: only exact repeats of a neighbour are collapsed.
// One pass over the words, no regular expressions: it runs on every
// sentence of every lecture.
func Clean(s string) string {
	return clean(s, nil)
}

// clean is Clean that gives up, returning "", once st says stop.
func clean(s string, st *stopper) string {
	words := strings.Fields(normalize(s, st))
	out := words[:0]
	for _, w := range words {
		if st.tick() {
			return ""
		}
		if isMarker(w) {
			continue
		}
		core := strings.ToLower(strings.Trim(w, ",.;:!?\"'"))
		if fillers[core] {
			// Keep sentence-final punctuation that the filler carried.
			if p := trailingStop(w); p != "" && len(out) > 0 {
				out = append(out, p)
			}
			continue
		}
		out = append(out, w)
	}
	out = dropFalseStarts(out)
	if st.stop() {
		return ""
	}
	out = collapseRepeats(out)
	if st.stop() {
		return ""
	}
	return join(out)
}

// realShort are the short words of English that can precede a word they
// begin ("a all", "in intention"); other short lowercase tokens that do so
// are cut-off false starts ("th the", "w when").
var realShort = map[string]bool{
	"a": true, "i": true, "an": true, "as": true, "at": true, "be": true, "by": true, "do": true, "go": true,
	"he": true, "if": true, "in": true, "is": true, "it": true, "me": true, "my": true, "no": true, "of": true,
	"on": true, "or": true, "so": true, "to": true, "up": true, "us": true, "we": true, "and": true, "any": true,
	"are": true, "but": true, "can": true, "for": true, "had": true, "has": true, "her": true, "his": true,
	"how": true, "not": true, "now": true, "one": true, "our": true, "out": true, "the": true, "two": true,
	"was": true, "way": true, "who": true, "why": true, "you": true, "all": true, "new": true, "see": true,
}

// dropFalseStarts removes cut-off words: a short lowercase non-word that
// begins the next word ("w when"), or a token ending in a hyphen ("reco-").
func dropFalseStarts(ws []string) []string {
	out := ws[:0]
	for i, w := range ws {
		if len(w) > 1 && strings.HasSuffix(w, "-") && !strings.HasSuffix(w, "--") && isWordy(w) {
			continue
		}
		if i+1 < len(ws) && len(w) <= 3 && !realShort[w] && isLowerWord(w) {
			next := strings.ToLower(ws[i+1])
			if len(next) > len(w) && strings.HasPrefix(next, w) {
				continue
			}
		}
		out = append(out, w)
	}
	return out
}

func isLowerWord(w string) bool {
	for i := 0; i < len(w); i++ {
		if w[i] < 'a' || w[i] > 'z' {
			return false
		}
	}
	return true
}

// isMarker reports whether a token is "{vocalsound}" or "[laughter]"-like.
func isMarker(w string) bool {
	w = strings.TrimRight(w, ",.;:!?")
	if len(w) < 3 {
		return false
	}
	switch {
	case w[0] == '{' && w[len(w)-1] == '}':
		return true
	case w[0] == '[' && w[len(w)-1] == ']', w[0] == '(' && w[len(w)-1] == ')':
		return captions[strings.ToLower(w[1:len(w)-1])]
	}
	return false
}

// join writes the tokens with single spaces, attaching clitics and
// punctuation to the word before them and tidying doubled punctuation.
// It only appends to or trims the end of its buffer: linear in the text.
func join(ws []string) string {
	b := make([]byte, 0, len(ws)*6)
	for _, w := range ws {
		switch {
		case len(b) > 0 && clitics[strings.ToLower(w)] && isWordy(lastToken(b)):
			b = append(b, w...)
		case isPunct(w):
			if len(b) == 0 {
				continue // no leading punctuation
			}
			last := b[len(b)-1]
			switch {
			case strings.IndexByte(",;:", last) >= 0 && strings.IndexByte(".?!", w[0]) >= 0:
				// "word, ." -> "word."
				for len(b) > 0 && strings.IndexByte(",;:", b[len(b)-1]) >= 0 {
					b = b[:len(b)-1]
				}
				b = append(b, w[0])
			case strings.IndexByte(",;:.?!", last) >= 0 && strings.IndexByte(",;:.", w[0]) >= 0:
				// drop "," or "." after punctuation
			default:
				b = append(b, w...)
			}
		default:
			if n := len(b); n > 0 && b[n-1] != '(' && b[n-1] != '[' {
				b = append(b, ' ')
			}
			b = append(b, w...)
		}
	}
	return string(b)
}

func lastToken(b []byte) string {
	if i := bytes.LastIndexByte(b, ' '); i >= 0 {
		b = b[i+1:]
	}
	return string(b)
}

// isPunct reports whether w is made only of closing punctuation.
func isPunct(w string) bool {
	for i := 0; i < len(w); i++ {
		if strings.IndexByte(",.;:!?%)]}", w[i]) < 0 {
			return false
		}
	}
	return len(w) > 0
}

func trailingStop(w string) string {
	if strings.HasSuffix(w, ".") || strings.HasSuffix(w, "?") || strings.HasSuffix(w, "!") {
		return w[len(w)-1:]
	}
	return ""
}

// collapseRepeats removes immediate repeats of one or two words, compared
// without case and trailing commas ("I I", "the, the", "you know you know").
func collapseRepeats(ws []string) []string {
	// same compares words ignoring case and trailing commas, without allocating.
	key := func(w string) string { return strings.TrimRight(w, ",") }
	same := func(a, b string) bool { return strings.EqualFold(key(a), key(b)) }
	out := make([]string, 0, len(ws))
	for _, w := range ws {
		n := len(out)
		if n >= 1 && same(out[n-1], w) && !strings.ContainsAny(out[n-1], ".?!") && isWordy(w) && !keepDoubled[strings.ToLower(key(w))] {
			// keep the first one's case and the later one's punctuation
			out[n-1] = strings.TrimRight(out[n-1], ",") + w[len(strings.TrimRightFunc(w, unicode.IsPunct)):]
			continue
		}
		out = append(out, w)
		n++
		// two-word repeat: a b a b -> a b
		if n >= 4 && same(out[n-1], out[n-3]) && same(out[n-2], out[n-4]) &&
			!strings.ContainsAny(out[n-3], ".?!") && !strings.ContainsAny(out[n-4], ".?!") && isWordy(out[n-1]) && isWordy(out[n-2]) {
			out[n-3], out[n-4] = out[n-1], out[n-2]
			out = out[:n-2]
		}
	}
	return out
}

func isWordy(w string) bool {
	for _, r := range w {
		if unicode.IsLetter(r) {
			return true
		}
	}
	return false
}
