// Package bart is the "bart" summary engine: an abstractive
// lecture.Summarizer over a Hugging Face Optimum encoder-decoder export
// (BART-large-CNN, DistilBART-CNN) on ONNX Runtime.
//
// A lecture is longer than the model reads at once, so the engine works map
// then reduce:
//
//  1. map: the sentences are packed into windows of at most WindowTokens
//     tokens (512 by default, capped at the model's max_position_embeddings),
//     counted with the model's own tokenizer and leaving room for <s> and
//     </s> (text.Chunk); the windows are summarised in padded batches, and
//     each window's output is split into sentences that become bullets
//     carrying that window's time span;
//  2. reduce: while the bullets together are longer than the word budget
//     (extractive.TargetWords of the options), they are packed into windows
//     again and summarised once more (a second pass), each new bullet
//     carrying the spans of the bullets it came from;
//  3. the result is trimmed to the budget, in lecture order.
package bart

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/transcept/transcept/gpu-runtime/lora"
	"github.com/transcept/transcept/gpu-runtime/optimum"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/gpu-runtime/seq2seq"
	"github.com/transcept/transcept/shared/extractive"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/text"
)

// Engine is the engine's name, as Summarizer.Name reports it.
const Engine = "bart"

// Defaults of Options.
const (
	DefaultWindowTokens = 512
	DefaultBatchSize    = 8
	DefaultMaxPasses    = 2
)

// Options configure a Summarizer. The zero value serves.
type Options struct {
	// Adapter is an ONNX Runtime LoRA adapter file (.onnx_adapter) to
	// activate on every request; "" runs the base model. The model's
	// .onnx files must declare the adapter's parameters as inputs with
	// defaults (an export with LoRA inputs); it is split per session.
	Adapter string
	// IntraOpThreads and InterOpThreads are ONNX Runtime's thread counts;
	// 0 leaves its defaults.
	IntraOpThreads, InterOpThreads int
	// Optimization is the graph optimisation level (default: all).
	Optimization ort.Optimization
	// CUDA asks for the CUDA execution provider (falling back to the CPU).
	CUDA       bool
	CUDADevice int
	// OptimizedCacheDir and NoPrepack are ort.Options' (a cached optimised
	// copy of each .onnx file for fast loads; skipping weight prepacking).
	OptimizedCacheDir string
	NoPrepack         bool
	// Int8Weights is ort.Options' ("auto" or "off").
	Int8Weights string
	// DType is which of the folder's files to load: fp32 (""), q8, q4 or
	// fp16 (see optimum.DTypeFile).
	DType string
	// WindowTokens is the most tokens one window holds, <s> and </s>
	// included; 0 means DefaultWindowTokens. It is capped at the model's
	// max_position_embeddings.
	WindowTokens int
	// BatchSize is the most windows per generation call, gathered from
	// one lecture and from concurrent requests; 0 means DefaultBatchSize.
	BatchSize int
	// BatchWait is how long the first window queued waits for others to
	// share its batch; 0 means DefaultBatchWait, negative not at all.
	BatchWait time.Duration
	// MaxPasses bounds map plus reduce passes; 0 means DefaultMaxPasses.
	MaxPasses int
	// MaxLength and MinLength override generation_config.json's max_length
	// and min_length for every window (0 keeps the folder's).
	MaxLength, MinLength int
	// Logger receives load and provider messages; nil is slog.Default().
	Logger *slog.Logger
}

// Summarizer is a loaded bart engine. It is safe for concurrent use.
type Summarizer struct {
	m       *optimum.Seq2Seq
	adapter *lora.PerSession // the adapter split per session; nil without one
	id      string
	window  int
	batch   int
	passes  int
	gen     seq2seq.Options
	log     *slog.Logger
	g       *gatherer
}

