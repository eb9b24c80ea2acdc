package testmodels

import (
	"fmt"
	"math"
	"os"
	"path/filepath"

	pb "github.com/transcept/transcept/gpu-runtime/onnxpb"
)

// QwenConfig sizes a random-weight decoder-only model with Hugging Face's
// Qwen2 architecture (model_type "qwen2"), written as onnx-community and
// Optimum export it: one onnx/model.onnx that takes input_ids,
// attention_mask, position_ids and past_key_values.{i}.key/value
// ([batch, kv_heads, past_len, head_dim]) and returns logits and
// present.{i}.key/value.
//
// The graph is Qwen2ForCausalLM: RMSNorm before attention and MLP and at the
// end, rotary position embeddings (rotate_half, rope_theta) on queries and
// keys, grouped-query attention (KVHeads < Heads, keys and values repeated
// per group), biases on q/k/v only, a SwiGLU MLP (down(silu(gate(x))·up(x))),
// and an lm_head tied to the embedding or separate. Linear weights are stored
// as [in, out].
type QwenConfig struct {
	Hidden, Layers, Heads, KVHeads, Intermediate int
	HeadDim                                      int // 0: Hidden / Heads
	// Vocab is the model's vocabulary; 0 means the tokenizer's size.
	Vocab        int
	MaxPositions int
	RopeTheta    float64
	RMSEps       float64
	Tied         bool // tie_word_embeddings
	Seed         uint64
	// EmbedStd is the embedding's standard deviation (it sets how peaked the
	// logits are when the lm_head is tied); 0 means 0.5.
	EmbedStd float64

	// Tokenizer is a folder whose tokenizer.json and tokenizer_config.json
	// are copied; "" writes QwenTinyTokenizer.
	Tokenizer string
	// Generation defaults written to generation_config.json (Qwen2.5-Instruct
	// style); MaxNewTokens 0 leaves max_new_tokens out.
	DoSample     bool
	Temperature  float64
	TopP         float64
	TopK         int
	MaxNewTokens int
	// RepetitionPenalty is generation_config.json's repetition_penalty;
	// 0 leaves it out.
	RepetitionPenalty float64

	// ExternalData keeps every tensor of 1 KiB or more in
	// onnx/model.onnx_data (ONNX external data, as onnx-community exports
	// of large models do), written a tensor at a time as it is drawn, so
	// the generator never holds the whole model; model.onnx keeps the graph.
	// The same seed gives the same weights as the single-file layout.
	ExternalData bool
}

// Qwen25_05B is Qwen2.5-0.5B(-Instruct)'s shape and generation defaults
// (its published config.json and generation_config.json): hidden 896,
// 24 layers, 14 query heads of 64 sharing 2 key/value heads, SwiGLU
// intermediate 4864, vocabulary 151936, 32768 positions, rope_theta 1e6,
// rms_norm_eps 1e-6, tied embeddings; do_sample with temperature 0.7,
// top_p 0.8, top_k 20, repetition_penalty 1.1. About 494 million
// parameters (1.98 GB in fp32, so ExternalData is on). Pass the real
// Qwen2.5 tokenizer folder (tokenizer.json of 151665 tokens; the
// embedding is padded to 151936 as in the real model).
func Qwen25_05B(tokenizerDir string) QwenConfig {
	return QwenConfig{Hidden: 896, Layers: 24, Heads: 14, KVHeads: 2, Intermediate: 4864, Vocab: 151936,
		MaxPositions: 32768, RopeTheta: 1e6, RMSEps: 1e-6, Tied: true, Seed: 1, EmbedStd: 0.02,
		Tokenizer: tokenizerDir, DoSample: true, Temperature: 0.7, TopP: 0.8, TopK: 20, RepetitionPenalty: 1.1,
		ExternalData: true}
}

// TinyQwen is a small, fast Qwen2 model for tests: 2 layers, hidden 64,
// 4 query heads sharing 2 key/value heads of 16, untied lm_head, the tiny
// Qwen-style tokenizer.
func TinyQwen() QwenConfig {
	return QwenConfig{Hidden: 64, Layers: 2, Heads: 4, KVHeads: 2, Intermediate: 128, MaxPositions: 256,
		RopeTheta: 1e6, RMSEps: 1e-6, Seed: 1, Temperature: 0.7, TopP: 0.8, TopK: 20}
}

