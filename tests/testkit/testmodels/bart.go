package testmodels

import (
	"fmt"
	"strings"

	pb "github.com/transcept/transcept/gpu-runtime/onnxpb"
)

// weights makes the model's random parameters, in a fixed order from one
// seed, HF names with linear weights stored as [in, out].
func weights(c *Config) []pb.Tensor {
	ps := NewParams(c.Seed, 0x5eed)
	add := ps.Add
	d, f := int64(c.DModel), int64(c.FFN)
	ln := func(name string) { ps.LayerNorm(name, d) }
	add("model.shared.weight", 1, 0, int64(c.Vocab), d)
	add("final_logits_bias", 0.5, 0, 1, int64(c.Vocab))
	if c.EOSBias != 0 && c.EOS < c.Vocab {
		ps.Tensors[len(ps.Tensors)-1].Float32[c.EOS] += c.EOSBias
	}
	for _, part := range []string{"encoder", "decoder"} {
		add("model."+part+".embed_positions.weight", 2, 0, int64(c.MaxPositions+2), d)
		ln("model." + part + ".layernorm_embedding")
		layers, attns := c.EncoderLayers, []string{"self_attn"}
		if part == "decoder" {
			layers, attns = c.DecoderLayers, []string{"self_attn", "encoder_attn"}
		}
		for i := range layers {
			ps.Layer(fmt.Sprintf("model.%s.layers.%d.", part, i), attns, d, f)
		}
	}
	return ps.Tensors
}

func (c *Config) cacheDims(encoder bool) []pb.Dim {
	seq := "past_decoder_sequence_length"
	if encoder {
		seq = "encoder_sequence_length_out"
	}
	return pb.D("batch_size", c.Heads, seq, c.DModel/c.Heads)
}

// encoderModel is onnx/encoder_model.onnx; lg (nil for none) adds LoRA to
// its projections.
func encoderModel(c *Config, ws []pb.Tensor, lg *loraGraph) *pb.Model {
	m := &pb.Model{ProducerName: "transcept-testmodels", Graph: pb.Graph{Name: "bart_encoder",
		Inputs: []pb.ValueInfo{
			{Name: "input_ids", ElemType: pb.Int64, Shape: pb.D("batch_size", "encoder_sequence_length")},
			{Name: "attention_mask", ElemType: pb.Int64, Shape: pb.D("batch_size", "encoder_sequence_length")},
		},
		Outputs: []pb.ValueInfo{{Name: "last_hidden_state", ElemType: pb.Float, Shape: pb.D("batch_size", "encoder_sequence_length", c.DModel)}},
	}}
	for _, w := range ws {
		if w.Name == "model.shared.weight" || strings.Contains(w.Name, "model.encoder.") {
			m.Graph.Initializers = append(m.Graph.Initializers, w)
		}
	}
	b := newBuilder(&m.Graph, &m.Graph, map[string]bool{}, "")
	b.lora = lg
	h := b.embed("input_ids", b.i64(0), "encoder")
	mask := b.paddingMask("attention_mask")
	for i := range c.EncoderLayers {
		l := fmt.Sprintf("model.encoder.layers.%d.", i)
		a := l + "self_attn"
		att := b.attend(b.query(h, a, c), b.heads(b.linear(h, a+".k_proj"), c), b.heads(b.linear(h, a+".v_proj"), c), mask, c)
		h = b.layerNorm(b.op("Add", []string{h, b.linear(att, a+".out_proj")}), l+"self_attn_layer_norm")
		h = b.ffn(h, l)
	}
	b.opTo("last_hidden_state", "Identity", []string{h})
	return m
}

// decoderOpts says which decoder graph decoderGraph builds.
type decoderOpts struct {
	past       bool   // read past_key_values.* (else start from nothing)
	encPresent bool   // output present.i.encoder.* (not in the split with-past model)
	outPrefix  string // prefix for output names (If branches need their own)
}

