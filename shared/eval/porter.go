package eval

import (
	"strings"
	"unicode/utf8"
)

// Our own Porter stemmer: rouge_score stems with NLTK's PorterStemmer in its
// default NLTK_EXTENSIONS mode, and the Go stemmers available implement either
// Porter2/Snowball or the original 1980 Porter algorithm, neither of which
// gives NLTK's stems (irregular-form pool, "ies"/"ied" on short words, y->i
// only after a consonant, "alli" first, "fulli" and "logi" rules, ...).
//
// The stemmer below works on lowercase ASCII words held in a byte slice and
// edits them in place; no step ever makes a word longer than its input.
// testdata/porter_reference.tsv (made by testdata/gen_reference.py with the
// real NLTK) checks it word for word.

// Stem returns NLTK's PorterStemmer().stem(word) (NLTK_EXTENSIONS mode,
// to_lowercase=True). Like NLTK, the irregular-form table is consulted with
// the word as given (before lowercasing) and words of at most two characters
// are returned lowercased but otherwise unchanged. Lowercasing uses Go's
// strings.ToLower, which agrees with Python's str.lower except for U+0130.
func Stem(word string) string {
	lower := strings.ToLower(word)
	if s, ok := irregularStem(word); ok {
		return s
	}
	if utf8.RuneCountInString(word) <= 2 {
		return lower
	}
	return string(stemSteps([]byte(lower)))
}

// stemToken stems a lowercase ASCII token in place (as rouge_score calls the
// stemmer: the token is already lowercase, so the pool lookup and the
// lowercasing coincide). It returns the stemmed prefix of buf.
func stemToken(buf []byte) []byte {
	if s, ok := irregularStem(string(buf)); ok {
		return append(buf[:0], s...)
	}
	if len(buf) <= 2 {
		return buf
	}
	return stemSteps(buf)
}

// irregularStem is NLTK's table of irregular forms (NLTK_EXTENSIONS only).
func irregularStem(w string) (string, bool) {
	switch w {
	case "sky", "skies":
		return "sky", true
	case "dying":
		return "die", true
	case "lying":
		return "lie", true
	case "tying":
		return "tie", true
	case "news":
		return "news", true
	case "innings", "inning":
		return "inning", true
	case "outings", "outing":
		return "outing", true
	case "cannings", "canning":
		return "canning", true
	case "howe":
		return "howe", true
	case "proceed":
		return "proceed", true
	case "exceed":
		return "exceed", true
	case "succeed":
		return "succeed", true
	}
	return "", false
}

func stemSteps(w []byte) []byte {
	w = step1a(w)
	w = step1b(w)
	w = step1c(w)
	w = step2(w)
	w = step3(w)
	w = step4(w)
	w = step5a(w)
	w = step5b(w)
	return w
}

// isCons reports whether w[i] is a consonant in Porter's sense: not a vowel,
// and a 'y' counts as a consonant only at the start or after a vowel.
// Anything that is not a letter (digits) is a consonant, as in NLTK.
func isCons(w []byte, i int) bool {
	switch w[i] {
	case 'a', 'e', 'i', 'o', 'u':
		return false
	case 'y':
		if i == 0 {
			return true
		}
		return !isCons(w, i-1)
	}
	return true
}

// measure is Porter's m: the number of vowel-to-consonant transitions.
func measure(w []byte) int {
	m := 0
	prevCons := false
	for i, ch := range w {
		var c bool
		switch ch {
		case 'a', 'e', 'i', 'o', 'u':
			c = false
		case 'y':
			c = i == 0 || !prevCons
		default:
			c = true
		}
		if i > 0 && c && !prevCons {
			m++
		}
		prevCons = c
	}
	return m
}

func containsVowel(w []byte) bool {
	prevCons := false
	for i, ch := range w {
		switch ch {
		case 'a', 'e', 'i', 'o', 'u':
			return true
		case 'y':
			if i > 0 && prevCons {
				return true
			}
			prevCons = true
		default:
			prevCons = true
		}
	}
	return false
}

// endsDouble is condition *d: the word ends with a doubled consonant.
func endsDouble(w []byte) bool {
	n := len(w)
	return n >= 2 && w[n-1] == w[n-2] && isCons(w, n-1)
}

// endsCVC is condition *o, with NLTK's extension that a two-letter
// vowel-consonant word also qualifies.
func endsCVC(w []byte) bool {
	n := len(w)
	if n >= 3 && isCons(w, n-3) && !isCons(w, n-2) && isCons(w, n-1) {
		switch w[n-1] {
		case 'w', 'x', 'y':
		default:
			return true
		}
	}
	return n == 2 && !isCons(w, 0) && isCons(w, 1)
}

func hasSuffix(w []byte, s string) bool {
	return len(w) >= len(s) && string(w[len(w)-len(s):]) == s
}

// replace swaps the last k bytes of w for rep.
func replace(w []byte, k int, rep string) []byte {
	return append(w[:len(w)-k], rep...)
}

// Rule conditions.
const (
	condNone = iota
	condM0   // m(stem) > 0
	condM1   // m(stem) > 1
	condIon  // m(stem) > 1 and stem ends in s or t
	condLogi // m(word minus "ogi") > 0: the 'l' stays with the stem
)

type rule struct {
	suffix, rep string
	cond        int
}

