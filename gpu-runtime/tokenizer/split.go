package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// isSpace is JavaScript's \s (what the reference's regexes use): Unicode
// White_Space without U+0085, plus U+FEFF.
func isSpace(r rune) bool {
	return r == 0xfeff || (r != 0x85 && unicode.IsSpace(r))
}

func trimEndSpace(s string) string   { return strings.TrimRightFunc(s, isSpace) }
func trimStartSpace(s string) string { return strings.TrimLeftFunc(s, isSpace) }

// addedToken is a token matched verbatim in text before anything else runs.
type addedToken struct {
	id             int
	content        string
	lstrip, rstrip bool
	normalized     bool
}

// splitter finds added tokens: at each position the longest one that
// matches, leftmost first (as the reference's trie does).
type splitter struct {
	byFirst map[byte][]string // candidates by first byte, longest first
}

func newSplitter(words []string) *splitter {
	s := &splitter{byFirst: map[byte][]string{}}
	for _, w := range words {
		if w == "" {
			continue
		}
		s.byFirst[w[0]] = append(s.byFirst[w[0]], w)
	}
	for _, l := range s.byFirst {
		for i := 1; i < len(l); i++ {
			for j := i; j > 0 && len(l[j]) > len(l[j-1]); j-- {
				l[j], l[j-1] = l[j-1], l[j]
			}
		}
	}
	return s
}

// split cuts text into pieces; matched added tokens are pieces of their own.
func (s *splitter) split(text string) []string {
	if len(s.byFirst) == 0 {
		return []string{text}
	}
	var out []string
	start := 0
	for i := 0; i < len(text); {
		match := ""
		for _, w := range s.byFirst[text[i]] {
			if strings.HasPrefix(text[i:], w) {
				match = w
				break
			}
		}
		if match == "" {
			_, n := utf8.DecodeRuneInString(text[i:])
			i += n
			continue
		}
		if i > start {
			out = append(out, text[start:i])
		}
		out = append(out, match)
		i += len(match)
		start = i
	}
	if start < len(text) {
		out = append(out, text[start:])
	}
	return out
}

// stripAround applies lstrip/rstrip of added tokens to their neighbours.
func stripAround(sections []string, added map[string]*addedToken) {
	for i, sec := range sections {
		at := added[sec]
		if at == nil {
			continue
		}
		if at.lstrip && i > 0 {
			sections[i-1] = trimEndSpace(sections[i-1])
		}
		if at.rstrip && i < len(sections)-1 {
			sections[i+1] = trimStartSpace(sections[i+1])
		}
	}
}

// gpt2Split is the GPT-2 pre-tokenizer regex
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// written out by hand, because Go's regexp has no look-ahead.
func gpt2Split(text string) []string {
	var out []string
	for i := 0; i < len(text); {
		n := gpt2Match(text[i:])
		out = append(out, text[i:i+n])
		i += n
	}
	return out
}

var contractions = []string{"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"}

// gpt2Match returns the length of the regex's match at the start of s.
func gpt2Match(s string) int {
	for _, c := range contractions {
		if strings.HasPrefix(s, c) {
			return len(c)
		}
	}
	j := 0
	if s[0] == ' ' {
		j = 1
	}
	if j < len(s) {
		r, _ := utf8.DecodeRuneInString(s[j:])
		var class func(rune) bool
		switch {
		case unicode.IsLetter(r):
			class = unicode.IsLetter
		case unicode.IsNumber(r):
			class = unicode.IsNumber
		case !isSpace(r):
			class = func(r rune) bool { return !isSpace(r) && !unicode.IsLetter(r) && !unicode.IsNumber(r) }
		}
		if class != nil {
			for j < len(s) {
				r, n := utf8.DecodeRuneInString(s[j:])
				if !class(r) {
					break
				}
				j += n
			}
			return j
		}
	}
	// Whitespace: \s+(?!\S) leaves the last space before a non-space; a
	// single space before one is matched by \s+ alone.
	end, last := 0, 0
	for end < len(s) {
		r, n := utf8.DecodeRuneInString(s[end:])
		if !isSpace(r) {
			break
		}
		last = end
		end += n
	}
	if end == len(s) || last == 0 {
		return end
	}
	return last
}

// qwenPattern is the Split pre-tokenizer regex of Qwen2/2.5/3 (and others
// built on the same byte-level BPE), which splitQwen implements.
const qwenPattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// isWhiteSpace is \p{White_Space}: the reference rewrites the pattern's \s
// to it (U+0085 included, U+FEFF not), unlike JavaScript's own \s.
func isWhiteSpace(r rune) bool { return unicode.Is(unicode.White_Space, r) }

// splitQwen splits text by qwenPattern, keeping every match (behavior
// "Isolated"); every character is matched by some alternative, so nothing
// is left between matches. Written by hand, as Go's regexp has no look-ahead.
func splitQwen(text string) []string {
	var out []string
	for i := 0; i < len(text); {
		n := qwenMatch(text[i:])
		out = append(out, text[i:i+n])
		i += n
	}
	return out
}

// qwenMatch returns the length of the pattern's match at the start of s,
// trying the alternatives in order as a backtracking engine does.
func qwenMatch(s string) int {
	// (?i:'s|'t|'re|'ve|'m|'ll|'d), ASCII case folding only (as the reference).
	if s[0] == '\'' && len(s) > 1 {
		for _, c := range contractions {
			if len(s) >= len(c) && asciiEqualFold(s[1:len(c)], c[1:]) {
				return len(c)
			}
		}
	}
	c0, n0 := utf8.DecodeRuneInString(s)
	letters := func(j int) int { // end of the \p{L}+ run from j (j itself when none)
		for j < len(s) {
			r, n := utf8.DecodeRuneInString(s[j:])
			if !unicode.IsLetter(r) {
				break
			}
			j += n
		}
		return j
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if unicode.IsLetter(c0) {
		return letters(n0)
	}
	if c0 != '\r' && c0 != '\n' && !unicode.IsNumber(c0) {
		if e := letters(n0); e > n0 {
			return e
		}
	}
	// \p{N}
	if unicode.IsNumber(c0) {
		return n0
	}
	// ' ?[^\s\p{L}\p{N}]+[\r\n]*'
	other := func(r rune) bool { return !isWhiteSpace(r) && !unicode.IsLetter(r) && !unicode.IsNumber(r) }
	j := 0
	if c0 == ' ' {
		j = 1
	}
	if j < len(s) {
		if r, _ := utf8.DecodeRuneInString(s[j:]); other(r) {
			for j < len(s) {
				r, n := utf8.DecodeRuneInString(s[j:])
				if !other(r) {
					break
				}
				j += n
			}
			for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
				j++
			}
			return j
		}
	}
	// The rest start with white space: W is the whole run.
	end, last, lastNL := 0, 0, -1
	for end < len(s) {
		r, n := utf8.DecodeRuneInString(s[end:])
		if !isWhiteSpace(r) {
			break
		}
		if r == '\r' || r == '\n' {
			lastNL = end
		}
		last = end
		end += n
	}
	// \s*[\r\n]+: \s* backs off to the last line break in the run.
	if lastNL >= 0 {
		return lastNL + 1
	}
	// \s+(?!\S): the whole run at the end of text, else all but its last
	// character (which must leave at least one).
	if end == len(s) {
		return end
	}
	if last > 0 {
		return last
	}
	// \s+
	return end
}

// asciiEqualFold compares a with lower-case ASCII b, folding A-Z only.
func asciiEqualFold(a, b string) bool {
	for i := 0; i < len(b); i++ {
		c := a[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != b[i] {
			return false
		}
	}
	return true
}
