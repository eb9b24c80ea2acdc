package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// wordPiece is BERT's tokenizer: BertNormalizer, BertPreTokenizer, greedy
// longest-match-first WordPiece.
type wordPiece struct {
	vocab     map[string]int
	unk       string
	prefix    string
	maxChars  int
	normalize func(string) string
}

func newWordPiece(model, normalizer json.RawMessage) (*wordPiece, error) {
	var m struct {
		Vocab                   map[string]int `json:"vocab"`
		UnkToken                string         `json:"unk_token"`
		ContinuingSubwordPrefix *string        `json:"continuing_subword_prefix"`
		MaxInputCharsPerWord    int            `json:"max_input_chars_per_word"`
	}
	if err := json.Unmarshal(model, &m); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	w := &wordPiece{vocab: m.Vocab, unk: m.UnkToken, prefix: "##", maxChars: 100, normalize: func(s string) string { return s }}
	if m.ContinuingSubwordPrefix != nil {
		w.prefix = *m.ContinuingSubwordPrefix
	}
	if m.MaxInputCharsPerWord > 0 {
		w.maxChars = m.MaxInputCharsPerWord
	}
	if _, ok := w.vocab[w.unk]; !ok {
		return nil, fmt.Errorf("model: unk_token %q is not in the vocabulary", w.unk)
	}
	if len(normalizer) > 0 && string(normalizer) != "null" {
		var n struct {
			Type               string `json:"type"`
			CleanText          *bool  `json:"clean_text"`
			HandleChineseChars *bool  `json:"handle_chinese_chars"`
			StripAccents       *bool  `json:"strip_accents"`
			Lowercase          *bool  `json:"lowercase"`
		}
		if err := json.Unmarshal(normalizer, &n); err != nil {
			return nil, fmt.Errorf("normalizer: %w", err)
		}
		if n.Type != "BertNormalizer" {
			return nil, fmt.Errorf("normalizer %q with WordPiece is not supported yet (BertNormalizer is)", n.Type)
		}
		on := func(p *bool) bool { return p == nil || *p }
		clean, cjk, lower := on(n.CleanText), on(n.HandleChineseChars), on(n.Lowercase)
		strip := lower && (n.StripAccents == nil || *n.StripAccents) || (!lower && n.StripAccents != nil && *n.StripAccents)
		w.normalize = func(s string) string { return bertNormalize(s, clean, cjk, lower, strip) }
	}
	return w, nil
}

func (w *wordPiece) encode(text string, _ int, ids []int) []int {
	for _, word := range bertPreTokenize(text) { // normalised by the Tokenizer
		ids = w.word(word, ids)
	}
	return ids
}

func (w *wordPiece) word(word string, ids []int) []int {
	chars := []rune(word)
	if len(chars) > w.maxChars {
		return append(ids, w.vocab[w.unk])
	}
	start := len(ids)
	for s := 0; s < len(chars); {
		id, end := -1, len(chars)
		for ; end > s; end-- {
			sub := string(chars[s:end])
			if s > 0 {
				sub = w.prefix + sub
			}
			if v, ok := w.vocab[sub]; ok {
				id = v
				break
			}
		}
		if id < 0 {
			return append(ids[:start], w.vocab[w.unk])
		}
		ids = append(ids, id)
		s = end
	}
	return ids
}

// bertNormalize is the reference's BertNormalizer. Its Chinese-character
// check looks at UTF-16 code units, so characters beyond the BMP are never
// padded; this does the same.
func bertNormalize(s string, clean, cjk, lower, strip bool) string {
	var b strings.Builder
	for _, r := range s {
		if clean {
			if r == 0 || r == 0xfffd || isControl(r) {
				continue
			}
			if r <= 0xffff && isSpace(r) {
				b.WriteByte(' ')
				continue
			}
		}
		if cjk && r <= 0xffff && isChinese(r) {
			b.WriteByte(' ')
			b.WriteRune(r)
			b.WriteByte(' ')
			continue
		}
		b.WriteRune(r)
	}
	s = b.String()
	if lower {
		s = strings.ToLower(s)
	}
	if strip {
		s = stripAccents(s)
	}
	return s
}

func isControl(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs)
}

func isChinese(r rune) bool {
	return (r >= 0x4e00 && r <= 0x9fff) || (r >= 0x3400 && r <= 0x4dbf) || (r >= 0x20000 && r <= 0x2a6df) ||
		(r >= 0x2a700 && r <= 0x2b73f) || (r >= 0x2b740 && r <= 0x2b81f) || (r >= 0x2b820 && r <= 0x2ceaf) ||
		(r >= 0xf900 && r <= 0xfaff) || (r >= 0x2f800 && r <= 0x2fa1f)
}

func stripAccents(s string) string {
	s = norm.NFD.String(s)
	return strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Mn, r) {
			return -1
		}
		return r
	}, s)
}

// isBertPunct is \p{P} plus the ASCII symbol ranges BERT treats as punctuation.
func isBertPunct(r rune) bool {
	return (r >= 0x21 && r <= 0x2f) || (r >= 0x3a && r <= 0x40) || (r >= 0x5b && r <= 0x60) || (r >= 0x7b && r <= 0x7e) ||
		unicode.IsPunct(r)
}

// bertPreTokenize splits on whitespace and makes each punctuation mark a word.
func bertPreTokenize(s string) []string {
	var out []string
	start := -1
	for i, r := range s {
		switch {
		case isSpace(r):
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
		case isBertPunct(r):
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
			out = append(out, s[i:i+utf8.RuneLen(r)])
		default:
			if start < 0 {
				start = i
			}
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

// cleanUpTokenization is the reference's clean_up_tokenization.
func cleanUpTokenization(s string) string {
	// The reference applies each replacement in turn over the whole string;
	// a Replacer is one left-to-right pass, which differs only on overlaps
	// like " ' s", so apply sequentially to be exact.
	for _, p := range [][2]string{{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}} {
		s = strings.ReplaceAll(s, p[0], p[1])
	}
	return s
}

// decodeWordPiece joins tokens, gluing "##" continuations to the previous one.
func decodeWordPiece(tokens []string, prefix string, cleanup bool) string {
	var b strings.Builder
	for i, t := range tokens {
		if i > 0 {
			if prefix != "" && strings.HasPrefix(t, prefix) {
				t = strings.Replace(t, prefix, "", 1)
			} else {
				t = " " + t
			}
		}
		if cleanup {
			t = cleanUpTokenization(t)
		}
		b.WriteString(t)
	}
	return b.String()
}
