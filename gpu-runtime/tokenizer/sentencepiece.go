package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// sentencePieceBPE is BPE over characters as SentencePiece models converted
// to tokenizer.json use it (Llama 2, Phi-3, Mistral): spaces become "▁"
// (by the normalizer, or a Metaspace pre-tokenizer in newer files), a whole
// section between added tokens is one word, and characters the vocabulary
// lacks become <0xNN> byte tokens (byte_fallback).
type sentencePieceBPE struct {
	vocab        map[string]int // the whole vocabulary, added tokens included (as the reference looks up)
	ranks        map[[2]string]int
	unk          string // "" when none
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool
	byteTokens   [256]string // "<0x41>"
	metaspace    *metaspace  // nil: no pre-tokenizer
}

// metaspace is the reference's Metaspace pre-tokenizer: spaces become the
// replacement, which is put in front unless already there (prepend_scheme
// "always", or "first" for the first section only). The reference does not
// split at the replacement; with SentencePiece vocabularies, whose pieces
// only start with "▁", the merges come out the same either way.
type metaspace struct {
	replacement, strRep string
	scheme              string // always, first, never
}

func newSentencePieceBPE(model, pre json.RawMessage) (*sentencePieceBPE, error) {
	m, ranks, err := readBPEModel(model)
	if err != nil {
		return nil, err
	}
	b := &sentencePieceBPE{vocab: m.Vocab, ranks: ranks, fuseUnk: m.FuseUnk, byteFallback: m.ByteFallback, ignoreMerges: m.IgnoreMerges}
	if m.UnkToken != nil {
		b.unk = *m.UnkToken
	}
	for i := range b.byteTokens {
		b.byteTokens[i] = fmt.Sprintf("<0x%02X>", i)
	}
	if isNull(pre) {
		return b, nil
	}
	var p struct {
		Type          string  `json:"type"`
		Replacement   *string `json:"replacement"`
		StrRep        string  `json:"str_rep"`
		PrependScheme *string `json:"prepend_scheme"`
	}
	if err := json.Unmarshal(pre, &p); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %w", err)
	}
	if p.Type != "Metaspace" {
		return nil, fmt.Errorf("pre_tokenizer %q with SentencePiece-style BPE is not supported (none or Metaspace is)", p.Type)
	}
	ms := &metaspace{replacement: "▁", scheme: "always"}
	if p.Replacement != nil {
		ms.replacement = *p.Replacement
	}
	ms.strRep = ms.replacement
	if p.StrRep != "" {
		ms.strRep = p.StrRep
	}
	if p.PrependScheme != nil {
		ms.scheme = *p.PrependScheme
	}
	switch ms.scheme {
	case "always", "first", "never":
	default:
		return nil, fmt.Errorf("pre_tokenizer: Metaspace prepend_scheme %q is not supported", ms.scheme)
	}
	b.metaspace = ms
	return b, nil
}

func (b *sentencePieceBPE) encode(text string, section int, ids []int) []int {
	word := text
	if ms := b.metaspace; ms != nil {
		word = strings.ReplaceAll(word, " ", ms.strRep)
		if !strings.HasPrefix(word, ms.replacement) && (ms.scheme == "always" || ms.scheme == "first" && section == 0) {
			word = ms.strRep + word
		}
	}
	start := len(ids)
	if id, ok := b.vocab[word]; ok && b.ignoreMerges {
		ids = append(ids, id)
	} else if word != "" {
		syms := make([]string, 0, len(word))
		for _, r := range word {
			syms = append(syms, string(r))
		}
		for _, s := range mergeBPE(syms, b.ranks) {
			ids = b.token(s, ids)
		}
	}
	if b.fuseUnk {
		unk, ok := b.vocab[b.unk]
		if ok {
			// Runs of unknown tokens become one.
			out := ids[:start]
			for i := start; i < len(ids); i++ {
				if ids[i] == unk && len(out) > start && out[len(out)-1] == unk {
					continue
				}
				out = append(out, ids[i])
			}
			ids = out
		}
	}
	return ids
}

