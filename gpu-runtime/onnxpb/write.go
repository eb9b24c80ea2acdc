package onnxpb

import (
	"encoding/binary"
	"math"
	"os"
	"sort"
	"strconv"
)

// Field numbers from onnx.proto (ONNX IR).
const (
	modelIRVersion       = 1
	modelProducerName    = 2
	modelProducerVersion = 3
	modelGraph           = 7
	modelOpsetImport     = 8
	modelMetadataProps   = 14

	opsetDomain  = 1
	opsetVersion = 2

	kvKey   = 1
	kvValue = 2

	graphNode        = 1
	graphName        = 2
	graphInitializer = 5
	graphInput       = 11
	graphOutput      = 12

	nodeInput     = 1
	nodeOutput    = 2
	nodeName      = 3
	nodeOpType    = 4
	nodeAttribute = 5
	nodeDomain    = 7

	attrName    = 1
	attrF       = 2
	attrI       = 3
	attrS       = 4
	attrT       = 5
	attrG       = 6
	attrFloats  = 7
	attrInts    = 8
	attrStrings = 9
	attrType    = 20

	valueInfoName = 1
	valueInfoType = 2

	typeTensor = 1

	tensorTypeElem  = 1
	tensorTypeShape = 2

	shapeDim = 1

	dimValue = 1
	dimParam = 2

	tensorDims     = 1
	tensorDataType = 2
	tensorFloat    = 4
	tensorInt32    = 5
	tensorInt64    = 7
	tensorName     = 8
	tensorRaw      = 9
	tensorExternal = 13
	tensorLocation = 14

	locationExternal = 1 // TensorProto.DataLocation EXTERNAL
)

const (
	wireVarint = 0
	wireI64    = 1
	wireBytes  = 2
	wireI32    = 5
)

// buf is a protobuf encoder for the few shapes of field ONNX uses.
type buf []byte

func (b *buf) tag(field, wire int) { *b = binary.AppendUvarint(*b, uint64(field)<<3|uint64(wire)) }

func (b *buf) varint(field int, v uint64) {
	b.tag(field, wireVarint)
	*b = binary.AppendUvarint(*b, v)
}

func (b *buf) bytes(field int, p []byte) {
	b.tag(field, wireBytes)
	*b = binary.AppendUvarint(*b, uint64(len(p)))
	*b = append(*b, p...)
}

func (b *buf) str(field int, s string) {
	b.tag(field, wireBytes)
	*b = binary.AppendUvarint(*b, uint64(len(s)))
	*b = append(*b, s...)
}

// strOpt writes s only when it is not empty (proto3 default).
func (b *buf) strOpt(field int, s string) {
	if s != "" {
		b.str(field, s)
	}
}

func (b *buf) msg(field int, f func(*buf)) {
	var m buf
	f(&m)
	b.bytes(field, m)
}

func (b *buf) packedInt64(field int, v []int64) {
	var p buf
	for _, x := range v {
		p = binary.AppendUvarint(p, uint64(x))
	}
	b.bytes(field, p)
}

func (b *buf) packedInt32(field int, v []int32) {
	var p buf
	for _, x := range v {
		p = binary.AppendUvarint(p, uint64(int64(x))) // negative int32 is sign-extended
	}
	b.bytes(field, p)
}

func (b *buf) packedFloat(field int, v []float32) {
	p := make([]byte, 0, 4*len(v))
	for _, x := range v {
		p = binary.LittleEndian.AppendUint32(p, math.Float32bits(x))
	}
	b.bytes(field, p)
}

// Marshal encodes the model as .onnx bytes.
func (m *Model) Marshal() []byte {
	var b buf
	ir := m.IRVersion
	if ir == 0 {
		ir = DefaultIRVersion
	}
	b.varint(modelIRVersion, uint64(ir))
	b.strOpt(modelProducerName, m.ProducerName)
	b.strOpt(modelProducerVersion, m.ProducerVersion)
	b.msg(modelGraph, func(g *buf) { writeGraph(g, &m.Graph) })
	opsets := m.OpSets
	if len(opsets) == 0 {
		opsets = []OpSet{{Version: DefaultOpSet}}
	}
	for _, o := range opsets {
		b.msg(modelOpsetImport, func(p *buf) {
			p.strOpt(opsetDomain, o.Domain)
			p.varint(opsetVersion, uint64(o.Version))
		})
	}
	keys := make([]string, 0, len(m.Metadata))
	for k := range m.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic bytes
	for _, k := range keys {
		b.msg(modelMetadataProps, func(p *buf) {
			p.str(kvKey, k)
			p.str(kvValue, m.Metadata[k])
		})
	}
	return b
}

