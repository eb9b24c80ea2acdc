package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/transcept/transcept/shared/lecture"
)

// Kind is a tokenizer family.
type Kind string

const (
	KindByteLevelBPE Kind = "byte-level-bpe" // GPT-2, BART, RoBERTa, Whisper
	KindWordPiece    Kind = "wordpiece"      // BERT, MiniLM
)

// NoToken is the id of a special token the tokenizer does not have.
const NoToken = -1

// Special holds the ids of the special tokens (NoToken when absent).
type Special struct {
	BOS, EOS, PAD, UNK, CLS, SEP, Mask int
}

// model is one tokenization algorithm over a piece of text that holds no
// added token: normalizer, pre-tokenizer and model of tokenizer.json. A new
// family (SentencePiece-style BPE with byte fallback, Qwen's split) is a new
// model; added tokens, post-processing and decoding stay shared.
type model interface {
	encode(text string, ids []int) []int
}

// Tokenizer turns text into model token ids and back. It is safe for
// concurrent use.
type Tokenizer struct {
	path      string
	kind      Kind
	m         model
	unsplit   *splitter              // added tokens matched on the raw text
	normSplit *splitter              // added tokens matched after normalising
	added     map[string]*addedToken // by content
	addedIDs  map[int]bool
	normalize func(string) string // WordPiece normalises inside its model; kept for added tokens
	decode    func(tokens []string) string
	special   Special
	isSpecial map[int]bool // added tokens marked special: skipped by Decode
	prefix    []int        // what the post-processor puts around one sequence
	suffix    []int
	vocab     map[string]int
	tokens    map[int]string
}

// Load reads dir/tokenizer.json (and dir/tokenizer_config.json when present).
func Load(dir string) (*Tokenizer, error) {
	return LoadFile(filepath.Join(dir, "tokenizer.json"))
}

