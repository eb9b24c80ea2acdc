package bertgen

import (
	"fmt"
	"math"

	pb "github.com/transcept/transcept/gpu-runtime/onnxpb"
)

// minFloat32 is what BertModel's extended attention mask adds at padding.
const minFloat32 = -3.4028234663852886e38

// builder appends nodes and constants to one graph.
type builder struct {
	g    *pb.Graph
	have map[string]bool
	n    int
}

// op adds a node with one output and returns that output's name.
func (b *builder) op(op string, ins []string, attrs ...pb.Attr) string {
	b.n++
	out := fmt.Sprintf("%s_%d", op, b.n)
	b.opTo(out, op, ins, attrs...)
	return out
}

func (b *builder) opTo(out, op string, ins []string, attrs ...pb.Attr) {
	b.g.Nodes = append(b.g.Nodes, pb.Node{OpType: op, Name: "n_" + out, Inputs: ins, Outputs: []string{out}, Attrs: attrs})
}

func (b *builder) constant(t pb.Tensor) string {
	if !b.have[t.Name] {
		b.have[t.Name] = true
		b.g.Initializers = append(b.g.Initializers, t)
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

// linear is x·W + bias for the layer called name.
func (b *builder) linear(x, name string) string {
	return b.op("Add", []string{b.op("MatMul", []string{x, name + ".weight"}), name + ".bias"})
}

func (b *builder) layerNorm(x, name string) string {
	return b.op("LayerNormalization", []string{x, name + ".weight", name + ".bias"},
		pb.AInt("axis", -1), pb.AFloat("epsilon", LayerNormEps))
}

// gelu is the exact GELU: x/2 · (1 + erf(x/√2)).
func (b *builder) gelu(x string) string {
	e := b.op("Erf", []string{b.op("Div", []string{x, b.f32(math.Sqrt2)})})
	return b.op("Mul", []string{b.op("Mul", []string{x, b.f32(0.5)}), b.op("Add", []string{e, b.f32(1)})})
}

// heads reshapes [batch, len, hidden] to [batch, heads, len, head_dim].
func (b *builder) heads(x string, c *Config) string {
	r := b.op("Reshape", []string{x, b.ints(0, -1, int64(c.Heads), int64(c.Hidden/c.Heads))})
	return b.op("Transpose", []string{r}, pb.AInts("perm", 0, 2, 1, 3))
}

// Model builds onnx/model.onnx from the weights Weights made.
func Model(c *Config, ws []pb.Tensor) *pb.Model {
	m := &pb.Model{ProducerName: "transcept-bertgen", Graph: pb.Graph{Name: "bert",
		Inputs: []pb.ValueInfo{
			{Name: "input_ids", ElemType: pb.Int64, Shape: pb.D("batch_size", "sequence_length")},
			{Name: "attention_mask", ElemType: pb.Int64, Shape: pb.D("batch_size", "sequence_length")},
			{Name: "token_type_ids", ElemType: pb.Int64, Shape: pb.D("batch_size", "sequence_length")},
		},
		Outputs: []pb.ValueInfo{{Name: "last_hidden_state", ElemType: pb.Float, Shape: pb.D("batch_size", "sequence_length", c.Hidden)}},
	}}
	m.Graph.Initializers = append(m.Graph.Initializers, ws...)
	b := &builder{g: &m.Graph, have: map[string]bool{}}

	// Embeddings: positions 0..len-1 (BertModel's default position_ids).
	seq := b.op("Gather", []string{b.op("Shape", []string{"input_ids"}), b.i64(1)})
	pos := b.op("Range", []string{b.i64(0), seq, b.i64(1)})
	x := b.op("Add", []string{
		b.op("Add", []string{
			b.op("Gather", []string{"embeddings.word_embeddings.weight", "input_ids"}),
			b.op("Gather", []string{"embeddings.token_type_embeddings.weight", "token_type_ids"}),
		}),
		b.op("Gather", []string{"embeddings.position_embeddings.weight", pos}),
	})
	x = b.layerNorm(x, "embeddings.LayerNorm")

	// Extended attention mask: [batch, 1, 1, len], 0 attended, min where not.
	mf := b.op("Cast", []string{"attention_mask"}, pb.AInt("to", int64(pb.Float)))
	mask := b.op("Unsqueeze", []string{b.op("Mul", []string{b.op("Sub", []string{b.f32(1), mf}), b.f32(minFloat32)}), b.ints(1, 2)})

	scale := b.f32(float32(math.Sqrt(float64(c.Hidden / c.Heads))))
	for i := range c.Layers {
		p := fmt.Sprintf("encoder.layer.%d.", i)
		q := b.heads(b.linear(x, p+"attention.self.query"), c)
		k := b.heads(b.linear(x, p+"attention.self.key"), c)
		v := b.heads(b.linear(x, p+"attention.self.value"), c)
		s := b.op("MatMul", []string{q, b.op("Transpose", []string{k}, pb.AInts("perm", 0, 1, 3, 2))})
		s = b.op("Add", []string{b.op("Div", []string{s, scale}), mask})
		o := b.op("MatMul", []string{b.op("Softmax", []string{s}, pb.AInt("axis", -1)), v})
		o = b.op("Reshape", []string{b.op("Transpose", []string{o}, pb.AInts("perm", 0, 2, 1, 3)), b.ints(0, -1, int64(c.Hidden))})
		x = b.layerNorm(b.op("Add", []string{b.linear(o, p+"attention.output.dense"), x}), p+"attention.output.LayerNorm")
		f := b.linear(b.gelu(b.linear(x, p+"intermediate.dense")), p+"output.dense")
		x = b.layerNorm(b.op("Add", []string{f, x}), p+"output.LayerNorm")
	}
	b.opTo("last_hidden_state", "Identity", []string{x})
	return m
}
