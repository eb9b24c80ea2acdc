package onnxpb

import "fmt"

// DataType is ONNX's TensorProto.DataType.
type DataType int32

const (
	Undefined DataType = 0
	Float     DataType = 1
	Uint8     DataType = 2
	Int8      DataType = 3
	Uint16    DataType = 4
	Int16     DataType = 5
	Int32     DataType = 6
	Int64     DataType = 7
	String    DataType = 8
	Bool      DataType = 9
	Float16   DataType = 10
	Double    DataType = 11
	Uint32    DataType = 12
	Uint64    DataType = 13
	BFloat16  DataType = 16
)

var dataTypeNames = map[DataType]string{
	Undefined: "undefined", Float: "float32", Uint8: "uint8", Int8: "int8",
	Uint16: "uint16", Int16: "int16", Int32: "int32", Int64: "int64",
	String: "string", Bool: "bool", Float16: "float16", Double: "float64",
	Uint32: "uint32", Uint64: "uint64", BFloat16: "bfloat16",
}

func (d DataType) String() string {
	if s, ok := dataTypeNames[d]; ok {
		return s
	}
	return fmt.Sprintf("onnx-type-%d", int32(d))
}

// Dim is one dimension of a declared shape: a fixed size, or a symbolic name
// (Param) such as "batch_size". Both empty means unknown.
type Dim struct {
	Value int64
	Param string
}

func (d Dim) String() string {
	if d.Param != "" {
		return d.Param
	}
	if d.Value > 0 {
		return fmt.Sprint(d.Value)
	}
	return "?"
}

// D returns fixed or symbolic dimensions: ints become Value, strings Param.
func D(dims ...any) []Dim {
	out := make([]Dim, len(dims))
	for i, d := range dims {
		switch v := d.(type) {
		case int:
			out[i] = Dim{Value: int64(v)}
		case int64:
			out[i] = Dim{Value: v}
		case string:
			out[i] = Dim{Param: v}
		default:
			panic(fmt.Sprintf("onnxpb.D: dimension %d is %T, want int or string", i, d))
		}
	}
	return out
}

// ValueInfo is a typed graph input or output. Only tensors are supported;
// Shape nil means the rank is not declared.
type ValueInfo struct {
	Name     string
	ElemType DataType
	Shape    []Dim
}

func (v ValueInfo) String() string {
	return fmt.Sprintf("%s %s%v", v.Name, v.ElemType, v.Shape)
}

// Tensor is a constant (an initializer, or a Constant node's value). Exactly
// one of the data fields matches DataType; Raw, when set, wins and holds the
// little-endian bytes. External, when set, says the bytes lie in a separate
// file instead (the data fields are then empty; see ExternalWriter).
type Tensor struct {
	Name     string
	DataType DataType
	Dims     []int64
	Float32  []float32
	Int64    []int64
	Int32    []int32
	Raw      []byte
	External *External
}

// AttrType is ONNX's AttributeProto.AttributeType.
type AttrType int32

const (
	AttrFloat   AttrType = 1
	AttrInt     AttrType = 2
	AttrString  AttrType = 3
	AttrTensor  AttrType = 4
	AttrGraph   AttrType = 5
	AttrFloats  AttrType = 6
	AttrInts    AttrType = 7
	AttrStrings AttrType = 8
)

// Attr is a node attribute; Type says which field holds the value.
type Attr struct {
	Name    string
	Type    AttrType
	F       float32
	I       int64
	S       string
	T       *Tensor
	G       *Graph
	Floats  []float32
	Ints    []int64
	Strings []string
}

// Attribute constructors, for readable graph code.
func AInt(name string, v int64) Attr     { return Attr{Name: name, Type: AttrInt, I: v} }
func AFloat(name string, v float32) Attr { return Attr{Name: name, Type: AttrFloat, F: v} }
func AInts(name string, v ...int64) Attr { return Attr{Name: name, Type: AttrInts, Ints: v} }
func AGraph(name string, g *Graph) Attr  { return Attr{Name: name, Type: AttrGraph, G: g} }

// Node is one operator application.
type Node struct {
	OpType  string
	Name    string
	Domain  string
	Inputs  []string // "" for an omitted optional input
	Outputs []string
	Attrs   []Attr
}

// Graph is a computation graph: the model's main graph or a subgraph (If/Loop
// bodies), which may use names from the enclosing graph.
type Graph struct {
	Name         string
	Nodes        []Node
	Initializers []Tensor
	Inputs       []ValueInfo
	Outputs      []ValueInfo
}

// OpSet names an operator set the model imports ("" is the default ONNX domain).
type OpSet struct {
	Domain  string
	Version int64
}

// Model is a whole .onnx file.
type Model struct {
	IRVersion       int64 // 0 means DefaultIRVersion
	OpSets          []OpSet
	ProducerName    string
	ProducerVersion string
	Graph           Graph
	Metadata        map[string]string
}

// Defaults for models built here: IR 8 and opset 17 load in every ONNX
// Runtime ≥ 1.14 and in onnxruntime-node, which transformers.js uses.
const (
	DefaultIRVersion = 8
	DefaultOpSet     = 17
)
