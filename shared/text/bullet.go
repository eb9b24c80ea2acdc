package text

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// openers are discourse markers that start spoken sentences and carry
// nothing in a written bullet ("And, so the current state is" reads as
// "The current state is").
var openers = map[string]bool{
	"and": true, "so": true, "but": true, "well": true, "yeah": true, "yes": true, "ok": true, "okay": true,
	"right": true, "now": true, "anyway": true, "basically": true, "actually": true, "oh": true, "alright": true,
	"then": true, "also": true, "like": true, "see": true, "um": true, "uh": true, "hmm": true, "mm": true,
}

// hedges are two-word spoken fillers removed anywhere when set off by
// punctuation or at the start ("you know,", "I mean,").
var hedges = []string{"you know", "i mean", "i guess", "i think", "sort of", "kind of"}

// Bullet turns a spoken sentence into a written bullet: leading discourse
// markers and set-off hedges are dropped and the first letter capitalised.
// Words inside the sentence are kept.
func Bullet(s string) string {
	ws := strings.Fields(s)
	for len(ws) > 1 {
		w0 := strings.ToLower(strings.TrimRight(ws[0], ",;:-"))
		if openers[w0] {
			ws = ws[1:]
			continue
		}
		if len(ws) > 2 {
			pair := w0 + " " + strings.ToLower(strings.TrimRight(ws[1], ",;:"))
			if isHedge(pair) && (strings.HasSuffix(ws[1], ",") || pair == "you know" || pair == "i mean") {
				ws = ws[2:]
				continue
			}
		}
		break
	}
	// set-off hedges inside: "the model, you know, works" -> "the model works"
	out := ws[:0]
	for i := 0; i < len(ws); i++ {
		if i+1 < len(ws) && i > 0 && strings.HasSuffix(ws[i-1], ",") && strings.HasSuffix(ws[i+1], ",") &&
			isHedge(strings.ToLower(ws[i]+" "+strings.TrimRight(ws[i+1], ","))) {
			out[len(out)-1] = strings.TrimRight(out[len(out)-1], ",")
			i++
			continue
		}
		out = append(out, ws[i])
	}
	r := strings.Join(out, " ")
	if c, n := utf8.DecodeRuneInString(r); unicode.IsLower(c) {
		r = string(unicode.ToUpper(c)) + r[n:]
	}
	return r
}

func isHedge(pair string) bool {
	for _, h := range hedges {
		if pair == h {
			return true
		}
	}
	return false
}
