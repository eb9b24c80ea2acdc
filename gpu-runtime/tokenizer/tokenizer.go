package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/transcept/transcept/shared/lecture"
)

// Kind is a tokenizer family.
type Kind string

const (
	KindByteLevelBPE Kind = "byte-level-bpe" // GPT-2, BART, RoBERTa, Whisper
	KindWordPiece    Kind = "wordpiece"      // BERT, MiniLM
	// KindSentencePieceBPE is BPE over characters with "▁" for spaces and
	// <0xNN> byte fallback (Llama 2, Phi-3, Mistral).
	KindSentencePieceBPE Kind = "sentencepiece-bpe"
)

// NoToken is the id of a special token the tokenizer does not have.
const NoToken = -1

// Special holds the ids of the special tokens (NoToken when absent).
type Special struct {
	BOS, EOS, PAD, UNK, CLS, SEP, Mask int
}

// model is one tokenization algorithm over a piece of normalised text that
// holds no added token: pre-tokenizer and model of tokenizer.json. section
// is the index of the piece among those the added tokens cut the text into
// (Metaspace's prepend_scheme "first" needs it). Normalising, added tokens,
// post-processing and decoding are shared.
type model interface {
	encode(text string, section int, ids []int) []int
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
	normalize func(string) string // nil: none
	decode    func(tokens []string) string
	rawAdded  bool // added tokens bypass decode (the ByteLevel decoder does this)
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
		Type     string  `json:"type"`
		UnkToken *string `json:"unk_token"`
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
	kind, split, byteLevel, err := classify(&tj)
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
	fail := func(err error) (*Tokenizer, error) {
		return nil, lecture.Wrap(lecture.EINVALID, err, "tokenizer file %s", path)
	}
	switch kind {
	case KindByteLevelBPE:
		b, err := newByteLevelBPE(raw.Model, byteLevel, split)
		if err != nil {
			return fail(err)
		}
		if t.normalize, err = newNormalizer(tj.Normalizer); err != nil {
			return fail(err)
		}
		var dec struct{ Type string }
		if json.Unmarshal(tj.Decoder, &dec); dec.Type != "ByteLevel" {
			return fail(fmt.Errorf("decoder %q with byte-level BPE is not supported (ByteLevel is)", dec.Type))
		}
		t.m, t.vocab = b, b.vocab
		t.decode, t.rawAdded = decodeByteLevel, true
	case KindSentencePieceBPE:
		b, err := newSentencePieceBPE(raw.Model, tj.PreTokenizer)
		if err != nil {
			return fail(err)
		}
		if t.normalize, err = newNormalizer(tj.Normalizer); err != nil {
			return fail(err)
		}
		if t.decode, err = newDecoderChain(tj.Decoder); err != nil {
			return fail(err)
		}
		t.m, t.vocab = b, b.vocab
	case KindWordPiece:
		w, err := newWordPiece(raw.Model, tj.Normalizer)
		if err != nil {
			return nil, lecture.Wrap(lecture.EINVALID, err, "tokenizer file %s", path)
		}
		t.m, t.vocab = w, w.vocab
		t.normalize, w.normalize = w.normalize, nil
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
		if at.Normalized && t.normalize != nil {
			// Looked for in normalised text, so by its normalised form.
			n := t.normalize(at.Content)
			normSplit = append(normSplit, n)
			t.added[n] = t.added[at.Content]
		} else {
			unsplit = append(unsplit, at.Content)
		}
	}
	for _, name := range cfg.Additional {
		if id, ok := t.vocab[name]; ok {
			t.isSpecial[id] = true // Decode skips them too
		}
	}
	if sp, ok := t.m.(*sentencePieceBPE); ok {
		sp.vocab = t.vocab // the reference's model looks tokens up among added tokens too
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
		UNK:  t.firstUnk(cfg.UNK, unk),
		CLS:  t.first(cfg.CLS, "[CLS]", "<s>"),
		SEP:  t.first(cfg.SEP, "[SEP]", "</s>"),
		Mask: t.first(cfg.Mask, "<mask>", "[MASK]"),
	}
	return t, nil
}

// first returns the id of the first name present: a name from
// tokenizer_config.json (cfg) may be any vocabulary entry; the conventional
// names count only as added tokens, since byte-level vocabularies hold
// strings like "<s>" as ordinary text (Qwen's does).
func (t *Tokenizer) first(cfg string, conventions ...string) int {
	if cfg == configNull {
		return NoToken // the config says there is none (Qwen's bos_token)
	}
	if id, ok := t.vocab[cfg]; ok && cfg != "" {
		return id
	}
	for _, n := range conventions {
		if at := t.added[n]; at != nil && n != "" {
			return at.id
		}
	}
	return NoToken
}

// firstUnk is the unk token: from the config, else the model's unk_token
// (which need not be an added token), else the conventional names.
func (t *Tokenizer) firstUnk(cfg, model string) int {
	if id := t.first(cfg); id != NoToken || cfg == configNull {
		return id
	}
	if id, ok := t.vocab[model]; ok && model != "" {
		return id
	}
	return t.first("", "<unk>", "[UNK]")
}