// tokenizerJSON is the part of tokenizer.json this package reads itself.
type tokenizerJSON struct {
	AddedTokens []struct {
		ID         int    `json:"id"`
		Content    string `json:"content"`
		Special    bool   `json:"special"`
		Lstrip     bool   `json:"lstrip"`
		Rstrip     bool   `json:"rstrip"`
		Normalized bool   `json:"normalized"`
	} `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         struct {
		Type         string          `json:"type"`
		UnkToken     *string         `json:"unk_token"`
		ByteFallback bool            `json:"byte_fallback"`
		Vocab        json.RawMessage `json:"vocab"`
	} `json:"model"`
}

// LoadFile reads a tokenizer.json; a tokenizer_config.json beside it gives
// the bos/eos/pad/unk names when present. Errors name the file and say what
// is missing or not supported.
func LoadFile(path string) (*Tokenizer, error) {
	content, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, lecture.Errorf(lecture.ENOTFOUND, "tokenizer file %s does not exist", path)
	} else if err != nil {
		return nil, lecture.Wrap(lecture.EINVALID, err, "tokenizer file %s cannot be read", path)
	}
	var tj tokenizerJSON
	if err := json.Unmarshal(content, &tj); err != nil {
		return nil, lecture.Wrap(lecture.EINVALID, err, "tokenizer file %s is not valid tokenizer.json", path)
	}
	kind, err := classify(&tj, content)
	if err != nil {
		return nil, lecture.Wrap(lecture.EINVALID, err, "tokenizer file %s is not supported", path)
	}
	cfg, err := readConfig(filepath.Join(filepath.Dir(path), "tokenizer_config.json"))
	if err != nil {
		return nil, err
	}
	var raw struct {
		Model json.RawMessage `json:"model"`
	}
	json.Unmarshal(content, &raw)
	t := &Tokenizer{
		path:      path,
		kind:      kind,
		isSpecial: map[int]bool{},
		added:     map[string]*addedToken{},
		addedIDs:  map[int]bool{},
		tokens:    map[int]string{},
	}
	switch kind {
	case KindByteLevelBPE:
		b, err := newByteLevelBPE(raw.Model, tj.PreTokenizer)
		if err != nil {
			return nil, lecture.Wrap(lecture.EINVALID, err, "tokenizer file %s", path)
		}
		t.m, t.vocab = b, b.vocab
		t.decode = decodeByteLevel
	case KindWordPiece:
		w, err := newWordPiece(raw.Model, tj.Normalizer)
		if err != nil {
			return nil, lecture.Wrap(lecture.EINVALID, err, "tokenizer file %s", path)
		}
		t.m, t.vocab = w, w.vocab
		var dec struct {
			Type    string  `json:"type"`
			Prefix  *string `json:"prefix"`
			Cleanup *bool   `json:"cleanup"`
		}
		json.Unmarshal(tj.Decoder, &dec)
		prefix, cleanup := w.prefix, dec.Cleanup == nil || *dec.Cleanup
		if dec.Prefix != nil {
			prefix = *dec.Prefix
		}
		t.decode = func(tokens []string) string { return decodeWordPiece(tokens, prefix, cleanup) }
		t.normalize = w.normalize
	}
	vocab := make(map[string]int, len(t.vocab)+len(tj.AddedTokens))
	for tok, id := range t.vocab {
		vocab[tok] = id
		t.tokens[id] = tok
	}
	t.vocab = vocab
	var unsplit, normSplit []string
	for _, at := range tj.AddedTokens {
		t.vocab[at.Content] = at.ID
		t.tokens[at.ID] = at.Content
		t.added[at.Content] = &addedToken{id: at.ID, content: at.Content, lstrip: at.Lstrip, rstrip: at.Rstrip, normalized: at.Normalized}
		t.addedIDs[at.ID] = true
		if at.Special {
			t.isSpecial[at.ID] = true
		}
		if at.Normalized {
			normSplit = append(normSplit, at.Content)
		} else {
			unsplit = append(unsplit, at.Content)
		}
	}
	t.unsplit, t.normSplit = newSplitter(unsplit), newSplitter(normSplit)
	if t.prefix, t.suffix, err = postProcessor(tj.PostProcessor, t.vocab); err != nil {
		return nil, lecture.Wrap(lecture.EINVALID, err, "tokenizer file %s: post_processor", path)
	}
	var unk string
	if tj.Model.UnkToken != nil {
		unk = *tj.Model.UnkToken
	}
	t.special = Special{
		BOS:  t.first(cfg.BOS, "<s>", "<|endoftext|>", "[CLS]"),
		EOS:  t.first(cfg.EOS, "</s>", "<|endoftext|>", "[SEP]"),
		PAD:  t.first(cfg.PAD, "<pad>", "[PAD]"),
		UNK:  t.first(cfg.UNK, unk, "<unk>", "[UNK]"),
		CLS:  t.first(cfg.CLS, "[CLS]", "<s>"),
		SEP:  t.first(cfg.SEP, "[SEP]", "</s>"),
		Mask: t.first(cfg.Mask, "<mask>", "[MASK]"),
	}
	return t, nil
}

// first returns the id of the first name present in the vocabulary; a name
// from tokenizer_config.json comes first, so it wins over the conventions.
func (t *Tokenizer) first(names ...string) int {
	for _, n := range names {
		if id, ok := t.vocab[n]; ok && n != "" {
			return id
		}
	}
	return NoToken
}

// classify decides the family, or says why the file is not supported.
func classify(tj *tokenizerJSON, content []byte) (Kind, error) {
	if tj.Model.ByteFallback {
		return "", errors.New("BPE with byte_fallback (SentencePiece-style, as Llama and Phi use) is not supported yet")
	}
	var pre struct {
		Type          string `json:"type"`
		PreTokenizers []struct {
			Type    string `json:"type"`
			Pattern *struct {
				Regex string `json:"Regex"`
			} `json:"pattern"`
		} `json:"pretokenizers"`
	}
	if len(tj.PreTokenizer) > 0 && string(tj.PreTokenizer) != "null" {
		if err := json.Unmarshal(tj.PreTokenizer, &pre); err != nil {
			return "", fmt.Errorf("pre_tokenizer: %w", err)
		}
	}
	for _, p := range pre.PreTokenizers {
		if p.Pattern != nil && p.Pattern.Regex != "" {
			if _, err := regexp.Compile(p.Pattern.Regex); err != nil {
				return "", fmt.Errorf("pre_tokenizer regex %q needs a regex engine Go does not have (%v); Qwen-style splitting is not supported yet", p.Pattern.Regex, err)
			}
			return "", fmt.Errorf("pre_tokenizer Split with regex %q is not verified against the reference yet", p.Pattern.Regex)
		}
	}
	if strings.Contains(string(tj.Normalizer), `"Prepend"`) || strings.Contains(string(tj.PreTokenizer), `"Metaspace"`) {
		return "", errors.New("Metaspace (▁) SentencePiece-style tokenization is not supported yet")
	}
	switch {
	case tj.Model.Type == "BPE" && pre.Type == "ByteLevel":
		return KindByteLevelBPE, nil
	case tj.Model.Type == "WordPiece":
		return KindWordPiece, nil
	case tj.Model.Type == "":
		return "", errors.New("no model.type")
	}
	return "", fmt.Errorf("model %s with pre_tokenizer %q is not supported (supported: byte-level BPE, WordPiece)", tj.Model.Type, pre.Type)
}

// postProcessor returns the ids a single sequence is wrapped in.
func postProcessor(raw json.RawMessage, vocab map[string]int) (prefix, suffix []int, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil, nil
	}
	var pp struct {
		Type   string `json:"type"`
		Single []struct {
			SpecialToken *struct{ ID string } `json:"SpecialToken"`
			Sequence     *struct{ ID string } `json:"Sequence"`
		} `json:"single"`
		SpecialTokens map[string]struct {
			IDs []int `json:"ids"`
		} `json:"special_tokens"`
		Cls        []any             `json:"cls"`
		Sep        []any             `json:"sep"`
		Processors []json.RawMessage `json:"processors"`
	}
	if err := json.Unmarshal(raw, &pp); err != nil {
		return nil, nil, err
	}
	switch pp.Type {
	case "ByteLevel":
		return nil, nil, nil // offsets only
	case "TemplateProcessing":
		seen := false
		for _, it := range pp.Single {
			switch {
			case it.Sequence != nil:
				seen = true
			case it.SpecialToken != nil:
				st, ok := pp.SpecialTokens[it.SpecialToken.ID]
				if !ok {
					return nil, nil, fmt.Errorf("template names special token %q that special_tokens lacks", it.SpecialToken.ID)
				}
				if seen {
					suffix = append(suffix, st.IDs...)
				} else {
					prefix = append(prefix, st.IDs...)
				}
			}
		}
		return prefix, suffix, nil
	case "RobertaProcessing", "BertProcessing":
		cls, err := pairID(pp.Cls)
		if err != nil {
			return nil, nil, fmt.Errorf("cls: %w", err)
		}
		sep, err := pairID(pp.Sep)
		if err != nil {
			return nil, nil, fmt.Errorf("sep: %w", err)
		}
		return []int{cls}, []int{sep}, nil
	case "Sequence":
		for _, p := range pp.Processors {
			pre, suf, err := postProcessor(p, vocab)
			if err != nil {
				return nil, nil, err
			}
			prefix = append(prefix, pre...)
			suffix = append(suf, suffix...)
		}
		return prefix, suffix, nil
	}
	return nil, nil, fmt.Errorf("type %q is not supported", pp.Type)
}

// pairID reads ["</s>", 2].
func pairID(v []any) (int, error) {
	if len(v) != 2 {
		return 0, fmt.Errorf("want [token, id], got %v", v)
	}
	f, ok := v[1].(float64)
	if !ok {
		return 0, fmt.Errorf("want [token, id], got %v", v)
	}
	return int(f), nil
}

// config is what tokenizer_config.json says about special tokens.
type config struct {
	BOS, EOS, PAD, UNK, CLS, SEP, Mask string
}

func readConfig(path string) (config, error) {
	var c config
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	} else if err != nil {
		return c, lecture.Wrap(lecture.EINVALID, err, "tokenizer config %s cannot be read", path)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return c, lecture.Wrap(lecture.EINVALID, err, "tokenizer config %s is not valid JSON", path)
	}
	// A token is "<s>" or {"content": "<s>", ...}.
	tok := func(key string) string {
		var s string
		if json.Unmarshal(raw[key], &s) == nil {
			return s
		}
		var o struct{ Content string }
		if json.Unmarshal(raw[key], &o) == nil {
			return o.Content
		}
		return ""
	}
	return config{BOS: tok("bos_token"), EOS: tok("eos_token"), PAD: tok("pad_token"), UNK: tok("unk_token"),
		CLS: tok("cls_token"), SEP: tok("sep_token"), Mask: tok("mask_token")}, nil
}

// encodePlain splits out added tokens (longest first; lstrip/rstrip eat
// the spaces next to them) and runs the model on the text between them.
func (t *Tokenizer) encodePlain(text string) []int {
	var ids []int
	sections := t.unsplit.split(text)
	stripAround(sections, t.added)
	for _, sec := range sections {
		if sec == "" {
			continue
		}
		if at := t.added[sec]; at != nil && !at.normalized {
			ids = append(ids, at.id)
			continue
		}
		if len(t.normSplit.byFirst) == 0 {
			ids = t.m.encode(sec, ids)
			continue
		}
		// Added tokens marked "normalized" are looked for in normalised text.
		subs := t.normSplit.split(t.normalize(sec))
		stripAround(subs, t.added)
		for _, sub := range subs {
			if at := t.added[sub]; at != nil {
				ids = append(ids, at.id)
			} else if sub != "" {
				ids = t.m.encode(sub, ids)
			}
		}
	}
	return ids
}

// decodeIDs turns ids into text with the file's decoder; added tokens are
// written as they are, unknown ids are left out.
func (t *Tokenizer) decodeIDs(ids []int) string {
	var out strings.Builder
	var run []string
	flush := func() {
		if len(run) > 0 {
			out.WriteString(t.decode(run))
			run = run[:0]
		}
	}
	for _, id := range ids {
		tok, ok := t.tokens[id]
		if !ok {
			continue
		}
		if t.addedIDs[id] && t.kind == KindByteLevelBPE {
			flush()
			out.WriteString(tok)
			continue
		}
		run = append(run, tok)
	}
	flush()
	return out.String()
}

// Path is the tokenizer.json this was loaded from.
func (t *Tokenizer) Path() string { return t.path }

// Kind is the tokenizer family.
func (t *Tokenizer) Kind() Kind { return t.kind }

// Special returns the special token ids.
func (t *Tokenizer) Special() Special { return t.special }

// VocabSize is one more than the largest token id (the model's embedding
// rows must be at least this many).
func (t *Tokenizer) VocabSize() int {
	n := 0
	for id := range t.tokens {
		n = max(n, id+1)
	}
	return n
}

// TokenID returns the id of a token string.
func (t *Tokenizer) TokenID(tok string) (int, bool) {
	id, ok := t.vocab[tok]
	return id, ok
}

// Token returns the token string of an id.
func (t *Tokenizer) Token(id int) (string, bool) {
	s, ok := t.tokens[id]
	return s, ok
}

// IsSpecial reports whether id is a special token (Decode skips those).
func (t *Tokenizer) IsSpecial(id int) bool { return t.isSpecial[id] }

// Encode returns the ids a model gets for text, with the special tokens the
// tokenizer's post-processor adds (BART: <s> … </s>; BERT: [CLS] … [SEP]).
func (t *Tokenizer) Encode(text string) []int {
	ids := t.encodePlain(text)
	if len(t.prefix)+len(t.suffix) == 0 {
		return ids
	}
	out := make([]int, 0, len(t.prefix)+len(ids)+len(t.suffix))
	out = append(out, t.prefix...)
	out = append(out, ids...)
	return append(out, t.suffix...)
}

// EncodePlain returns the ids of text alone, without added special tokens
// (special tokens written inside text are still recognised).
func (t *Tokenizer) EncodePlain(text string) []int { return t.encodePlain(text) }

// CountTokens is len(EncodePlain(s)); with it a Tokenizer is a
// text.TokenCounter (the chunker reserves the special tokens itself).
func (t *Tokenizer) CountTokens(s string) int { return len(t.encodePlain(s)) }

// Decode returns the text of ids, leaving out special tokens.
func (t *Tokenizer) Decode(ids []int) string {
	return t.decodeIDs(slices.DeleteFunc(slices.Clone(ids), t.IsSpecial))
}

// DecodeRaw returns the text of ids, special tokens included.
func (t *Tokenizer) DecodeRaw(ids []int) string { return t.decodeIDs(ids) }