// applyRules applies the first rule whose suffix matches; if its condition
// fails the word is returned unchanged and no later rule is tried.
func applyRules(w []byte, rules []rule) []byte {
	n := len(w)
	if n == 0 {
		return w
	}
	last := w[n-1]
	for _, r := range rules {
		if k := len(r.suffix); k > 0 && (k > n || r.suffix[k-1] != last) || !hasSuffix(w, r.suffix) {
			continue
		}
		stem := w[:len(w)-len(r.suffix)]
		ok := true
		switch r.cond {
		case condM0:
			ok = measure(stem) > 0
		case condM1:
			ok = measure(stem) > 1
		case condIon:
			ok = measure(stem) > 1 && (stem[len(stem)-1] == 's' || stem[len(stem)-1] == 't')
		case condLogi:
			ok = measure(w[:len(w)-3]) > 0
		}
		if !ok {
			return w
		}
		return append(stem, r.rep...)
	}
	return w
}

var step1aRules = []rule{
	{"sses", "ss", condNone},
	{"ies", "i", condNone},
	{"ss", "ss", condNone},
	{"s", "", condNone},
}

func step1a(w []byte) []byte {
	if len(w) == 4 && hasSuffix(w, "ies") { // NLTK: dies -> die, flies -> fli
		return w[:3]
	}
	return applyRules(w, step1aRules)
}

func step1b(w []byte) []byte {
	if hasSuffix(w, "ied") { // NLTK: died -> die, spied -> spi
		if len(w) == 4 {
			return w[:3]
		}
		return w[:len(w)-2]
	}
	if hasSuffix(w, "eed") {
		if measure(w[:len(w)-3]) > 0 {
			return w[:len(w)-1]
		}
		return w
	}
	var stem []byte
	switch {
	case hasSuffix(w, "ed") && containsVowel(w[:len(w)-2]):
		stem = w[:len(w)-2]
	case hasSuffix(w, "ing") && containsVowel(w[:len(w)-3]):
		stem = w[:len(w)-3]
	default:
		return w
	}
	switch {
	case hasSuffix(stem, "at"), hasSuffix(stem, "bl"), hasSuffix(stem, "iz"):
		return append(stem, 'e')
	case endsDouble(stem):
		switch stem[len(stem)-1] {
		case 'l', 's', 'z':
			return stem
		}
		return stem[:len(stem)-1]
	case measure(stem) == 1 && endsCVC(stem):
		return append(stem, 'e')
	}
	return stem
}

func step1c(w []byte) []byte {
	// NLTK: y -> i only after a consonant that is not the whole stem.
	n := len(w)
	if n > 2 && w[n-1] == 'y' && isCons(w, n-2) {
		w[n-1] = 'i'
	}
	return w
}

var step2Rules = []rule{
	{"ational", "ate", condM0},
	{"tional", "tion", condM0},
	{"enci", "ence", condM0},
	{"anci", "ance", condM0},
	{"izer", "ize", condM0},
	{"bli", "ble", condM0},
	{"alli", "al", condM0},
	{"entli", "ent", condM0},
	{"eli", "e", condM0},
	{"ousli", "ous", condM0},
	{"ization", "ize", condM0},
	{"ation", "ate", condM0},
	{"ator", "ate", condM0},
	{"alism", "al", condM0},
	{"iveness", "ive", condM0},
	{"fulness", "ful", condM0},
	{"ousness", "ous", condM0},
	{"aliti", "al", condM0},
	{"iviti", "ive", condM0},
	{"biliti", "ble", condM0},
	{"fulli", "ful", condM0},
	{"logi", "log", condLogi},
}

func step2(w []byte) []byte {
	// NLTK applies alli -> al first and then runs step 2 again.
	if hasSuffix(w, "alli") && measure(w[:len(w)-4]) > 0 {
		return step2(w[:len(w)-2])
	}
	return applyRules(w, step2Rules)
}

var step3Rules = []rule{
	{"icate", "ic", condM0},
	{"ative", "", condM0},
	{"alize", "al", condM0},
	{"iciti", "ic", condM0},
	{"ical", "ic", condM0},
	{"ful", "", condM0},
	{"ness", "", condM0},
}

func step3(w []byte) []byte { return applyRules(w, step3Rules) }

var step4Rules = []rule{
	{"al", "", condM1},
	{"ance", "", condM1},
	{"ence", "", condM1},
	{"er", "", condM1},
	{"ic", "", condM1},
	{"able", "", condM1},
	{"ible", "", condM1},
	{"ant", "", condM1},
	{"ement", "", condM1},
	{"ment", "", condM1},
	{"ent", "", condM1},
	{"ion", "", condIon},
	{"ou", "", condM1},
	{"ism", "", condM1},
	{"ate", "", condM1},
	{"iti", "", condM1},
	{"ous", "", condM1},
	{"ive", "", condM1},
	{"ize", "", condM1},
}

func step4(w []byte) []byte { return applyRules(w, step4Rules) }

func step5a(w []byte) []byte {
	if n := len(w); n > 0 && w[n-1] == 'e' {
		stem := w[:n-1]
		m := measure(stem)
		if m > 1 || (m == 1 && !endsCVC(stem)) {
			return stem
		}
	}
	return w
}

func step5b(w []byte) []byte {
	if hasSuffix(w, "ll") && measure(w[:len(w)-1]) > 1 {
		return w[:len(w)-1]
	}
	return w
}