func (c *QwenConfig) headDim() int {
	if c.HeadDim > 0 {
		return c.HeadDim
	}
	return c.Hidden / c.Heads
}

// WriteQwen2 writes the model folder into dir (created if needed):
// config.json, generation_config.json, tokenizer.json,
// tokenizer_config.json and onnx/model.onnx. The same config and seed give
// byte-identical files.
func WriteQwen2(dir string, c QwenConfig) error {
	if c.Heads <= 0 || c.KVHeads <= 0 || c.Heads%c.KVHeads != 0 {
		return fmt.Errorf("testmodels: %d attention heads are not a multiple of %d key/value heads", c.Heads, c.KVHeads)
	}
	if c.HeadDim == 0 && c.Hidden%c.Heads != 0 {
		return fmt.Errorf("testmodels: hidden size %d is not a multiple of %d heads", c.Hidden, c.Heads)
	}
	if c.headDim()%2 != 0 {
		return fmt.Errorf("testmodels: head size %d is odd (rotary embeddings rotate halves)", c.headDim())
	}
	if c.MaxPositions <= 0 {
		return fmt.Errorf("testmodels: max_position_embeddings must be > 0")
	}
	if err := os.MkdirAll(filepath.Join(dir, "onnx"), 0o755); err != nil {
		return err
	}
	var tokSize int
	var err error
	if c.Tokenizer == "" {
		tj, cj := QwenTinyTokenizer()
		if err = os.WriteFile(filepath.Join(dir, "tokenizer.json"), tj, 0o644); err == nil {
			err = os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), cj, 0o644)
		}
		tokSize = QwenTinyTokenizerSize
	} else {
		tokSize, err = writeTokenizer(dir, c.Tokenizer)
	}
	if err != nil {
		return err
	}
	if c.Vocab == 0 {
		c.Vocab = tokSize
	}
	if c.Vocab < tokSize {
		return fmt.Errorf("testmodels: vocabulary %d is smaller than the tokenizer's %d", c.Vocab, tokSize)
	}
	sp := qwenSpecials{EndOfText: QwenEndOfText, IMEnd: QwenIMEnd}
	if c.Tokenizer != "" {
		if sp, err = readQwenSpecials(filepath.Join(dir, "tokenizer.json")); err != nil {
			return err
		}
	}
	if err := WriteJSON(filepath.Join(dir, "config.json"), c.configJSON(sp)); err != nil {
		return err
	}
	if err := WriteJSON(filepath.Join(dir, "generation_config.json"), c.generationJSON(sp)); err != nil {
		return err
	}
	path := filepath.Join(dir, "onnx", "model.onnx")
	var x *pb.ExternalWriter
	if c.ExternalData {
		if x, err = pb.CreateExternal(path + "_data"); err != nil {
			return err
		}
	} else {
		os.Remove(path + "_data") // a folder written over keeps one layout
	}
	m, err := qwenModel(&c, x)
	if x != nil {
		if cerr := x.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return err
	}
	return m.WriteFile(path)
}

// Qwen's special tokens in the tiny tokenizer (the real ones are 151643-5).
var (
	QwenEndOfText = QwenTinyTokenizerSize - 3 // <|endoftext|>: pad, and an EOS
	QwenIMStart   = QwenTinyTokenizerSize - 2 // <|im_start|>
	QwenIMEnd     = QwenTinyTokenizerSize - 1 // <|im_end|>: the chat EOS
)

func (c *QwenConfig) configJSON(sp qwenSpecials) map[string]any {
	return map[string]any{
		"model_type": "qwen2", "architectures": []string{"Qwen2ForCausalLM"},
		"vocab_size": c.Vocab, "hidden_size": c.Hidden, "intermediate_size": c.Intermediate,
		"num_hidden_layers": c.Layers, "num_attention_heads": c.Heads, "num_key_value_heads": c.KVHeads,
		"head_dim": c.headDim(), "hidden_act": "silu", "max_position_embeddings": c.MaxPositions,
		"rms_norm_eps": c.RMSEps, "rope_theta": c.RopeTheta, "tie_word_embeddings": c.Tied,
		"use_cache": true, "use_sliding_window": false, "attention_dropout": 0.0,
		"bos_token_id": sp.EndOfText, "eos_token_id": sp.IMEnd, "torch_dtype": "float32",
	}
}