// Load checks and loads the model folder dir (and the adapter, when set);
// it returns once both are ready. Every problem is a lecture error naming
// the folder or file: no folder given or found, a missing or corrupt file
// of the folder, a tokenizer that does not fit the model, a missing ONNX
// Runtime library, a missing or corrupt adapter file, an adapter made for
// another model (naming the adapter and the model files).
func Load(dir string, o Options) (*Summarizer, error) {
	if strings.TrimSpace(dir) == "" {
		return nil, lecture.Errorf(lecture.EINVALID, "the bart summariser needs a model folder (an Optimum ONNX export of BART-large-CNN or DistilBART-CNN): none given")
	}
	if st, err := os.Stat(dir); err != nil {
		return nil, lecture.Errorf(lecture.ENOTFOUND, "summary model folder %s does not exist", dir)
	} else if !st.IsDir() {
		return nil, lecture.Errorf(lecture.EINVALID, "summary model folder %s is a file, not a folder", dir)
	}
	if o.WindowTokens < 0 || o.BatchSize < 0 || o.MaxPasses < 0 || o.MaxLength < 0 || o.MinLength < 0 {
		return nil, lecture.Errorf(lecture.EINVALID, "summariser options must not be negative (window %d, batch %d, passes %d, max length %d, min length %d)",
			o.WindowTokens, o.BatchSize, o.MaxPasses, o.MaxLength, o.MinLength)
	}
	log := cmp.Or(o.Logger, slog.Default())
	// The folder is checked (without ONNX Runtime) before anything else is
	// loaded, so a broken folder is reported as such even where the
	// library is missing.
	if _, _, err := optimum.CheckSeq2SeqDType(dir, o.DType); err != nil {
		return nil, err
	}
	s := &Summarizer{
		window: cmp.Or(o.WindowTokens, DefaultWindowTokens),
		batch:  cmp.Or(o.BatchSize, DefaultBatchSize),
		passes: cmp.Or(o.MaxPasses, DefaultMaxPasses),
		gen:    seq2seq.Options{MaxLength: o.MaxLength, MinLength: o.MinLength},
		log:    log,
	}
	// The adapter file is read (and refused when corrupt) before the
	// model loads; it is split over the sessions once they exist.
	var adapterID string
	var ad *lora.Adapter
	if o.Adapter != "" {
		var err error
		if adapterID, err = fileIdentity(o.Adapter, "LoRA adapter"); err != nil {
			return nil, err
		}
		if ad, err = lora.ReadFile(o.Adapter); err != nil {
			return nil, err
		}
	}
	m, err := optimum.LoadSeq2Seq(dir, ort.Options{IntraOpThreads: o.IntraOpThreads, InterOpThreads: o.InterOpThreads,
		Optimization: o.Optimization, CUDA: o.CUDA, CUDADevice: o.CUDADevice, Logger: o.Logger,
		OptimizedCacheDir: o.OptimizedCacheDir, NoPrepack: o.NoPrepack, Int8Weights: o.Int8Weights, DType: o.DType})
	if err != nil {
		return nil, err
	}
	s.m = m
	if ad != nil {
		if err := s.activate(o.Adapter, ad); err != nil {
			s.Close()
			return nil, err
		}
	}
	if limit := m.Config.MaxPositions; limit > 0 && s.window > limit {
		s.window = limit
	}
	if s.id, err = folderIdentity(dir, m); err != nil {
		s.Close()
		return nil, err
	}
	if o.DType != "" && o.DType != "fp32" {
		s.id += ":" + o.DType // other weights, other summaries: other cache keys
	}
	if adapterID != "" {
		s.id += "+" + adapterID
	}
	wait := o.BatchWait
	switch {
	case wait == 0:
		wait = DefaultBatchWait
	case wait < 0:
		wait = 0
	}
	s.g = newGatherer(s.batch, wait, func(in []seq2seq.Input) ([]seq2seq.Output, error) { return generate(s.m, in, s.gen) })
	s.g.start()
	log.Info("summary model loaded", "model", s.id, "window_tokens", s.window, "batch", s.batch, "batch_wait", wait,
		"provider", m.Encoder.Provider(), "num_beams", m.Generation.NumBeams, "adapter", o.Adapter)
	return s, nil
}

// activate splits the adapter over the encoder and decoder sessions and
// loads each share (lora.Activate); every generation then runs with them.
// seq2seq takes one set of run options for the decoder, so with the older
// decoder pair both decoders must take the same parameters.
func (s *Summarizer) activate(path string, ad *lora.Adapter) error {
	m := s.m
	var err error
	if s.adapter, err = lora.Activate(path, ad, m.Encoder, m.Decoder, m.DecoderWithPast); err != nil {
		return err
	}
	if m.DecoderWithPast != nil {
		if only, onlyPast := paramDiff(s.adapter.Part(1), s.adapter.Part(2)); len(only)+len(onlyPast) > 0 {
			return lecture.Errorf(lecture.EUNAVAILABLE,
				"LoRA adapter %s adapts %s and %s differently (only the first takes %s; only the second %s), and the generator activates one decoder share for both; export the model with a merged decoder (decoder_model_merged.onnx)",
				path, m.Decoder.Path(), m.DecoderWithPast.Path(), nameList(only), nameList(onlyPast))
		}
	}
	s.gen.EncoderRunOptions, s.gen.DecoderRunOptions = s.adapter.RunOptions(0), s.adapter.RunOptions(1)
	return nil
}

