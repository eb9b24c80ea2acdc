package testmodels

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	pb "github.com/transcept/transcept/gpu-runtime/onnxpb"
)

// WhisperConfig sizes a random-weight Whisper model (WriteWhisper).
type WhisperConfig struct {
	DModel, EncoderLayers, DecoderLayers, Heads, FFN int
	NMels                                            int // num_mel_bins: 80 or 128
	MaxTargetPositions                               int // decoder positions (Whisper: 448)
	Seed                                             uint64
	// Languages are the language codes with a <|xx|> token, in id order;
	// nil means WhisperLanguages.
	Languages []string
	// EOSBias and TimestampBias are added to the logits of <|endoftext|> and
	// of every timestamp token (a constant bias after the tied projection),
	// so that random models end and emit timestamps.
	EOSBias, TimestampBias float32
	// EmbedStd is the token embeddings' standard deviation (0 means 1).
	EmbedStd float64
	// EnglishOnly writes an English-only model's generation_config.json
	// (is_multilingual false, no lang_to_id), as whisper-base.en's: the
	// prompt is <|startoftranscript|> [<|notimestamps|>]. The vocabulary
	// keeps the language tokens, as the .en models' does.
	EnglishOnly bool
	// NoSpeechBias is added to <|nospeech|>'s logit (a model that hears
	// silence everywhere, for tests of no-speech detection).
	NoSpeechBias float32
	// LanguageBias is added to the logits of the named languages' tokens
	// (a model that leans to a language, for language-detection tests).
	LanguageBias map[string]float32
	// ExtraText adds that many unused text tokens before <|endoftext|>, to
	// reach a real model's vocabulary size (and logits cost).
	ExtraText int
}

// WhisperTinySize is whisper-tiny's shape with random weights (d_model 384,
// 4+4 layers, 6 heads, FFN 1536, 80 mel bins, 51865 tokens: about 150 MB,
// for benchmarks; generate it, never commit it).
func WhisperTinySize() WhisperConfig {
	c := TinyWhisper()
	c.DModel, c.EncoderLayers, c.DecoderLayers, c.Heads, c.FFN = 384, 4, 4, 6, 1536
	c.ExtraText = 51865 - (256 + len(tinyMerges) + 2 + len(WhisperLanguages) + 6 + 1501)
	return c
}

// WhisperLanguages are the language tokens the test tokenizer has.
var WhisperLanguages = []string{"en", "zh", "de", "es", "ru", "ko", "fr", "ja"}

// TinyWhisper is a small Whisper for tests: d_model 32, 2+2 layers, 4 heads,
// small token embeddings (so that random weights do not just repeat the last
// token), a bias towards <|endoftext|> (so that generations end) and
// against timestamps (so that text and timestamps mix),
// 80 mel bins.
func TinyWhisper() WhisperConfig {
	return WhisperConfig{DModel: 32, EncoderLayers: 2, DecoderLayers: 2, Heads: 4, FFN: 64, NMels: 80,
		MaxTargetPositions: 448, Seed: 1, EOSBias: 4, TimestampBias: -2, EmbedStd: 0.3}
}

// WhisperVocab describes the ids of the test tokenizer, laid out as
// Whisper's: text tokens, <|endoftext|>, <|startoftranscript|>, languages,
// <|translate|>, <|transcribe|>, <|startoflm|>, <|startofprev|>,
// <|nospeech|>, <|notimestamps|>, then 1501 timestamps <|0.00|>…<|30.00|>.
type WhisperVocab struct {
	Text           int // text tokens are 0 … Text-1
	EOT, SOT       int
	Lang           map[string]int // "en" → id of <|en|>
	Translate      int
	Transcribe     int
	StartOfLM      int
	StartOfPrev    int
	NoSpeech       int
	NoTimestamps   int
	TimestampBegin int
	Size           int
	Space          int // id of "Ġ" (a lone space), begin-suppressed
}

