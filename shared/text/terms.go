package text

import (
	"strings"
	"unicode"
)

// stopwords are function words and the fillers of spoken English that carry
// no topic: they are left out of retrieval and salience terms.
var stopwords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a about above after again against all am an and any are aren't as at be because been
	before being below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during
	each few for from further had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself him
	himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself let's me more most mustn't my myself no
	nor not of off on once only or other ought our ours ourselves out over own same shan't she she'd she'll she's should
	shouldn't so some such than that that's the their theirs them themselves then there there's these they they'd they'll
	they're they've this those through to too under until up very was wasn't we we'd we'll we're we've were weren't what
	what's when when's where where's which while who who's whom why why's with won't would wouldn't you you'd you'll you're
	you've your yours yourself yourselves also just really yeah yes okay ok oh well like know think mean gonna wanna gotta
	right sort kind thing things stuff guess actually probably maybe get got go going say said something anything lot
	one two three will shall may might must us let see much many even still now way well uh um hmm mm huh alright sure
	bit whatever though yep nope hi hello thanks thank don't it'd that'd there'd `) {
		m[w] = true
	}
	return m
}()

// IsStopword reports whether the lower-cased word carries no topic.
func IsStopword(w string) bool { return stopwords[w] }

// Terms returns the lower-cased, stemmed content words of s, the unit of
// retrieval and salience: stopwords and one-letter tokens are dropped.
func Terms(s string) []string {
	return AppendTerms(nil, s)
}

// AppendTerms appends the terms of s to dst.
func AppendTerms(dst []string, s string) []string {
	start := -1
	flush := func(end int) {
		if start < 0 {
			return
		}
		w := strings.ToLower(strings.Trim(s[start:end], "'"))
		start = -1
		if len(w) < 2 || stopwords[w] {
			return
		}
		if i := strings.IndexByte(w, '\''); i > 0 { // "newton's" -> "newton"
			w = w[:i]
		}
		dst = append(dst, Stem(w))
	}
	for i, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'' {
			if start < 0 {
				start = i
			}
			continue
		}
		flush(i)
	}
	flush(len(s))
	return dst
}
