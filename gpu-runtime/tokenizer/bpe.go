package tokenizer

import (
	"container/heap"
	"encoding/json"
	"errors"
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

// byteLevelBPE is GPT-2-style BPE over bytes. Its pre-tokenizer is the
// GPT-2 regex (GPT-2, BART, RoBERTa, Whisper: a ByteLevel pre-tokenizer), or
// a Split first (Qwen's pattern) followed by ByteLevel without the regex.
type byteLevelBPE struct {
	vocab          map[string]int
	ranks          map[[2]string]int
	split          func(string) []string // the Split pre-tokenizer before ByteLevel; nil: none
	addPrefixSpace bool
	useRegex       bool

	mu    sync.Mutex
	cache map[string][]int // pre-token -> ids; bounded
}

const bpeCacheMax = 1 << 16

// bpeModelJSON is model of tokenizer.json for type BPE.
type bpeModelJSON struct {
	Vocab                   map[string]int    `json:"vocab"`
	Merges                  []json.RawMessage `json:"merges"`
	UnkToken                *string           `json:"unk_token"`
	FuseUnk                 bool              `json:"fuse_unk"`
	ByteFallback            bool              `json:"byte_fallback"`
	IgnoreMerges            bool              `json:"ignore_merges"`
	ContinuingSubwordPrefix *string           `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string           `json:"end_of_word_suffix"`
}

// readBPEModel reads a BPE model and its merge ranks. Merges are "a b"
// (older files) or ["a", "b"]; a pair listed twice keeps its last rank, as
// the reference's Map does.
func readBPEModel(model json.RawMessage) (*bpeModelJSON, map[[2]string]int, error) {
	var m bpeModelJSON
	if err := json.Unmarshal(model, &m); err != nil {
		return nil, nil, fmt.Errorf("model: %w", err)
	}
	if m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "" {
		return nil, nil, fmt.Errorf("model: continuing_subword_prefix %q is not supported", *m.ContinuingSubwordPrefix)
	}
	if m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "" {
		return nil, nil, fmt.Errorf("model: end_of_word_suffix %q is not supported", *m.EndOfWordSuffix)
	}
	ranks := make(map[[2]string]int, len(m.Merges))
	for i, raw := range m.Merges {
		var pair [2]string
		var s string
		if json.Unmarshal(raw, &s) == nil {
			parts := strings.SplitN(s, " ", 3)
			if len(parts) < 2 {
				return nil, nil, fmt.Errorf("model: merge %d %q is not two tokens", i, s)
			}
			pair = [2]string{parts[0], parts[1]}
		} else if err := json.Unmarshal(raw, &pair); err != nil {
			return nil, nil, fmt.Errorf("model: merge %d: %w", i, err)
		}
		ranks[pair] = i
	}
	return &m, ranks, nil
}

func newByteLevelBPE(model json.RawMessage, byteLevel json.RawMessage, split func(string) []string) (*byteLevelBPE, error) {
	m, ranks, err := readBPEModel(model)
	if err != nil {
		return nil, err
	}
	if m.ByteFallback || m.IgnoreMerges {
		return nil, errors.New("byte-level BPE with byte_fallback or ignore_merges is not supported")
	}
	var p struct {
		AddPrefixSpace bool  `json:"add_prefix_space"`
		UseRegex       *bool `json:"use_regex"`
	}
	if err := json.Unmarshal(byteLevel, &p); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %w", err)
	}
	return &byteLevelBPE{vocab: m.Vocab, ranks: ranks, split: split,
		addPrefixSpace: p.AddPrefixSpace, useRegex: p.UseRegex == nil || *p.UseRegex, cache: map[string][]int{}}, nil
}

// byteLevel is the ByteLevel pre-tokenizer on one piece.
func (b *byteLevelBPE) byteLevel(text string, out []string) []string {
	if b.addPrefixSpace && !strings.HasPrefix(text, " ") {
		text = " " + text
	}
	if !b.useRegex {
		return append(out, text)
	}
	return append(out, gpt2Split(text)...)
}

func (b *byteLevelBPE) pieces(text string) []string {
	if b.split == nil {
		return b.byteLevel(text, nil)
	}
	var out []string
	for _, p := range b.split(text) {
		out = b.byteLevel(p, out)
	}
	return out
}

func (b *byteLevelBPE) encode(text string, _ int, ids []int) []int {
	for _, p := range b.pieces(text) {
		ids = append(ids, b.word(p)...)
	}
	return ids
}

// word runs the merges on one pre-token.
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
	syms = mergeBPE(syms, b.ranks)
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

// mergeBPE runs BPE merges on symbols: repeatedly merge the adjacent pair
// with the lowest rank, leftmost first on ties (the reference's priority
// queue orders by rank plus the left symbol's original position). A heap
// with lazy deletion keeps it O(n log n), which matters for SentencePiece
// models, where a whole section between added tokens is one word.
func mergeBPE(syms []string, ranks map[[2]string]int) []string {
	n := len(syms)
	if n < 2 {
		return syms
	}
	type node struct {
		prev, next int // -1 at the ends
		ver        int // bumped when sym changes
		dead       bool
	}
	nodes := make([]node, n)
	for i := range nodes {
		nodes[i] = node{prev: i - 1, next: i + 1}
	}
	nodes[n-1].next = -1
	h := &pairHeap{}
	push := func(i int) {
		j := nodes[i].next
		if j < 0 {
			return
		}
		if r, ok := ranks[[2]string{syms[i], syms[j]}]; ok {
			heap.Push(h, pairItem{rank: r, left: i, right: j, lver: nodes[i].ver, rver: nodes[j].ver})
		}
	}
	for i := 0; i+1 < n; i++ {
		push(i)
	}
	for h.Len() > 0 {
		it := heap.Pop(h).(pairItem)
		l, r := &nodes[it.left], &nodes[it.right]
		if l.dead || r.dead || l.next != it.right || l.ver != it.lver || r.ver != it.rver {
			continue
		}
		syms[it.left] += syms[it.right]
		l.ver++
		r.dead = true
		l.next = r.next
		if r.next >= 0 {
			nodes[r.next].prev = it.left
		}
		if l.prev >= 0 {
			push(l.prev)
		}
		push(it.left)
	}
	out := syms[:0]
	for i := 0; i >= 0; i = nodes[i].next {
		out = append(out, syms[i])
	}
	return out
}

type pairItem struct {
	rank, left, right int
	lver, rver        int
}

type pairHeap []pairItem

func (h pairHeap) Len() int { return len(h) }
func (h pairHeap) Less(i, j int) bool {
	if h[i].rank != h[j].rank {
		return h[i].rank < h[j].rank
	}
	return h[i].left < h[j].left
}
func (h pairHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pairHeap) Push(x any)   { *h = append(*h, x.(pairItem)) }
func (h *pairHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
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