// paramDiff is the parameters only a holds and those only b holds.
func paramDiff(a, b *lora.Adapter) (onlyA, onlyB []string) {
	names := func(x *lora.Adapter) map[string]bool {
		m := map[string]bool{}
		if x != nil {
			for _, p := range x.Params {
				m[p.Name] = true
			}
		}
		return m
	}
	na, nb := names(a), names(b)
	for n := range na {
		if !nb[n] {
			onlyA = append(onlyA, n)
		}
	}
	for n := range nb {
		if !na[n] {
			onlyB = append(onlyB, n)
		}
	}
	slices.Sort(onlyA)
	slices.Sort(onlyB)
	return onlyA, onlyB
}

// nameList shows up to three names and how many there are.
func nameList(names []string) string {
	switch {
	case len(names) == 0:
		return "none"
	case len(names) > 3:
		return fmt.Sprintf("%s … (%d in all)", strings.Join(names[:3], ", "), len(names))
	}
	return strings.Join(names, ", ")
}

// Close frees the model and the adapter.
func (s *Summarizer) Close() error {
	if s.g != nil {
		s.g.stop()
	}
	var errs []error
	if s.m != nil {
		errs = append(errs, s.m.Close())
	}
	errs = append(errs, s.adapter.Close())
	return errors.Join(errs...)
}

// Name is "bart".
func (s *Summarizer) Name() string { return Engine }

// Model is the model's identity, "<folder name>@<hash>" (":q8" and the like
// after it for quantised weights) with "+<adapter file name>@<hash>" when an
// adapter is active: the hash covers
// config.json, generation_config.json, the tokenizer files and the sizes of
// the .onnx files (and the record of a merged adapter, lora.MergePEFT), so
// two replicas with the same files agree and a re-export or another adapter
// changes the summary cache keys.
func (s *Summarizer) Model() string { return s.id }

// Stats count the batches, windows and tokens generated since Load.
func (s *Summarizer) Stats() GatherStats { return s.g.Stats() }

// WindowTokens is the most tokens one window holds, special tokens included.
func (s *Summarizer) WindowTokens() int { return s.window }

// Provider is the execution provider the model runs on.
func (s *Summarizer) Provider() ort.Provider { return s.m.Encoder.Provider() }

// Summarize turns a lecture's sentences into bullets, map then reduce.
func (s *Summarizer) Summarize(ctx context.Context, sents []lecture.Sentence, opts lecture.SummarizeOptions) (*lecture.Summary, error) {
	sum, _, err := s.summarize(ctx, sents, opts)
	return sum, err
}

// pass records one map or reduce pass (for tests and logs).
type pass struct {
	windows []lecture.Chunk
	outputs []string // the decoded generation of each window
	bullets []lecture.Bullet
	words   int
}

func (s *Summarizer) summarize(ctx context.Context, sents []lecture.Sentence, opts lecture.SummarizeOptions) (*lecture.Summary, []pass, error) {
	var in []lecture.Sentence
	words := 0
	for _, x := range sents {
		if strings.TrimSpace(x.Text) != "" {
			in = append(in, x)
			words += text.WordCount(x.Text)
		}
	}
	if len(in) == 0 {
		return nil, nil, lecture.Errorf(lecture.EINVALID, "nothing to summarise: the transcript has no sentences")
	}
	budget := extractive.TargetWords(words, opts)
	var passes []pass
	for range s.passes {
		p, err := s.pass(ctx, in)
		if err != nil {
			return nil, passes, err
		}
		if len(p.bullets) == 0 {
			break // the model said nothing: keep what the previous pass gave
		}
		passes = append(passes, p)
		if p.words <= budget || len(passes) > 1 && p.words >= passes[len(passes)-2].words {
			break
		}
		in = in[:0:0]
		for i, b := range p.bullets {
			in = append(in, lecture.Sentence{Index: i, Text: b.Text, Span: b.Span})
		}
	}
	if len(passes) == 0 {
		return nil, nil, lecture.Errorf(lecture.EINTERNAL, "model %s generated no text for any window", s.id)
	}
	bullets := trim(passes[len(passes)-1].bullets, budget)
	out := &lecture.Summary{Engine: Engine, Model: s.id, Bullets: bullets, InputWords: words}
	for _, b := range bullets {
		out.OutputWords += text.WordCount(b.Text)
	}
	s.log.Debug("bart summary", "windows", len(passes[0].windows), "passes", len(passes), "input_words", words,
		"budget", budget, "output_words", out.OutputWords)
	return out, passes, nil
}

