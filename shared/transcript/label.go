package transcript

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// notSpeakers are first words of "Word: text" lines that introduce text
// rather than name whoever speaks ("Note: the exam is on Monday").
var notSpeakers = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`
		note notes nb warning caution important attention notice caveat disclaimer reminder remember
		tip hint example examples e.g i.e eg ie definition theorem lemma proof corollary
		step chapter section part lecture lesson unit topic topics summary conclusion introduction
		agenda outline objective objectives goal goals exercise problem solution figure table
		source sources reference references link url file subject date time re fw fwd cc bcc ps p.s
		update edit edited transcript title author language kind and but so well now then also
		here there this that these those what why how when where which who whom whose yes no
		okay ok key rule idea point fact result results input output usage error todo fixme recall
		quote my our your his her their its an in on at for with if as or not all some every each
		one two three first second third next last finally today tomorrow yesterday please thanks
		thank hello hi dear hey question questions`) {
		notSpeakers[w] = true
	}
}

// nameParticles may appear in lower case inside a name ("Tako van Popta").
var nameParticles = map[string]bool{"de": true, "van": true, "von": true, "der": true, "den": true,
	"da": true, "di": true, "du": true, "la": true, "le": true, "del": true, "bin": true, "al": true}

// splitLabel splits "Speaker: text" into its speaker and text. The speaker
// must look like a name or a role: one to three capitalised words (four when
// loose, for titles such as "Right Hon. Justin Trudeau"), or an id such as
// "PhD F" or "Speaker 2"; loose also allows a parenthesised note after the
// name ("Mr. John Nater (Perth, CPC)") and lower-case name particles. The
// colon must be followed by a space or the end of the line.
func splitLabel(line string, loose bool) (speaker, rest string, ok bool) {
	i := strings.IndexByte(line, ':')
	limit := 40
	if loose {
		limit = 160
	}
	if i <= 0 || i > limit {
		return "", "", false
	}
	after := line[i+1:]
	if after != "" && after[0] != ' ' && after[0] != '\t' {
		return "", "", false
	}
	label := line[:i]
	if !isLabel(label, loose) {
		return "", "", false
	}
	return label, strings.TrimSpace(after), true
}

func isLabel(label string, loose bool) bool {
	core := label
	if strings.HasSuffix(label, ")") {
		j := strings.Index(label, " (")
		if !loose || j <= 0 || !balanced(label[j+1:]) {
			return false
		}
		core = label[:j]
	}
	words := strings.Split(core, " ")
	max := 3
	if loose {
		max = 4
	}
	if len(words) > max || notSpeakers[strings.ToLower(strings.TrimRight(words[0], "."))] {
		return false
	}
	for k, w := range words {
		if !nameWord(w, k == 0, k == len(words)-1, loose) {
			return false
		}
	}
	return true
}

func nameWord(w string, first, last, loose bool) bool {
	if w == "" || len(w) > 30 {
		return false
	}
	if !first && digits(w, 1, 4) { // "Speaker 2"
		return true
	}
	if loose && !first && !last && nameParticles[w] {
		return true
	}
	r, _ := utf8.DecodeRuneInString(w)
	upper, letter := false, false
	for _, c := range w {
		switch {
		case unicode.IsUpper(c):
			upper, letter = true, true
		case unicode.IsLetter(c):
			letter = true
		case unicode.IsDigit(c) || c == '.' || c == '\'' || c == '-' || c == '_' || c == '’':
		default:
			return false
		}
	}
	if !letter {
		return false
	}
	// "d'Entremont": a lower-case start is fine inside a loose name with a capital in it.
	return unicode.IsUpper(r) || (loose && !first && upper)
}

func balanced(s string) bool {
	depth := 0
	for _, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return false
			}
		case ':', '\n':
			return false
		}
	}
	return depth == 0
}

// clean collapses runs of white space to single spaces and trims the ends.
func clean(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c >= utf8.RuneSelf ||
			(c == ' ' && (i == 0 || i == len(s)-1 || s[i+1] == ' ')) {
			return strings.Join(strings.Fields(s), " ")
		}
	}
	return s
}