// token appends the id of one merged symbol: itself, its UTF-8 bytes as
// <0xNN> tokens (byte_fallback, only when all of them exist), or unk.
func (b *sentencePieceBPE) token(s string, ids []int) []int {
	if id, ok := b.vocab[s]; ok {
		return append(ids, id)
	}
	if b.byteFallback {
		n := len(ids)
		all := true
		for i := 0; i < len(s); i++ {
			id, ok := b.vocab[b.byteTokens[s[i]]]
			if !ok {
				all = false
				break
			}
			ids = append(ids, id)
		}
		if all {
			return ids
		}
		ids = ids[:n]
	}
	if id, ok := b.vocab[b.unk]; ok && b.unk != "" {
		ids = append(ids, id)
	}
	return ids
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

// newNormalizer builds the normalizer of tokenizer.json for the BPE
// families (BertNormalizer stays with WordPiece); nil means none.
func newNormalizer(raw json.RawMessage) (func(string) string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var n struct {
		Type        string            `json:"type"`
		Normalizers []json.RawMessage `json:"normalizers"`
		Prepend     string            `json:"prepend"`
		Pattern     pattern           `json:"pattern"`
		Content     string            `json:"content"`
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return nil, fmt.Errorf("normalizer: %w", err)
	}
	switch n.Type {
	case "Sequence":
		var fs []func(string) string
		for _, r := range n.Normalizers {
			f, err := newNormalizer(r)
			if err != nil {
				return nil, err
			}
			if f != nil {
				fs = append(fs, f)
			}
		}
		return func(s string) string {
			for _, f := range fs {
				s = f(s)
			}
			return s
		}, nil
	case "Prepend":
		return func(s string) string { return n.Prepend + s }, nil
	case "Replace":
		from, err := n.Pattern.literal()
		if err != nil {
			return nil, fmt.Errorf("normalizer Replace: %w", err)
		}
		return func(s string) string { return strings.ReplaceAll(s, from, n.Content) }, nil
	case "NFC":
		return norm.NFC.String, nil
	case "NFD":
		return norm.NFD.String, nil
	case "NFKC":
		return norm.NFKC.String, nil
	case "NFKD":
		return norm.NFKD.String, nil
	}
	return nil, fmt.Errorf("normalizer %q is not supported yet (Sequence, Prepend, Replace, NFC/NFD/NFKC/NFKD are)", n.Type)
}

// pattern is {"String": "…"} or {"Regex": "…"}.
type pattern struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

// literal returns a String pattern; Regex patterns are not supported here.
func (p pattern) literal() (string, error) {
	switch {
	case p.String != nil && *p.String != "":
		return *p.String, nil
	case p.Regex != nil:
		return "", fmt.Errorf("Regex pattern %q is not supported (String patterns are)", *p.Regex)
	}
	return "", errors.New("empty pattern")
}

// newDecoderChain builds the reference's decoders that work token by token
// (SentencePiece-style files: Replace, ByteFallback, Fuse, Strip, Metaspace,
// in a Sequence or alone); the result joins what the chain leaves.
func newDecoderChain(raw json.RawMessage) (func([]string) string, error) {
	steps, err := decoderSteps(raw)
	if err != nil {
		return nil, err
	}
	return func(tokens []string) string {
		tokens = slicesClone(tokens)
		for _, st := range steps {
			tokens = st(tokens)
		}
		return strings.Join(tokens, "")
	}, nil
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

func decoderSteps(raw json.RawMessage) ([]func([]string) []string, error) {
	if isNull(raw) {
		return nil, errors.New("decoder: none (the reference then joins tokens with spaces); not supported")
	}
	var d struct {
		Type        string            `json:"type"`
		Decoders    []json.RawMessage `json:"decoders"`
		Pattern     pattern           `json:"pattern"`
		Content     *string           `json:"content"`
		Start       int               `json:"start"`
		Stop        int               `json:"stop"`
		Replacement *string           `json:"replacement"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	switch d.Type {
	case "Sequence":
		var steps []func([]string) []string
		for _, r := range d.Decoders {
			s, err := decoderSteps(r)
			if err != nil {
				return nil, err
			}
			steps = append(steps, s...)
		}
		return steps, nil
	case "Replace":
		from, err := d.Pattern.literal()
		if err != nil {
			return nil, fmt.Errorf("decoder Replace: %w", err)
		}
		to := ""
		if d.Content != nil {
			to = *d.Content
		}
		return []func([]string) []string{func(ts []string) []string {
			for i, t := range ts {
				ts[i] = strings.ReplaceAll(t, from, to)
			}
			return ts
		}}, nil
	case "ByteFallback":
		return []func([]string) []string{decodeByteFallback}, nil
	case "Fuse":
		return []func([]string) []string{func(ts []string) []string { return []string{strings.Join(ts, "")} }}, nil
	case "Strip":
		content := ""
		if d.Content != nil {
			content = *d.Content
		}
		return []func([]string) []string{func(ts []string) []string {
			for i, t := range ts {
				ts[i] = stripToken(t, content, d.Start, d.Stop)
			}
			return ts
		}}, nil
	case "Metaspace":
		rep := "▁"
		if d.Replacement != nil {
			rep = *d.Replacement
		}
		return []func([]string) []string{func(ts []string) []string {
			for i, t := range ts {
				t = strings.ReplaceAll(t, rep, " ")
				if i == 0 {
					t = strings.TrimPrefix(t, " ")
				}
				ts[i] = t
			}
			return ts
		}}, nil
	}
	return nil, fmt.Errorf("decoder %q is not supported with SentencePiece-style BPE (Sequence, Replace, ByteFallback, Fuse, Strip, Metaspace are)", d.Type)
}

// decodeByteFallback turns runs of <0xNN> tokens into text, as the
// reference's TextDecoder does: invalid UTF-8 becomes U+FFFD per maximal
// subpart, and a leading byte order mark of each run is dropped.
func decodeByteFallback(tokens []string) []string {
	var out []string
	var run []byte
	flush := func() {
		if len(run) > 0 {
			out = append(out, whatwgUTF8(bytesTrimBOM(run)))
			run = run[:0]
		}
	}
	for _, t := range tokens {
		if b, ok := byteToken(t); ok {
			run = append(run, b)
			continue
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out
}

func bytesTrimBOM(p []byte) []byte {
	if len(p) >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf {
		return p[3:]
	}
	return p
}

// byteToken reads "<0xNN>" (six UTF-16 units, as the reference checks; its
// parseInt accepts a leading hex digit alone).
func byteToken(t string) (byte, bool) {
	if len(t) != 6 || !strings.HasPrefix(t, "<0x") || t[5] != '>' {
		return 0, false
	}
	hex := func(c byte) (byte, bool) {
		switch {
		case c >= '0' && c <= '9':
			return c - '0', true
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10, true
		case c >= 'A' && c <= 'F':
			return c - 'A' + 10, true
		}
		return 0, false
	}
	hi, ok := hex(t[3])
	if !ok {
		return 0, false
	}
	if lo, ok := hex(t[4]); ok {
		return hi<<4 | lo, true
	}
	return hi, true
}

// stripToken removes up to start leading and stop trailing copies of
// content (one character) from t.
func stripToken(t, content string, start, stop int) string {
	c, n := utf8.DecodeRuneInString(content)
	if n == 0 || n != len(content) || c > 0xffff {
		return t // the reference compares one UTF-16 unit with content
	}
	for i := 0; i < start && strings.HasPrefix(t, content); i++ {
		t = t[n:]
	}
	for i := 0; i < stop && strings.HasSuffix(t, content); i++ {
		t = t[:len(t)-n]
	}
	return t
}
