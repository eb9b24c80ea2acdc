package testmodels

import (
	pb "github.com/transcept/transcept/gpu-runtime/onnxpb"
)

// Builder builds one ONNX graph with the helpers this package's generators
// use, for generators of other architectures (tests/testkit/bertgen).
// Node and constant names follow the same scheme, so graphs are
// deterministic.
type Builder struct{ b *builder }

// NewBuilder returns a builder appending nodes and constants to g.
func NewBuilder(g *pb.Graph) *Builder { return &Builder{newBuilder(g, g, map[string]bool{}, "")} }

// Op adds a node with one output and returns that output's name.
func (b *Builder) Op(op string, ins []string, attrs ...pb.Attr) string {
	return b.b.op(op, ins, attrs...)
}

// OpTo adds a node whose output is named out.
func (b *Builder) OpTo(out, op string, ins []string, attrs ...pb.Attr) {
	b.b.opTo(out, op, ins, attrs...)
}

// F32, I64 and Ints are named constants (added once).
func (b *Builder) F32(v float32) string   { return b.b.f32(v) }
func (b *Builder) I64(v int64) string     { return b.b.i64(v) }
func (b *Builder) Ints(v ...int64) string { return b.b.ints(v...) }

// Linear is x·W + bias for the layer called name (name.weight stored [in, out]).
func (b *Builder) Linear(x, name string) string { return b.b.linear(x, name) }

// LayerNorm is LayerNormalization over the last axis with name.weight and name.bias.
func (b *Builder) LayerNorm(x, name string, eps float32) string {
	return b.b.layerNormEps(x, name, eps)
}

// Gelu is the exact (erf) GELU.
func (b *Builder) Gelu(x string) string { return b.b.gelu(x) }

// Heads reshapes [batch, len, heads·headDim] to [batch, heads, len, headDim].
func (b *Builder) Heads(x string, heads, headDim int) string {
	return b.b.splitHeads(x, heads, headDim)
}

// PaddingMask turns an int64 [batch, len] attention mask into an additive
// [batch, 1, 1, len] one: 0 where attended, float32's minimum where not.
func (b *Builder) PaddingMask(mask string) string { return b.b.paddingMask(mask) }
