package testmodels

import (
	"fmt"
	"math"

	pb "github.com/transcept/transcept/gpu-runtime/onnxpb"
)

// builder appends nodes to one graph (the main graph or an If branch) and
// constants to the outer graph, so both branches share them.
type builder struct {
	g      *pb.Graph
	consts *pb.Graph
	have   map[string]bool
	prefix string
	n      int
	lora   *loraGraph // nil: plain linear layers
}

func newBuilder(g, consts *pb.Graph, have map[string]bool, prefix string) *builder {
	return &builder{g: g, consts: consts, have: have, prefix: prefix}
}

// op adds a node with one output and returns that output's name.
func (b *builder) op(op string, ins []string, attrs ...pb.Attr) string {
	b.n++
	out := fmt.Sprintf("%s%s_%d", b.prefix, op, b.n)
	b.opTo(out, op, ins, attrs...)
	return out
}

// opTo adds a node whose output is named out.
func (b *builder) opTo(out, op string, ins []string, attrs ...pb.Attr) {
	b.g.Nodes = append(b.g.Nodes, pb.Node{OpType: op, Name: "n_" + out, Inputs: ins, Outputs: []string{out}, Attrs: attrs})
}

func (b *builder) constant(t pb.Tensor) string {
	if !b.have[t.Name] {
		b.have[t.Name] = true
		b.consts.Initializers = append(b.consts.Initializers, t)
	}
	return t.Name
}

func (b *builder) f32(v float32) string {
	return b.constant(pb.Tensor{Name: fmt.Sprintf("const_f_%g", v), DataType: pb.Float, Float32: []float32{v}})
}

func (b *builder) i64(v int64) string {
	return b.constant(pb.Tensor{Name: fmt.Sprintf("const_i_%d", v), DataType: pb.Int64, Int64: []int64{v}})
}

func (b *builder) ints(v ...int64) string {
	return b.constant(pb.Tensor{Name: fmt.Sprintf("const_is_%v", v), DataType: pb.Int64, Dims: []int64{int64(len(v))}, Int64: v})
}

// dim is the scalar size of dimension i of x.
func (b *builder) dim(x string, i int64) string {
	return b.op("Gather", []string{b.op("Shape", []string{x}), b.i64(i)})
}

// linear is x·W + bias for the layer called name; with LoRA on that layer,
// x·W + scale·(x·A)·B + bias (loraGraph.delta).
func (b *builder) linear(x, name string) string {
	y := b.op("MatMul", []string{x, name + ".weight"})
	if b.lora != nil {
		y = b.lora.delta(b, x, y, name)
	}
	return b.op("Add", []string{y, name + ".bias"})
}

func (b *builder) layerNorm(x, name string) string { return b.layerNormEps(x, name, 1e-5) }

func (b *builder) layerNormEps(x, name string, eps float32) string {
	return b.op("LayerNormalization", []string{x, name + ".weight", name + ".bias"}, pb.AInt("axis", -1), pb.AFloat("epsilon", eps))
}

// gelu is the exact GELU: x/2 · (1 + erf(x/√2)).
func (b *builder) gelu(x string) string {
	e := b.op("Erf", []string{b.op("Div", []string{x, b.f32(1.4142135)})})
	return b.op("Mul", []string{b.op("Mul", []string{x, b.f32(0.5)}), b.op("Add", []string{e, b.f32(1)})})
}

// embed is layernorm_embedding(tokens[ids] + positions[past+2 : past+2+len]),
// BART's learned positions with their offset of 2. past is a scalar name.
func (b *builder) embed(ids, past, part string) string {
	start := b.op("Add", []string{past, b.i64(2)})
	limit := b.op("Add", []string{start, b.dim(ids, 1)})
	pos := b.op("Gather", []string{"model." + part + ".embed_positions.weight", b.op("Range", []string{start, limit, b.i64(1)})})
	tok := b.op("Gather", []string{"model.shared.weight", ids})
	return b.layerNorm(b.op("Add", []string{tok, pos}), "model."+part+".layernorm_embedding")
}

// paddingMask turns an int64 [batch, len] attention mask into an additive
// [batch, 1, 1, len] one: 0 where attended, float32's minimum where not.
func (b *builder) paddingMask(mask string) string {
	m := b.op("Cast", []string{mask}, pb.AInt("to", int64(pb.Float)))
	add := b.op("Mul", []string{b.op("Sub", []string{b.f32(1), m}), b.f32(minFloat32)})
	return b.op("Unsqueeze", []string{add, b.ints(1, 2)})
}

const minFloat32 = -3.4028234663852886e38

// causalMask is the additive [q, past+q] mask letting query i see keys ≤ past+i.
func (b *builder) causalMask(ids, past string) string {
	total := b.op("Add", []string{past, b.dim(ids, 1)})
	rows := b.op("Unsqueeze", []string{b.op("Range", []string{past, total, b.i64(1)}), b.ints(1)})
	cols := b.op("Range", []string{b.i64(0), total, b.i64(1)})
	return b.op("Where", []string{b.op("Greater", []string{cols, rows}), b.f32(minFloat32), b.f32(0)})
}

// heads reshapes [batch, len, d] to [batch, heads, len, head_dim].
func (b *builder) heads(x string, c *Config) string {
	return b.splitHeads(x, c.Heads, c.DModel/c.Heads)
}

func (b *builder) splitHeads(x string, heads, headDim int) string {
	r := b.op("Reshape", []string{x, b.ints(0, -1, int64(heads), int64(headDim))})
	return b.op("Transpose", []string{r}, pb.AInts("perm", 0, 2, 1, 3))
}

// attend is softmax(q·kᵀ + mask)·v merged back to [batch, len, d]; q is
// already scaled.
func (b *builder) attend(q, k, v, mask string, c *Config) string {
	s := b.op("MatMul", []string{q, b.op("Transpose", []string{k}, pb.AInts("perm", 0, 1, 3, 2))})
	if mask != "" {
		s = b.op("Add", []string{s, mask})
	}
	o := b.op("MatMul", []string{b.op("Softmax", []string{s}, pb.AInt("axis", -1)), v})
	t := b.op("Transpose", []string{o}, pb.AInts("perm", 0, 2, 1, 3))
	return b.op("Reshape", []string{t, b.ints(0, -1, int64(c.DModel))})
}

// query is the scaled, head-split query projection.
func (b *builder) query(x, name string, c *Config) string {
	scale := float32(1 / math.Sqrt(float64(c.DModel/c.Heads)))
	return b.heads(b.op("Mul", []string{b.linear(x, name+".q_proj"), b.f32(scale)}), c)
}

// ffn is the post-LN feed-forward block with its residual; layer ends in ".".
func (b *builder) ffn(h, layer string) string {
	f := b.linear(b.gelu(b.linear(h, layer+"fc1")), layer+"fc2")
	return b.layerNorm(b.op("Add", []string{h, f}), layer+"final_layer_norm")
}