// Vocab returns the ids of c's tokenizer.
func (c WhisperConfig) Vocab() WhisperVocab {
	langs := c.Languages
	if langs == nil {
		langs = WhisperLanguages
	}
	v := WhisperVocab{Text: 256 + len(tinyMerges) + c.ExtraText, Lang: map[string]int{}}
	v.EOT, v.SOT = v.Text, v.Text+1
	n := v.SOT + 1
	for _, l := range langs {
		v.Lang[l] = n
		n++
	}
	v.Translate, v.Transcribe, v.StartOfLM, v.StartOfPrev, v.NoSpeech, v.NoTimestamps = n, n+1, n+2, n+3, n+4, n+5
	v.TimestampBegin = n + 6
	v.Size = v.TimestampBegin + 1501
	v.Space = int(byteLevelIndex(' '))
	return v
}

func (c WhisperConfig) langs() []string {
	if c.Languages == nil {
		return WhisperLanguages
	}
	return c.Languages
}

// byteLevelIndex is the id of a byte's symbol in the whisper test tokenizer
// (bytes in bytes_to_unicode order by byte value).
func byteLevelIndex(b byte) int { return int(b) }

// WhisperTokenizer returns the test tokenizer.json and tokenizer_config.json:
// byte-level BPE (the tiny merges) with Whisper's special tokens.
func (c WhisperConfig) WhisperTokenizer() (tokenizerJSON, configJSON []byte) {
	v := c.Vocab()
	vocab := map[string]int{}
	for b, r := range byteLevelAlphabet() {
		vocab[string(r)] = b
	}
	merges := make([]string, len(tinyMerges))
	for i, m := range tinyMerges {
		var a, b string
		fmt.Sscan(m, &a, &b)
		vocab[a+b] = 256 + i
		merges[i] = m
	}
	for i := range c.ExtraText {
		vocab[fmt.Sprintf("<unused%d>", i)] = 256 + len(tinyMerges) + i
	}
	var added []any
	add := func(id int, content string, special bool) {
		vocab[content] = id
		added = append(added, map[string]any{"id": id, "content": content, "single_word": false, "lstrip": false,
			"rstrip": false, "normalized": false, "special": special})
	}
	add(v.EOT, "<|endoftext|>", true)
	add(v.SOT, "<|startoftranscript|>", true)
	for _, l := range c.langs() {
		add(v.Lang[l], "<|"+l+"|>", true)
	}
	add(v.Translate, "<|translate|>", true)
	add(v.Transcribe, "<|transcribe|>", true)
	add(v.StartOfLM, "<|startoflm|>", true)
	add(v.StartOfPrev, "<|startofprev|>", true)
	add(v.NoSpeech, "<|nospeech|>", true)
	add(v.NoTimestamps, "<|notimestamps|>", true)
	for i := range 1501 {
		add(v.TimestampBegin+i, fmt.Sprintf("<|%.2f|>", float64(i)*0.02), false)
	}
	tok := map[string]any{
		"version": "1.0", "truncation": nil, "padding": nil,
		"added_tokens":  added,
		"normalizer":    nil,
		"pre_tokenizer": map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		"post_processor": map[string]any{"type": "TemplateProcessing",
			"single": []any{
				map[string]any{"SpecialToken": map[string]any{"id": "<|startoftranscript|>", "type_id": 0}},
				map[string]any{"SpecialToken": map[string]any{"id": "<|notimestamps|>", "type_id": 0}},
				map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
				map[string]any{"SpecialToken": map[string]any{"id": "<|endoftext|>", "type_id": 0}},
			},
			"pair": []any{
				map[string]any{"SpecialToken": map[string]any{"id": "<|startoftranscript|>", "type_id": 0}},
				map[string]any{"SpecialToken": map[string]any{"id": "<|notimestamps|>", "type_id": 0}},
				map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
				map[string]any{"Sequence": map[string]any{"id": "B", "type_id": 1}},
				map[string]any{"SpecialToken": map[string]any{"id": "<|endoftext|>", "type_id": 1}},
			},
			"special_tokens": map[string]any{
				"<|startoftranscript|>": map[string]any{"id": "<|startoftranscript|>", "ids": []int{v.SOT}, "tokens": []string{"<|startoftranscript|>"}},
				"<|notimestamps|>":      map[string]any{"id": "<|notimestamps|>", "ids": []int{v.NoTimestamps}, "tokens": []string{"<|notimestamps|>"}},
				"<|endoftext|>":         map[string]any{"id": "<|endoftext|>", "ids": []int{v.EOT}, "tokens": []string{"<|endoftext|>"}},
			}},
		"decoder": map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": "",
			"end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false, "vocab": vocab, "merges": merges},
	}
	tj, _ := json.Marshal(tok)
	cj, _ := json.MarshalIndent(map[string]any{
		"tokenizer_class": "WhisperTokenizer", "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
		"pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "model_max_length": 448,
		"clean_up_tokenization_spaces": true, "errors": "replace", "add_prefix_space": false,
	}, "", "  ")
	return tj, append(cj, '\n')
}