// classify decides the family, or says why the file is not supported. For
// byte-level BPE it returns the Split before the ByteLevel pre-tokenizer
// (nil when none) and the ByteLevel pre-tokenizer's JSON.
func classify(tj *tokenizerJSON) (kind Kind, split func(string) []string, byteLevel json.RawMessage, err error) {
	type preJSON struct {
		Type          string            `json:"type"`
		PreTokenizers []json.RawMessage `json:"pretokenizers"`
		Pattern       pattern           `json:"pattern"`
		Behavior      string            `json:"behavior"`
		Invert        bool              `json:"invert"`
	}
	var pre preJSON
	if !isNull(tj.PreTokenizer) {
		if err := json.Unmarshal(tj.PreTokenizer, &pre); err != nil {
			return "", nil, nil, fmt.Errorf("pre_tokenizer: %w", err)
		}
	}
	switch tj.Model.Type {
	case "WordPiece":
		return KindWordPiece, nil, nil, nil
	case "":
		return "", nil, nil, errors.New("no model.type")
	case "BPE":
	default:
		return "", nil, nil, fmt.Errorf("model %s is not supported (supported: BPE, WordPiece)", tj.Model.Type)
	}
	switch pre.Type {
	case "", "Metaspace":
		return KindSentencePieceBPE, nil, nil, nil
	case "ByteLevel":
		return KindByteLevelBPE, nil, tj.PreTokenizer, nil
	case "Sequence":
		// Split(pattern) then ByteLevel: Qwen's pattern is the one written here.
		if len(pre.PreTokenizers) == 2 {
			var first, second preJSON
			json.Unmarshal(pre.PreTokenizers[0], &first)
			json.Unmarshal(pre.PreTokenizers[1], &second)
			if first.Type == "Split" && second.Type == "ByteLevel" && first.Pattern.Regex != nil {
				re := *first.Pattern.Regex
				if re != qwenPattern {
					return "", nil, nil, fmt.Errorf("pre_tokenizer Split regex %q is not supported (Qwen's %q is)", re, qwenPattern)
				}
				if first.Behavior != "Isolated" || first.Invert {
					return "", nil, nil, fmt.Errorf("pre_tokenizer Split with behavior %q, invert %v is not supported (Isolated is)", first.Behavior, first.Invert)
				}
				return KindByteLevelBPE, splitQwen, pre.PreTokenizers[1], nil
			}
		}
	}
	return "", nil, nil, fmt.Errorf("BPE with pre_tokenizer %s is not supported (supported: ByteLevel, Split with Qwen's pattern then ByteLevel, Metaspace, none)", tj.PreTokenizer)
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

// configNull stands for a token tokenizer_config.json sets to null.
const configNull = "\x00null"

// config is what tokenizer_config.json says about special tokens.
type config struct {
	BOS, EOS, PAD, UNK, CLS, SEP, Mask string
	Additional                         []string // additional_special_tokens
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
	// A token is "<s>" or {"content": "<s>", ...}, or null for none.
	tok := func(key string) string {
		if string(raw[key]) == "null" {
			return configNull
		}
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
	var additional []string
	var list []json.RawMessage
	json.Unmarshal(raw["additional_special_tokens"], &list)
	for _, r := range list {
		raw["_"] = r
		if s := tok("_"); s != "" && s != configNull {
			additional = append(additional, s)
		}
	}
	return config{BOS: tok("bos_token"), EOS: tok("eos_token"), PAD: tok("pad_token"), UNK: tok("unk_token"),
		CLS: tok("cls_token"), SEP: tok("sep_token"), Mask: tok("mask_token"), Additional: additional}, nil
}

// encodePlain splits out added tokens (longest first; lstrip/rstrip eat
// the spaces next to them), normalises the text between them, splits out
// added tokens marked "normalized" there, and runs the model on the rest.
func (t *Tokenizer) encodePlain(text string) []int {
	var ids []int
	sections := t.unsplit.split(text)
	stripAround(sections, t.added)
	for i, sec := range sections {
		if sec == "" {
			continue
		}
		if at := t.added[sec]; at != nil {
			ids = append(ids, at.id)
			continue
		}
		if t.normalize != nil {
			if sec = t.normalize(sec); sec == "" {
				continue
			}
		}
		if len(t.normSplit.byFirst) == 0 {
			ids = t.m.encode(sec, i, ids)
			continue
		}
		subs := t.normSplit.split(sec)
		stripAround(subs, t.added)
		for _, sub := range subs {
			if at := t.added[sub]; at != nil {
				ids = append(ids, at.id)
			} else if sub != "" {
				ids = t.m.encode(sub, i, ids)
			}
		}
	}
	return ids
}

// decodeIDs turns ids into text with the file's decoder; unknown ids are
// left out. Added tokens go through the decoder too, except with the
// ByteLevel decoder, which writes them as they are.
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
		if t.rawAdded && t.addedIDs[id] {
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