func (c *QwenConfig) generationJSON(sp qwenSpecials) map[string]any {
	m := map[string]any{
		"bos_token_id": sp.EndOfText, "pad_token_id": sp.EndOfText,
		"eos_token_id": []int{sp.IMEnd, sp.EndOfText}, "do_sample": c.DoSample,
	}
	if c.RepetitionPenalty > 0 {
		m["repetition_penalty"] = c.RepetitionPenalty
	}
	if c.Temperature > 0 {
		m["temperature"] = c.Temperature
	}
	if c.TopP > 0 {
		m["top_p"] = c.TopP
	}
	if c.TopK > 0 {
		m["top_k"] = c.TopK
	}
	if c.MaxNewTokens > 0 {
		m["max_new_tokens"] = c.MaxNewTokens
	}
	return m
}

// qwenWeights makes the parameters in a fixed order from one seed; with x,
// each tensor goes to the external data file as soon as it is drawn.
func qwenWeights(c *QwenConfig, x *pb.ExternalWriter) ([]pb.Tensor, error) {
	ps := NewParams(c.Seed, 0x0e55)
	var err error
	add := func(name string, std, mean float64, dims ...int64) {
		ps.Add(name, std, mean, dims...)
		if err == nil {
			err = moveLarge(x, ps.Last())
		}
	}
	d, hd := int64(c.Hidden), int64(c.headDim())
	q, kv, f, v := int64(c.Heads)*hd, int64(c.KVHeads)*hd, int64(c.Intermediate), int64(c.Vocab)
	lin := func(name string, in, out int64, bias bool) {
		add(name+".weight", 1/math.Sqrt(float64(in)), 0, in, out)
		if bias {
			add(name+".bias", 0.1, 0, out)
		}
	}
	std := c.EmbedStd
	if std == 0 {
		std = 0.5
	}
	add("model.embed_tokens.weight", std, 0, v, d)
	for i := range c.Layers {
		p := fmt.Sprintf("model.layers.%d.", i)
		add(p+"input_layernorm.weight", 0.1, 1, d)
		lin(p+"self_attn.q_proj", d, q, true)
		lin(p+"self_attn.k_proj", d, kv, true)
		lin(p+"self_attn.v_proj", d, kv, true)
		lin(p+"self_attn.o_proj", q, d, false)
		add(p+"post_attention_layernorm.weight", 0.1, 1, d)
		lin(p+"mlp.gate_proj", d, f, false)
		lin(p+"mlp.up_proj", d, f, false)
		lin(p+"mlp.down_proj", f, d, false)
	}
	add("model.norm.weight", 0.1, 1, d)
	if !c.Tied {
		add("lm_head.weight", 1/math.Sqrt(float64(d)), 0, d, v)
	}
	return ps.Tensors, err
}

// moveLarge puts a tensor of 1 KiB or more in the external data file (as
// onnx.external_data_helper's default threshold does); without x it stays.
func moveLarge(x *pb.ExternalWriter, t *pb.Tensor) error {
	if x == nil || 4*(len(t.Float32)+2*len(t.Int64)+len(t.Int32))+len(t.Raw) < 1024 {
		return nil
	}
	return x.Move(t)
}

// ropeTables are cos and sin of position·inv_freq for every position,
// [max_positions, head_dim] with the half-size table repeated twice (the
// rotate_half layout), computed as Hugging Face's default rotary embedding
// does: inv_freq = 1 / theta^(2j/head_dim).
func ropeTables(c *QwenConfig) (cos, sin pb.Tensor) {
	hd := c.headDim()
	half := hd / 2
	cv := make([]float32, c.MaxPositions*hd)
	sv := make([]float32, c.MaxPositions*hd)
	for p := range c.MaxPositions {
		for j := range half {
			inv := float32(1 / math.Pow(c.RopeTheta, float64(2*j)/float64(hd)))
			a := float64(float32(p) * inv)
			cv[p*hd+j], cv[p*hd+j+half] = float32(math.Cos(a)), float32(math.Cos(a))
			sv[p*hd+j], sv[p*hd+j+half] = float32(math.Sin(a)), float32(math.Sin(a))
		}
	}
	dims := []int64{int64(c.MaxPositions), int64(hd)}
	return pb.Tensor{Name: "rope.cos", DataType: pb.Float, Dims: dims, Float32: cv},
		pb.Tensor{Name: "rope.sin", DataType: pb.Float, Dims: dims, Float32: sv}
}