// WhisperPreprocessorConfig is the preprocessor_config.json of a model with
// nMels bins (what transformers.js's WhisperFeatureExtractor reads).
func WhisperPreprocessorConfig(nMels int) map[string]any {
	return map[string]any{
		"feature_extractor_type": "WhisperFeatureExtractor", "processor_class": "WhisperProcessor",
		"feature_size": nMels, "sampling_rate": 16000, "hop_length": 160, "chunk_length": 30, "n_fft": 400,
		"n_samples": 480000, "nb_max_frames": 3000, "padding_side": "right", "padding_value": 0.0,
		"return_attention_mask": false,
	}
}

func (c WhisperConfig) suppress() (suppress, begin []int) {
	v := c.Vocab()
	// a few punctuation symbols stand for Whisper's long suppress list
	for _, b := range []byte{'"', '#', '(', ')', '*', '+', '/', ':', ';', '<', '=', '>', '@', '[', '\\', ']', '^', '_', '`', '{', '|', '}', '~'} {
		suppress = append(suppress, byteLevelIndex(b))
	}
	suppress = append(suppress, v.Translate, v.Transcribe, v.StartOfLM, v.StartOfPrev, v.NoSpeech)
	return suppress, []int{v.Space, v.EOT}
}

func (c WhisperConfig) configJSON() map[string]any {
	v := c.Vocab()
	sup, begin := c.suppress()
	return map[string]any{
		"model_type": "whisper", "architectures": []string{"WhisperForConditionalGeneration"},
		"is_encoder_decoder": true, "vocab_size": v.Size, "d_model": c.DModel, "num_mel_bins": c.NMels,
		"encoder_layers": c.EncoderLayers, "decoder_layers": c.DecoderLayers, "num_hidden_layers": c.EncoderLayers,
		"encoder_attention_heads": c.Heads, "decoder_attention_heads": c.Heads,
		"encoder_ffn_dim": c.FFN, "decoder_ffn_dim": c.FFN,
		"max_source_positions": 1500, "max_target_positions": c.MaxTargetPositions,
		"activation_function": "gelu", "scale_embedding": false, "tie_word_embeddings": true, "use_cache": true,
		"bos_token_id": v.EOT, "eos_token_id": v.EOT, "pad_token_id": v.EOT, "decoder_start_token_id": v.SOT,
		"begin_suppress_tokens": begin, "suppress_tokens": sup, "median_filter_width": 7,
	}
}

func (c WhisperConfig) generationJSON() map[string]any {
	v := c.Vocab()
	sup, begin := c.suppress()
	lang := map[string]int{}
	for _, l := range c.langs() {
		lang["<|"+l+"|>"] = v.Lang[l]
	}
	g := map[string]any{
		"bos_token_id": v.EOT, "eos_token_id": v.EOT, "pad_token_id": v.EOT, "decoder_start_token_id": v.SOT,
		"begin_suppress_tokens": begin, "suppress_tokens": sup, "is_multilingual": !c.EnglishOnly,
		"lang_to_id": lang, "task_to_id": map[string]int{"transcribe": v.Transcribe, "translate": v.Translate},
		"no_timestamps_token_id": v.NoTimestamps, "prev_sot_token_id": v.StartOfPrev,
		"max_initial_timestamp_index": 50, "max_length": c.MaxTargetPositions, "return_timestamps": false,
	}
	if c.EnglishOnly {
		delete(g, "lang_to_id")
		delete(g, "task_to_id")
	}
	return g
}