// WriteFile marshals the model to path.
func (m *Model) WriteFile(path string) error {
	return os.WriteFile(path, m.Marshal(), 0o644)
}

func writeGraph(b *buf, g *Graph) {
	for i := range g.Nodes {
		b.msg(graphNode, func(p *buf) { writeNode(p, &g.Nodes[i]) })
	}
	b.strOpt(graphName, g.Name)
	for i := range g.Initializers {
		b.msg(graphInitializer, func(p *buf) { writeTensor(p, &g.Initializers[i]) })
	}
	for _, v := range g.Inputs {
		b.msg(graphInput, func(p *buf) { writeValueInfo(p, v) })
	}
	for _, v := range g.Outputs {
		b.msg(graphOutput, func(p *buf) { writeValueInfo(p, v) })
	}
}

func writeNode(b *buf, n *Node) {
	for _, s := range n.Inputs {
		b.str(nodeInput, s)
	}
	for _, s := range n.Outputs {
		b.str(nodeOutput, s)
	}
	b.strOpt(nodeName, n.Name)
	b.str(nodeOpType, n.OpType)
	for i := range n.Attrs {
		b.msg(nodeAttribute, func(p *buf) { writeAttr(p, &n.Attrs[i]) })
	}
	b.strOpt(nodeDomain, n.Domain)
}

func writeAttr(b *buf, a *Attr) {
	b.str(attrName, a.Name)
	switch a.Type {
	case AttrFloat:
		b.tag(attrF, wireI32)
		*b = binary.LittleEndian.AppendUint32(*b, math.Float32bits(a.F))
	case AttrInt:
		b.varint(attrI, uint64(a.I))
	case AttrString:
		b.str(attrS, a.S)
	case AttrTensor:
		b.msg(attrT, func(p *buf) { writeTensor(p, a.T) })
	case AttrGraph:
		b.msg(attrG, func(p *buf) { writeGraph(p, a.G) })
	case AttrFloats:
		b.packedFloat(attrFloats, a.Floats)
	case AttrInts:
		b.packedInt64(attrInts, a.Ints)
	case AttrStrings:
		for _, s := range a.Strings {
			b.str(attrStrings, s)
		}
	}
	b.varint(attrType, uint64(a.Type))
}

func writeValueInfo(b *buf, v ValueInfo) {
	b.str(valueInfoName, v.Name)
	b.msg(valueInfoType, func(t *buf) {
		t.msg(typeTensor, func(tt *buf) {
			tt.varint(tensorTypeElem, uint64(v.ElemType))
			if v.Shape != nil {
				tt.msg(tensorTypeShape, func(s *buf) {
					for _, d := range v.Shape {
						s.msg(shapeDim, func(dd *buf) {
							switch {
							case d.Param != "":
								dd.str(dimParam, d.Param)
							case d.Value > 0:
								dd.varint(dimValue, uint64(d.Value))
							}
						})
					}
				})
			}
		})
	})
}

func writeTensor(b *buf, t *Tensor) {
	if len(t.Dims) > 0 {
		b.packedInt64(tensorDims, t.Dims)
	}
	b.varint(tensorDataType, uint64(t.DataType))
	switch {
	case t.External != nil:
		// data_location EXTERNAL with location/offset/length entries, as
		// onnx.external_data_helper writes them
		e := t.External
		for _, kv := range [][2]string{{"location", e.Location}, {"offset", strconv.FormatInt(e.Offset, 10)}, {"length", strconv.FormatInt(e.Length, 10)}} {
			b.msg(tensorExternal, func(p *buf) {
				p.str(kvKey, kv[0])
				p.str(kvValue, kv[1])
			})
		}
	case t.Raw != nil:
		b.bytes(tensorRaw, t.Raw)
	case t.Float32 != nil:
		// raw_data is what exporters write and what ORT maps fastest
		p := make([]byte, 0, 4*len(t.Float32))
		for _, x := range t.Float32 {
			p = binary.LittleEndian.AppendUint32(p, math.Float32bits(x))
		}
		b.bytes(tensorRaw, p)
	case t.Int64 != nil:
		b.packedInt64(tensorInt64, t.Int64)
	case t.Int32 != nil:
		b.packedInt32(tensorInt32, t.Int32)
	}
	b.strOpt(tensorName, t.Name)
	if t.External != nil {
		b.varint(tensorLocation, locationExternal)
	}
}