// qwenModel is onnx/model.onnx; with x its large tensors are written to
// the external data file.
func qwenModel(c *QwenConfig, x *pb.ExternalWriter) (*pb.Model, error) {
	hd := c.headDim()
	m := &pb.Model{ProducerName: "transcept-testmodels", Graph: pb.Graph{Name: "qwen2",
		Inputs: []pb.ValueInfo{
			{Name: "input_ids", ElemType: pb.Int64, Shape: pb.D("batch_size", "sequence_length")},
			{Name: "attention_mask", ElemType: pb.Int64, Shape: pb.D("batch_size", "total_sequence_length")},
			{Name: "position_ids", ElemType: pb.Int64, Shape: pb.D("batch_size", "sequence_length")},
		},
		Outputs: []pb.ValueInfo{{Name: "logits", ElemType: pb.Float, Shape: pb.D("batch_size", "sequence_length", c.Vocab)}},
	}}
	for i := range c.Layers {
		for _, kv := range []string{"key", "value"} {
			m.Graph.Inputs = append(m.Graph.Inputs, pb.ValueInfo{Name: fmt.Sprintf("past_key_values.%d.%s", i, kv),
				ElemType: pb.Float, Shape: pb.D("batch_size", c.KVHeads, "past_sequence_length", hd)})
		}
	}
	ws, err := qwenWeights(c, x)
	if err != nil {
		return nil, err
	}
	cos, sin := ropeTables(c)
	for _, t := range []*pb.Tensor{&cos, &sin} {
		if err := moveLarge(x, t); err != nil {
			return nil, err
		}
	}
	m.Graph.Initializers = append(ws, cos, sin)
	b := newBuilder(&m.Graph, &m.Graph, map[string]bool{}, "")
	q := &qwenBuilder{builder: b, c: c}

	// positions: cos/sin rows of position_ids, [batch, 1, seq, head_dim]
	q.cos = b.op("Unsqueeze", []string{b.op("Gather", []string{"rope.cos", "position_ids"}), b.ints(1)})
	q.sin = b.op("Unsqueeze", []string{b.op("Gather", []string{"rope.sin", "position_ids"}), b.ints(1)})
	mask := q.mask()

	h := b.op("Gather", []string{"model.embed_tokens.weight", "input_ids"})
	for i := range c.Layers {
		l := fmt.Sprintf("model.layers.%d.", i)
		a := q.attention(q.rmsNorm(h, l+"input_layernorm.weight"), l+"self_attn.", i, mask)
		h = b.op("Add", []string{h, a})
		x := q.rmsNorm(h, l+"post_attention_layernorm.weight")
		gate := b.op("MatMul", []string{x, l + "mlp.gate_proj.weight"})
		up := b.op("MatMul", []string{x, l + "mlp.up_proj.weight"})
		silu := b.op("Mul", []string{gate, b.op("Sigmoid", []string{gate})})
		h = b.op("Add", []string{h, b.op("MatMul", []string{b.op("Mul", []string{silu, up}), l + "mlp.down_proj.weight"})})
	}
	h = q.rmsNorm(h, "model.norm.weight")
	head := "lm_head.weight"
	if c.Tied {
		head = b.op("Transpose", []string{"model.embed_tokens.weight"}, pb.AInts("perm", 1, 0))
	}
	b.opTo("logits", "MatMul", []string{h, head})
	present := pb.D("batch_size", c.KVHeads, "total_sequence_length", hd)
	for i := range c.Layers {
		for _, kv := range []string{"key", "value"} {
			m.Graph.Outputs = append(m.Graph.Outputs, pb.ValueInfo{Name: fmt.Sprintf("present.%d.%s", i, kv), ElemType: pb.Float, Shape: present})
		}
	}
	return m, nil
}

type qwenBuilder struct {
	*builder
	c        *QwenConfig
	cos, sin string
}

// rmsNorm is x / sqrt(mean(x²) + eps) · weight.
func (q *qwenBuilder) rmsNorm(x, weight string) string {
	b := q.builder
	v := b.op("ReduceMean", []string{b.op("Mul", []string{x, x})}, pb.AInts("axes", -1), pb.AInt("keepdims", 1))
	r := b.op("Div", []string{b.f32(1), b.op("Sqrt", []string{b.op("Add", []string{v, b.f32(float32(q.c.RMSEps))})})})
	return b.op("Mul", []string{b.op("Mul", []string{x, r}), weight})
}