// WriteWhisper writes a random-weight Whisper folder in Optimum's layout:
// config.json, generation_config.json, preprocessor_config.json,
// tokenizer.json, tokenizer_config.json, onnx/encoder_model.onnx
// (input_features → last_hidden_state) and onnx/decoder_model_merged.onnx.
func WriteWhisper(dir string, c WhisperConfig) error {
	if c.Heads <= 0 || c.DModel%c.Heads != 0 || c.DModel%2 != 0 {
		return fmt.Errorf("testmodels: d_model %d is not an even multiple of %d heads", c.DModel, c.Heads)
	}
	if c.NMels <= 0 || c.MaxTargetPositions <= 0 {
		return fmt.Errorf("testmodels: whisper needs NMels and MaxTargetPositions")
	}
	for l := range c.LanguageBias {
		if _, ok := c.Vocab().Lang[l]; !ok {
			return fmt.Errorf("testmodels: LanguageBias names %q, not one of the languages %v", l, c.langs())
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "onnx"), 0o755); err != nil {
		return err
	}
	tj, cj := c.WhisperTokenizer()
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), tj, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), cj, 0o644); err != nil {
		return err
	}
	for name, v := range map[string]any{"config.json": c.configJSON(), "generation_config.json": c.generationJSON(),
		"preprocessor_config.json": WhisperPreprocessorConfig(c.NMels)} {
		if err := WriteJSON(filepath.Join(dir, name), v); err != nil {
			return err
		}
	}
	ws := c.weights()
	if err := whisperEncoder(&c, ws).WriteFile(filepath.Join(dir, "onnx", "encoder_model.onnx")); err != nil {
		return err
	}
	return whisperMergedDecoder(&c, ws).WriteFile(filepath.Join(dir, "onnx", "decoder_model_merged.onnx"))
}

// weights are the random parameters under Hugging Face's Whisper names,
// linear weights as [in, out], conv weights as [out, in, 3].
func (c *WhisperConfig) weights() []pb.Tensor {
	ps := NewParams(c.Seed, 0x3715)
	add := ps.Add
	d, f := int64(c.DModel), int64(c.FFN)
	ln := func(name string) { ps.LayerNorm(name, d) }
	add("model.encoder.conv1.weight", 1/math.Sqrt(float64(3*c.NMels)), 0, d, int64(c.NMels), 3)
	add("model.encoder.conv1.bias", 0.1, 0, d)
	add("model.encoder.conv2.weight", 1/math.Sqrt(float64(3*d)), 0, d, d, 3)
	add("model.encoder.conv2.bias", 0.1, 0, d)
	embedStd := c.EmbedStd
	if embedStd == 0 {
		embedStd = 1
	}
	add("model.decoder.embed_tokens.weight", embedStd, 0, int64(c.Vocab().Size), d)
	add("model.decoder.embed_positions.weight", 0.5, 0, int64(c.MaxTargetPositions), d)
	for _, part := range []string{"encoder", "decoder"} {
		layers, attns := c.EncoderLayers, []string{"self_attn"}
		if part == "decoder" {
			layers, attns = c.DecoderLayers, []string{"self_attn", "encoder_attn"}
		}
		for i := range layers {
			ps.Layer(fmt.Sprintf("model.%s.layers.%d.", part, i), attns, d, f)
		}
		ln("model." + part + ".layer_norm")
	}
	// Whisper's k_proj has no bias
	for i := range ps.Tensors {
		if strings.HasSuffix(ps.Tensors[i].Name, "k_proj.bias") {
			clear(ps.Tensors[i].Float32)
		}
	}
	v := c.Vocab()
	bias := make([]float32, v.Size)
	bias[v.EOT] = c.EOSBias
	bias[v.NoSpeech] = c.NoSpeechBias
	for l, b := range c.LanguageBias {
		bias[v.Lang[l]] += b
	}
	for i := v.TimestampBegin; i < v.Size; i++ {
		bias[i] = c.TimestampBias
	}
	ps.Tensors = append(ps.Tensors, pb.Tensor{Name: "logits_bias", DataType: pb.Float, Dims: []int64{int64(v.Size)}, Float32: bias})
	// sinusoidal positions, as openai-whisper's sinusoids(1500, d_model)
	half := c.DModel / 2
	pos := make([]float32, 1500*c.DModel)
	inc := math.Log(10000) / float64(half-1)
	for t := range 1500 {
		for j := range half {
			x := float64(t) * math.Exp(-inc*float64(j))
			pos[t*c.DModel+j] = float32(math.Sin(x))
			pos[t*c.DModel+half+j] = float32(math.Cos(x))
		}
	}
	ps.Tensors = append(ps.Tensors, pb.Tensor{Name: "model.encoder.embed_positions.weight", DataType: pb.Float, Dims: []int64{1500, d}, Float32: pos})
	return ps.Tensors
}

