package bertgen

import (
	"fmt"
	"math"

	pb "github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

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
	b := testmodels.NewBuilder(&m.Graph)

	// Embeddings: positions 0..len-1 (BertModel's default position_ids).
	seq := b.Op("Gather", []string{b.Op("Shape", []string{"input_ids"}), b.I64(1)})
	pos := b.Op("Range", []string{b.I64(0), seq, b.I64(1)})
	x := b.Op("Add", []string{
		b.Op("Add", []string{
			b.Op("Gather", []string{"embeddings.word_embeddings.weight", "input_ids"}),
			b.Op("Gather", []string{"embeddings.token_type_embeddings.weight", "token_type_ids"}),
		}),
		b.Op("Gather", []string{"embeddings.position_embeddings.weight", pos}),
	})
	x = b.LayerNorm(x, "embeddings.LayerNorm", LayerNormEps)

	// Extended attention mask: [batch, 1, 1, len], 0 attended, min where not.
	mask := b.PaddingMask("attention_mask")

	hd := c.Hidden / c.Heads
	scale := b.F32(float32(math.Sqrt(float64(hd))))
	for i := range c.Layers {
		p := fmt.Sprintf("encoder.layer.%d.", i)
		q := b.Heads(b.Linear(x, p+"attention.self.query"), c.Heads, hd)
		k := b.Heads(b.Linear(x, p+"attention.self.key"), c.Heads, hd)
		v := b.Heads(b.Linear(x, p+"attention.self.value"), c.Heads, hd)
		s := b.Op("MatMul", []string{q, b.Op("Transpose", []string{k}, pb.AInts("perm", 0, 1, 3, 2))})
		s = b.Op("Add", []string{b.Op("Div", []string{s, scale}), mask})
		o := b.Op("MatMul", []string{b.Op("Softmax", []string{s}, pb.AInt("axis", -1)), v})
		o = b.Op("Reshape", []string{b.Op("Transpose", []string{o}, pb.AInts("perm", 0, 2, 1, 3)), b.Ints(0, -1, int64(c.Hidden))})
		x = b.LayerNorm(b.Op("Add", []string{b.Linear(o, p+"attention.output.dense"), x}), p+"attention.output.LayerNorm", LayerNormEps)
		f := b.Linear(b.Gelu(b.Linear(x, p+"intermediate.dense")), p+"output.dense")
		x = b.LayerNorm(b.Op("Add", []string{f, x}), p+"output.LayerNorm", LayerNormEps)
	}
	b.OpTo("last_hidden_state", "Identity", []string{x})
	return m
}