// decoderGraph adds one decoder (no-past or with-past) to b's graph and
// returns its outputs: logits then present.i.{decoder,encoder}.{key,value}.
func decoderGraph(b *builder, c *Config, o decoderOpts) []pb.ValueInfo {
	past := b.i64(0)
	if o.past {
		past = b.dim("past_key_values.0.decoder.key", 2)
	}
	out := func(name string, dims []pb.Dim) pb.ValueInfo {
		return pb.ValueInfo{Name: o.outPrefix + name, ElemType: pb.Float, Shape: dims}
	}
	outs := []pb.ValueInfo{out("logits", pb.D("batch_size", "decoder_sequence_length", c.Vocab))}
	h := b.embed("input_ids", past, "decoder")
	causal := b.causalMask("input_ids", past)
	encMask := b.paddingMask("encoder_attention_mask")
	presentDec := pb.D("batch_size", c.Heads, "past_decoder_sequence_length + 1", c.DModel/c.Heads)
	for i := range c.DecoderLayers {
		l := fmt.Sprintf("model.decoder.layers.%d.", i)
		pk := fmt.Sprintf("past_key_values.%d.", i)
		pr := fmt.Sprintf("present.%d.", i)
		a := l + "self_attn"
		k, v := b.heads(b.linear(h, a+".k_proj"), c), b.heads(b.linear(h, a+".v_proj"), c)
		if o.past {
			k = b.op("Concat", []string{pk + "decoder.key", k}, pb.AInt("axis", 2))
			v = b.op("Concat", []string{pk + "decoder.value", v}, pb.AInt("axis", 2))
		}
		b.opTo(o.outPrefix+pr+"decoder.key", "Identity", []string{k})
		b.opTo(o.outPrefix+pr+"decoder.value", "Identity", []string{v})
		outs = append(outs, out(pr+"decoder.key", presentDec), out(pr+"decoder.value", presentDec))
		att := b.attend(b.query(h, a, c), k, v, causal, c)
		h = b.layerNorm(b.op("Add", []string{h, b.linear(att, a+".out_proj")}), l+"self_attn_layer_norm")

		a = l + "encoder_attn"
		if o.past {
			k, v = pk+"encoder.key", pk+"encoder.value"
		} else {
			k = b.heads(b.linear("encoder_hidden_states", a+".k_proj"), c)
			v = b.heads(b.linear("encoder_hidden_states", a+".v_proj"), c)
		}
		if o.encPresent {
			b.opTo(o.outPrefix+pr+"encoder.key", "Identity", []string{k})
			b.opTo(o.outPrefix+pr+"encoder.value", "Identity", []string{v})
			outs = append(outs, out(pr+"encoder.key", c.cacheDims(true)), out(pr+"encoder.value", c.cacheDims(true)))
		}
		att = b.attend(b.query(h, a, c), k, v, encMask, c)
		h = b.layerNorm(b.op("Add", []string{h, b.linear(att, a+".out_proj")}), l+"encoder_attn_layer_norm")
		h = b.ffn(h, l)
	}
	lm := b.op("MatMul", []string{h, b.op("Transpose", []string{"model.shared.weight"}, pb.AInts("perm", 1, 0))})
	b.opTo(o.outPrefix+"logits", "Add", []string{lm, "final_logits_bias"})
	return outs
}

func decoderInputs(c *Config, past, encStates bool) []pb.ValueInfo {
	in := []pb.ValueInfo{
		{Name: "input_ids", ElemType: pb.Int64, Shape: pb.D("batch_size", "decoder_sequence_length")},
		{Name: "encoder_attention_mask", ElemType: pb.Int64, Shape: pb.D("batch_size", "encoder_sequence_length")},
	}
	if encStates {
		in = append(in, pb.ValueInfo{Name: "encoder_hidden_states", ElemType: pb.Float, Shape: pb.D("batch_size", "encoder_sequence_length", c.DModel)})
	}
	if past {
		for i := range c.DecoderLayers {
			for _, part := range []string{"decoder", "encoder"} {
				for _, kv := range []string{"key", "value"} {
					in = append(in, pb.ValueInfo{Name: fmt.Sprintf("past_key_values.%d.%s.%s", i, part, kv),
						ElemType: pb.Float, Shape: c.cacheDims(part == "encoder")})
				}
			}
		}
	}
	return in
}