// pass summarises sentences window by window: the windows go to the
// gatherer together, which batches them with each other and with the
// windows of concurrent requests.
func (s *Summarizer) pass(ctx context.Context, sents []lecture.Sentence) (pass, error) {
	p := pass{windows: text.Chunk(sents, s.window, s.m.Tokenizer)}
	if err := ctx.Err(); err != nil {
		return p, lecture.Wrap(lecture.EUNAVAILABLE, err, "summary cancelled")
	}
	tok := s.m.Tokenizer
	rows := make([][]int, len(p.windows))
	for i, w := range p.windows {
		ids := tok.Encode(w.Text)
		if len(ids) > s.window {
			// text.Chunk counted conservatively; a window that still
			// overflows (a tokenizer merging across the joins differently)
			// loses its tail, keeping the closing token.
			s.log.Warn("window longer than the model takes, truncated", "window", w.Index, "tokens", len(ids), "limit", s.window)
			ids = append(ids[:s.window-1:s.window-1], ids[len(ids)-1])
		}
		rows[i] = ids
	}
	gen, err := s.g.generate(ctx, rows)
	if err != nil {
		return p, err
	}
	p.outputs = make([]string, len(p.windows))
	for i, ids := range gen {
		p.outputs[i] = strings.TrimSpace(tok.Decode(ids))
		lecture.CountTokens(ctx, len(ids)) // generated tokens, for tokens per second
	}
	seen := map[string]bool{}
	for i, w := range p.windows {
		for _, b := range bullets(p.outputs[i], seen) {
			p.bullets = append(p.bullets, lecture.Bullet{Text: b, Span: w.Span})
			p.words += text.WordCount(b)
		}
	}
	return p, nil
}

// bullets splits one window's generated text into sentences, dropping
// empty ones (no letter or digit) and those already seen.
func bullets(generated string, seen map[string]bool) []string {
	var out []string
	for _, sent := range text.SplitSentences(strings.Join(strings.Fields(generated), " ")) {
		sent = strings.TrimSpace(sent)
		if !strings.ContainsFunc(sent, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) {
			continue
		}
		key := strings.ToLower(strings.Join(strings.FieldsFunc(sent, func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsDigit(r)
		}), " "))
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, sent)
	}
	return out
}

// trim keeps bullets in order up to budget words; the bullet that crosses
// the budget is cut at a word boundary (with "…") when enough of it fits,
// else dropped. The first bullet always stays, cut if need be.
func trim(bs []lecture.Bullet, budget int) []lecture.Bullet {
	var out []lecture.Bullet
	used := 0
	for _, b := range bs {
		n := text.WordCount(b.Text)
		if used+n <= budget {
			out = append(out, b)
			used += n
			continue
		}
		left := budget - used
		if left >= 4 || len(out) == 0 {
			f := strings.Fields(b.Text)
			b.Text = strings.Join(f[:min(max(left, 1), len(f))], " ") + "…"
			out = append(out, b)
		}
		break
	}
	return out
}

// folderIdentity is "<folder name>@<12 hex digits>".
func folderIdentity(dir string, m *optimum.Seq2Seq) (string, error) {
	h := sha256.New()
	for _, name := range []string{"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", lecture.Wrap(lecture.EINVALID, err, "model file %s cannot be read", filepath.Join(dir, name))
		}
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
		h.Write(b)
	}
	// A folder with an adapter merged into its weights keeps every file's
	// size; its merge record tells it from the base model.
	if b, err := os.ReadFile(filepath.Join(dir, lora.MergeRecordFile)); err == nil {
		fmt.Fprintf(h, "%s\x00%d\x00", lora.MergeRecordFile, len(b))
		h.Write(b)
	}
	for _, p := range []string{m.Seq2SeqFiles.Encoder, m.Seq2SeqFiles.Decoder, m.Seq2SeqFiles.DecoderWithPast} {
		if p == "" {
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return "", lecture.Wrap(lecture.EINVALID, err, "model file %s cannot be read", p)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(p), st.Size())
	}
	return filepath.Base(filepath.Clean(dir)) + "@" + hex.EncodeToString(h.Sum(nil))[:12], nil
}

// fileIdentity is "<file name>@<12 hex digits of its sha256>".
func fileIdentity(path, what string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", lecture.Errorf(lecture.ENOTFOUND, "%s file %s does not exist", what, path)
		}
		return "", lecture.Wrap(lecture.EINVALID, err, "%s file %s cannot be read", what, path)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", lecture.Wrap(lecture.EINVALID, err, "%s file %s cannot be read", what, path)
	}
	return filepath.Base(path) + "@" + hex.EncodeToString(h.Sum(nil))[:12], nil
}
