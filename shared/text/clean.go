package text

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

var (
	// Annotation markers of meeting corpora ("{vocalsound}", "{disfmarker}") and
	// bracketed non-speech captions ("[music]", "(laughter)").
	reMarker  = regexp.MustCompile(`\{[a-z_]+\}|\[(?i:music|laughter|laughs|applause|inaudible|noise|silence|crosstalk|coughs?|pause|blank_audio)\]|\((?i:laughter|laughs|applause|inaudible|coughs?)\)`)
	reSpaceIn = regexp.MustCompile(`\s+`)
	// Tokenised text writes "we 're", "do n't", "word ," — join them back.
	reClitic = regexp.MustCompile(`(?i)(\w) (n't|'s|'re|'ve|'ll|'d|'m)\b`)
	rePunctL = regexp.MustCompile(` ([,.;:!?%)\]}])`)
	rePunctR = regexp.MustCompile(`([(\[{$]) `)
)

// Normalize applies NFKC, maps every Unicode space and control character to a
// plain space, straightens typographic quotes, and collapses whitespace.
func Normalize(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	s = norm.NFKC.String(s)
	var b strings.Builder
	b.Grow(len(s))
	space := true // trims leading space
	for _, r := range s {
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
// spacing of tokenised text. Content words are never dropped: only exact
// repeats of a neighbour are collapsed.
func Clean(s string) string {
	s = Normalize(s)
	s = reMarker.ReplaceAllString(s, " ")
	words := strings.Fields(s)
	out := words[:0]
	for _, w := range words {
		core := strings.ToLower(strings.Trim(w, ",.;:!?\"'"))
		if fillers[core] {
			// Keep sentence-final punctuation that the filler carried.
			if p := trailingStop(w); p != "" && len(out) > 0 {
				out[len(out)-1] = strings.TrimRight(out[len(out)-1], ",;:") + p
			}
			continue
		}
		out = append(out, w)
	}
	out = collapseRepeats(out)
	s = strings.Join(out, " ")
	s = reClitic.ReplaceAllString(s, "$1$2")
	s = rePunctL.ReplaceAllString(s, "$1")
	s = rePunctR.ReplaceAllString(s, "$1")
	s = tidyPunct(s)
	return strings.TrimSpace(s)
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
	key := func(w string) string { return strings.ToLower(strings.TrimRight(w, ",")) }
	out := make([]string, 0, len(ws))
	for _, w := range ws {
		n := len(out)
		if n >= 1 && key(out[n-1]) == key(w) && !strings.ContainsAny(out[n-1], ".?!") && !keepDoubled[key(w)] && isWordy(w) {
			// keep the first one's case and the later one's punctuation
			out[n-1] = strings.TrimRight(out[n-1], ",") + w[len(strings.TrimRightFunc(w, unicode.IsPunct)):]
			continue
		}
		out = append(out, w)
		n++
		// two-word repeat: a b a b -> a b
		if n >= 4 && key(out[n-1]) == key(out[n-3]) && key(out[n-2]) == key(out[n-4]) &&
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

var (
	reDupPunct   = regexp.MustCompile(`([,;:])\s*[,;:]+`)
	reCommaStop  = regexp.MustCompile(`[,;:]+\s*([.?!])`)
	reLeadPunct  = regexp.MustCompile(`^[,;:.]+\s*`)
	reStopStop   = regexp.MustCompile(`([.?!])(\s*\.)+`)
	reCommaAfter = regexp.MustCompile(`([.?!])\s*,`)
)

func tidyPunct(s string) string {
	s = reDupPunct.ReplaceAllString(s, "$1")
	s = reCommaStop.ReplaceAllString(s, "$1")
	s = reStopStop.ReplaceAllString(s, "$1")
	s = reCommaAfter.ReplaceAllString(s, "$1")
	s = reLeadPunct.ReplaceAllString(s, "")
	return reSpaceIn.ReplaceAllString(s, " ")
}