// mask is the additive [batch, 1, seq, past+seq] attention mask: 0 where
// key j is not padding (attention_mask) and j ≤ past + i, else float32's
// minimum (one Where, so a fully masked row stays finite).
func (q *qwenBuilder) mask() string {
	b := q.builder
	past := b.dim("past_key_values.0.key", 2)
	total := b.op("Add", []string{past, b.dim("input_ids", 1)})
	rows := b.op("Unsqueeze", []string{b.op("Range", []string{past, total, b.i64(1)}), b.ints(1)})
	cols := b.op("Range", []string{b.i64(0), total, b.i64(1)})
	causal := b.op("Not", []string{b.op("Greater", []string{cols, rows})})
	pad := b.op("Unsqueeze", []string{b.op("Cast", []string{"attention_mask"}, pb.AInt("to", int64(pb.Bool))), b.ints(1, 2)})
	return b.op("Where", []string{b.op("And", []string{causal, pad}), b.f32(0), b.f32(minFloat32)})
}

// split is [batch, seq, n·head_dim] → [batch, n, seq, head_dim].
func (q *qwenBuilder) split(x string, n int) string {
	b := q.builder
	r := b.op("Reshape", []string{x, b.ints(0, 0, int64(n), int64(q.c.headDim()))})
	return b.op("Transpose", []string{r}, pb.AInts("perm", 0, 2, 1, 3))
}

// rope is x·cos + rotate_half(x)·sin, rotate_half(x) = [-x₂, x₁].
func (q *qwenBuilder) rope(x string) string {
	b := q.builder
	hd, half := int64(q.c.headDim()), int64(q.c.headDim()/2)
	x1 := b.op("Slice", []string{x, b.ints(0), b.ints(half), b.ints(3)})
	x2 := b.op("Slice", []string{x, b.ints(half), b.ints(hd), b.ints(3)})
	rot := b.op("Concat", []string{b.op("Neg", []string{x2}), x1}, pb.AInt("axis", -1))
	return b.op("Add", []string{b.op("Mul", []string{x, q.cos}), b.op("Mul", []string{rot, q.sin})})
}

// repeat is repeat_kv: [batch, kv, len, d] → [batch, heads, len, d].
func (q *qwenBuilder) repeat(x string) string {
	b := q.builder
	g := int64(q.c.Heads / q.c.KVHeads)
	if g == 1 {
		return x
	}
	e := b.op("Expand", []string{b.op("Unsqueeze", []string{x, b.ints(2)}), b.ints(1, 1, g, 1, 1)})
	return b.op("Reshape", []string{e, b.ints(0, int64(q.c.Heads), -1, int64(q.c.headDim()))})
}

// attention is one self-attention block; it writes present.{i}.key/value.
func (q *qwenBuilder) attention(x, p string, layer int, mask string) string {
	b := q.builder
	proj := func(name string) string {
		return b.op("Add", []string{b.op("MatMul", []string{x, p + name + ".weight"}), p + name + ".bias"})
	}
	qs := q.rope(q.split(proj("q_proj"), q.c.Heads))
	k := q.rope(q.split(proj("k_proj"), q.c.KVHeads))
	v := q.split(proj("v_proj"), q.c.KVHeads)
	pk := fmt.Sprintf("past_key_values.%d.", layer)
	pr := fmt.Sprintf("present.%d.", layer)
	b.opTo(pr+"key", "Concat", []string{pk + "key", k}, pb.AInt("axis", 2))
	b.opTo(pr+"value", "Concat", []string{pk + "value", v}, pb.AInt("axis", 2))
	kt := b.op("Transpose", []string{q.repeat(pr + "key")}, pb.AInts("perm", 0, 1, 3, 2))
	scale := float32(1 / math.Sqrt(float64(q.c.headDim())))
	s := b.op("Add", []string{b.op("Mul", []string{b.op("MatMul", []string{qs, kt}), b.f32(scale)}), mask})
	o := b.op("MatMul", []string{b.op("Softmax", []string{s}, pb.AInt("axis", -1)), q.repeat(pr + "value")})
	t := b.op("Transpose", []string{o}, pb.AInts("perm", 0, 2, 1, 3))
	r := b.op("Reshape", []string{t, b.ints(0, 0, int64(q.c.Heads*q.c.headDim()))})
	return b.op("MatMul", []string{r, p + "o_proj.weight"})
}