// preLN is x + sub(layer_norm(x)).
func (b *builder) preLN(x, ln string, sub func(string) string) string {
	return b.op("Add", []string{x, sub(b.layerNorm(x, ln))})
}

func (b *builder) whisperFFN(h, layer string) string {
	return b.preLN(h, layer+"final_layer_norm", func(x string) string {
		return b.linear(b.gelu(b.linear(x, layer+"fc1")), layer+"fc2")
	})
}

func (c *WhisperConfig) attnConfig() *Config { return &Config{DModel: c.DModel, Heads: c.Heads} }

func whisperEncoder(c *WhisperConfig, ws []pb.Tensor) *pb.Model {
	m := &pb.Model{ProducerName: "transcept-testmodels", Graph: pb.Graph{Name: "whisper_encoder",
		Inputs:  []pb.ValueInfo{{Name: "input_features", ElemType: pb.Float, Shape: pb.D("batch_size", c.NMels, 3000)}},
		Outputs: []pb.ValueInfo{{Name: "last_hidden_state", ElemType: pb.Float, Shape: pb.D("batch_size", 1500, c.DModel)}},
	}}
	for _, w := range ws {
		if strings.HasPrefix(w.Name, "model.encoder.") {
			m.Graph.Initializers = append(m.Graph.Initializers, w)
		}
	}
	ac := c.attnConfig()
	b := newBuilder(&m.Graph, &m.Graph, map[string]bool{}, "")
	conv := func(x, name string, stride int64) string {
		return b.gelu(b.op("Conv", []string{x, name + ".weight", name + ".bias"},
			pb.AInts("kernel_shape", 3), pb.AInts("pads", 1, 1), pb.AInts("strides", stride)))
	}
	h := conv(conv("input_features", "model.encoder.conv1", 1), "model.encoder.conv2", 2)
	h = b.op("Add", []string{b.op("Transpose", []string{h}, pb.AInts("perm", 0, 2, 1)), "model.encoder.embed_positions.weight"})
	for i := range c.EncoderLayers {
		l := fmt.Sprintf("model.encoder.layers.%d.", i)
		a := l + "self_attn"
		h = b.preLN(h, a+"_layer_norm", func(x string) string {
			att := b.attend(b.query(x, a, ac), b.heads(b.linear(x, a+".k_proj"), ac), b.heads(b.linear(x, a+".v_proj"), ac), "", ac)
			return b.linear(att, a+".out_proj")
		})
		h = b.whisperFFN(h, l)
	}
	b.opTo("last_hidden_state", "LayerNormalization", []string{h, "model.encoder.layer_norm.weight", "model.encoder.layer_norm.bias"},
		pb.AInt("axis", -1), pb.AFloat("epsilon", 1e-5))
	return m
}

func (c *WhisperConfig) whisperCacheDims(encoder bool) []pb.Dim {
	seq := "past_decoder_sequence_length"
	if encoder {
		seq = "encoder_sequence_length_out"
	}
	return pb.D("batch_size", c.Heads, seq, c.DModel/c.Heads)
}