func decoderWeights(ws []pb.Tensor) []pb.Tensor {
	var out []pb.Tensor
	for _, w := range ws {
		if w.Name == "model.shared.weight" || w.Name == "final_logits_bias" || strings.Contains(w.Name, "model.decoder.") {
			out = append(out, w)
		}
	}
	return out
}

// splitDecoder is onnx/decoder_model.onnx (past false) or
// onnx/decoder_with_past_model.onnx (past true), Optimum's older pair.
func splitDecoder(c *Config, ws []pb.Tensor, past bool, lg *loraGraph) *pb.Model {
	m := &pb.Model{ProducerName: "transcept-testmodels", Graph: pb.Graph{Name: "bart_decoder",
		Inputs: decoderInputs(c, past, !past), Initializers: decoderWeights(ws)}}
	b := newBuilder(&m.Graph, &m.Graph, map[string]bool{}, "")
	b.lora = lg
	m.Graph.Outputs = decoderGraph(b, c, decoderOpts{past: past, encPresent: !past})
	return m
}

// mergedDecoder is onnx/decoder_model_merged.onnx: If(use_cache_branch)
// with the with-past graph as then-branch and the no-past graph as
// else-branch, every weight and constant in the outer graph (LoRA inputs
// too, after use_cache_branch).
func mergedDecoder(c *Config, ws []pb.Tensor, lg *loraGraph) *pb.Model {
	m := &pb.Model{ProducerName: "transcept-testmodels", Graph: pb.Graph{Name: "bart_decoder_merged",
		Inputs: append(decoderInputs(c, true, true),
			pb.ValueInfo{Name: "use_cache_branch", ElemType: pb.Bool, Shape: pb.D(1)}),
		Initializers: decoderWeights(ws)}}
	have := map[string]bool{}
	withPast := &pb.Graph{Name: "decoder_with_past"}
	noPast := &pb.Graph{Name: "decoder_no_past"}
	bw, bn := newBuilder(withPast, &m.Graph, have, "with_past/"), newBuilder(noPast, &m.Graph, have, "no_past/")
	bw.lora, bn.lora = lg, lg
	withPast.Outputs = decoderGraph(bw, c, decoderOpts{past: true, encPresent: true, outPrefix: "with_past/"})
	noPast.Outputs = decoderGraph(bn, c, decoderOpts{encPresent: true, outPrefix: "no_past/"})
	mergeBranches(m, withPast, noPast)
	return m
}

// mergeBranches makes m the merged decoder: one If on use_cache_branch
// between the with-past and no-past graphs, whose outputs (named
// "no_past/<name>" in the branch) become m's outputs. The branches'
// present.i.decoder shapes differ (past+1 vs the new length), so theirs are
// left undeclared.
func mergeBranches(m *pb.Model, withPast, noPast *pb.Graph) {
	var names []string
	for _, v := range noPast.Outputs {
		name := v.Name[len("no_past/"):]
		names = append(names, name)
		v.Name = name
		m.Graph.Outputs = append(m.Graph.Outputs, v)
	}
	for i := range withPast.Outputs {
		withPast.Outputs[i].Shape, noPast.Outputs[i].Shape = nil, nil
	}
	m.Graph.Nodes = append(m.Graph.Nodes, pb.Node{OpType: "If", Name: "optimum::if", Inputs: []string{"use_cache_branch"},
		Outputs: names, Attrs: []pb.Attr{pb.AGraph("then_branch", withPast), pb.AGraph("else_branch", noPast)}})
}
