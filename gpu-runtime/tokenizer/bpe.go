package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// byteToRune is GPT-2's bytes_to_unicode: printable bytes stand for
// themselves, the rest map to U+0100 onwards, so every byte is a visible rune.
var byteToRune, runeToByte = func() ([256]rune, map[rune]byte) {
	var b2r [256]rune
	r2b := map[rune]byte{}
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff) {
			b2r[b] = rune(b)
		} else {
			b2r[b] = rune(256 + n)
			n++
		}
		r2b[b2r[b]] = byte(b)
	}
	return b2r, r2b
}()

// byteLevelBPE is GPT-2-style BPE over bytes, with the GPT-2 regex
// pre-tokenizer (what BART, RoBERTa and Whisper use).
type byteLevelBPE struct {
	vocab          map[string]int
	ranks          map[[2]string]int
	addPrefixSpace bool
	useRegex       bool

	mu    sync.Mutex
	cache map[string][]int // pre-token -> ids; bounded
}

const bpeCacheMax = 1 << 16

func newByteLevelBPE(model, pre json.RawMessage) (*byteLevelBPE, error) {
	var m struct {
		Vocab  map[string]int    `json:"vocab"`
		Merges []json.RawMessage `json:"merges"`
	}
	if err := json.Unmarshal(model, &m); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	var p struct {
		AddPrefixSpace bool  `json:"add_prefix_space"`
		UseRegex       *bool `json:"use_regex"`
	}
	if err := json.Unmarshal(pre, &p); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %w", err)
	}
	b := &byteLevelBPE{vocab: m.Vocab, ranks: make(map[[2]string]int, len(m.Merges)),
		addPrefixSpace: p.AddPrefixSpace, useRegex: p.UseRegex == nil || *p.UseRegex, cache: map[string][]int{}}
	for i, raw := range m.Merges {
		// "a b" (older files) or ["a", "b"]
		var pair [2]string
		var s string
		if json.Unmarshal(raw, &s) == nil {
			a, c, ok := strings.Cut(s, " ")
			if !ok {
				return nil, fmt.Errorf("merge %d %q is not two tokens", i, s)
			}
			pair = [2]string{a, c}
		} else if err := json.Unmarshal(raw, &pair); err != nil {
			return nil, fmt.Errorf("merge %d: %w", i, err)
		}
		if _, dup := b.ranks[pair]; !dup {
			b.ranks[pair] = i
		}
	}
	return b, nil
}

func (b *byteLevelBPE) pieces(text string) []string {
	if b.addPrefixSpace && !strings.HasPrefix(text, " ") {
		text = " " + text
	}
	if !b.useRegex {
		return []string{text}
	}
	return gpt2Split(text)
}

func (b *byteLevelBPE) encode(text string, ids []int) []int {
	for _, p := range b.pieces(text) {
		ids = append(ids, b.word(p)...)
	}
	return ids
}

// word runs the merges on one pre-token: repeatedly merge the adjacent pair
// with the lowest rank (leftmost on ties).
func (b *byteLevelBPE) word(piece string) []int {
	b.mu.Lock()
	ids, ok := b.cache[piece]
	b.mu.Unlock()
	if ok {
		return ids
	}
	syms := make([]string, 0, len(piece))
	for i := 0; i < len(piece); i++ {
		syms = append(syms, string(byteToRune[piece[i]]))
	}
	for len(syms) > 1 {
		best, at := -1, -1
		for i := 0; i+1 < len(syms); i++ {
			if r, ok := b.ranks[[2]string{syms[i], syms[i+1]}]; ok && (best < 0 || r < best) {
				best, at = r, i
			}
		}
		if at < 0 {
			break
		}
		syms[at] += syms[at+1]
		syms = append(syms[:at+1], syms[at+2:]...)
	}
	ids = make([]int, 0, len(syms))
	for _, s := range syms {
		if id, ok := b.vocab[s]; ok {
			ids = append(ids, id)
		}
		// byte-level vocabularies hold every byte, so nothing is dropped in practice
	}
	b.mu.Lock()
	if len(b.cache) >= bpeCacheMax {
		clear(b.cache)
	}
	b.cache[piece] = ids
	b.mu.Unlock()
	return ids
}

// decodeByteLevel turns byte-level token strings back into text; invalid
// UTF-8 becomes U+FFFD per maximal ill-formed subsequence, as the WHATWG
// TextDecoder (the reference) does.
func decodeByteLevel(tokens []string) string {
	var raw []byte
	for _, t := range tokens {
		for _, r := range t {
			if c, ok := runeToByte[r]; ok {
				raw = append(raw, c)
			}
		}
	}
	return whatwgUTF8(raw)
}

func whatwgUTF8(p []byte) string {
	if utf8.Valid(p) {
		return string(p)
	}
	var sb strings.Builder
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRune(p[i:])
		if r != utf8.RuneError || n > 1 {
			sb.WriteString(string(p[i : i+n]))
			i += n
			continue
		}
		sb.WriteRune(utf8.RuneError)
		i += maximalSubpart(p[i:])
	}
	return sb.String()
}

// maximalSubpart is how many bytes of an ill-formed sequence at p[0] one
// U+FFFD replaces: the lead byte plus the continuation bytes that were still
// valid for it (Unicode's "maximal subpart" practice).
func maximalSubpart(p []byte) int {
	c := p[0]
	var need int
	lo, hi := byte(0x80), byte(0xbf)
	switch {
	case c >= 0xc2 && c <= 0xdf:
		need = 1
	case c == 0xe0:
		need, lo = 2, 0xa0
	case c >= 0xe1 && c <= 0xec, c == 0xee, c == 0xef:
		need = 2
	case c == 0xed:
		need, hi = 2, 0x9f
	case c == 0xf0:
		need, lo = 3, 0x90
	case c >= 0xf1 && c <= 0xf3:
		need = 3
	case c == 0xf4:
		need, hi = 3, 0x8f
	default:
		return 1
	}
	n := 1
	for k := 0; k < need && n < len(p); k++ {
		b := p[n]
		if k == 0 {
			if b < lo || b > hi {
				return n
			}
		} else if b < 0x80 || b > 0xbf {
			return n
		}
		n++
	}
	return n
}