// whisperDecoderGraph adds one decoder (with or without past) to b's graph.
func whisperDecoderGraph(b *builder, c *WhisperConfig, past bool, prefix string) []pb.ValueInfo {
	ac := c.attnConfig()
	start := b.i64(0)
	if past {
		start = b.dim("past_key_values.0.decoder.key", 2)
	}
	out := func(name string, dims []pb.Dim) pb.ValueInfo {
		return pb.ValueInfo{Name: prefix + name, ElemType: pb.Float, Shape: dims}
	}
	outs := []pb.ValueInfo{out("logits", pb.D("batch_size", "decoder_sequence_length", c.Vocab().Size))}
	limit := b.op("Add", []string{start, b.dim("input_ids", 1)})
	pos := b.op("Gather", []string{"model.decoder.embed_positions.weight", b.op("Range", []string{start, limit, b.i64(1)})})
	h := b.op("Add", []string{b.op("Gather", []string{"model.decoder.embed_tokens.weight", "input_ids"}), pos})
	causal := b.causalMask("input_ids", start)
	presentDec := pb.D("batch_size", c.Heads, "past_decoder_sequence_length + 1", c.DModel/c.Heads)
	for i := range c.DecoderLayers {
		l := fmt.Sprintf("model.decoder.layers.%d.", i)
		pk := fmt.Sprintf("past_key_values.%d.", i)
		pr := fmt.Sprintf("present.%d.", i)
		a := l + "self_attn"
		h = b.preLN(h, a+"_layer_norm", func(x string) string {
			k, v := b.heads(b.linear(x, a+".k_proj"), ac), b.heads(b.linear(x, a+".v_proj"), ac)
			if past {
				k = b.op("Concat", []string{pk + "decoder.key", k}, pb.AInt("axis", 2))
				v = b.op("Concat", []string{pk + "decoder.value", v}, pb.AInt("axis", 2))
			}
			b.opTo(prefix+pr+"decoder.key", "Identity", []string{k})
			b.opTo(prefix+pr+"decoder.value", "Identity", []string{v})
			outs = append(outs, out(pr+"decoder.key", presentDec), out(pr+"decoder.value", presentDec))
			return b.linear(b.attend(b.query(x, a, ac), k, v, causal, ac), a+".out_proj")
		})
		e := l + "encoder_attn"
		h = b.preLN(h, e+"_layer_norm", func(x string) string {
			k, v := pk+"encoder.key", pk+"encoder.value"
			if !past {
				k = b.heads(b.linear("encoder_hidden_states", e+".k_proj"), ac)
				v = b.heads(b.linear("encoder_hidden_states", e+".v_proj"), ac)
			}
			b.opTo(prefix+pr+"encoder.key", "Identity", []string{k})
			b.opTo(prefix+pr+"encoder.value", "Identity", []string{v})
			outs = append(outs, out(pr+"encoder.key", c.whisperCacheDims(true)), out(pr+"encoder.value", c.whisperCacheDims(true)))
			return b.linear(b.attend(b.query(x, e, ac), k, v, "", ac), e+".out_proj")
		})
		h = b.whisperFFN(h, l)
	}
	h = b.layerNorm(h, "model.decoder.layer_norm")
	lm := b.op("MatMul", []string{h, b.op("Transpose", []string{"model.decoder.embed_tokens.weight"}, pb.AInts("perm", 1, 0))})
	b.opTo(prefix+"logits", "Add", []string{lm, "logits_bias"})
	return outs
}

func whisperMergedDecoder(c *WhisperConfig, ws []pb.Tensor) *pb.Model {
	in := []pb.ValueInfo{
		{Name: "input_ids", ElemType: pb.Int64, Shape: pb.D("batch_size", "decoder_sequence_length")},
		{Name: "encoder_hidden_states", ElemType: pb.Float, Shape: pb.D("batch_size", "encoder_sequence_length / 2", c.DModel)},
	}
	for i := range c.DecoderLayers {
		for _, part := range []string{"decoder", "encoder"} {
			for _, kv := range []string{"key", "value"} {
				in = append(in, pb.ValueInfo{Name: fmt.Sprintf("past_key_values.%d.%s.%s", i, part, kv),
					ElemType: pb.Float, Shape: c.whisperCacheDims(part == "encoder")})
			}
		}
	}
	in = append(in, pb.ValueInfo{Name: "use_cache_branch", ElemType: pb.Bool, Shape: pb.D(1)})
	m := &pb.Model{ProducerName: "transcept-testmodels", Graph: pb.Graph{Name: "whisper_decoder_merged", Inputs: in}}
	for _, w := range ws {
		if strings.HasPrefix(w.Name, "model.decoder.") || w.Name == "logits_bias" {
			m.Graph.Initializers = append(m.Graph.Initializers, w)
		}
	}
	have := map[string]bool{}
	withPast := &pb.Graph{Name: "decoder_with_past"}
	noPast := &pb.Graph{Name: "decoder_no_past"}
	withPast.Outputs = whisperDecoderGraph(newBuilder(withPast, &m.Graph, have, "with_past/"), c, true, "with_past/")
	noPast.Outputs = whisperDecoderGraph(newBuilder(noPast, &m.Graph, have, "no_past/"), c, false, "no_past/")
	mergeBranches(m, withPast, noPast)
	return m
}
