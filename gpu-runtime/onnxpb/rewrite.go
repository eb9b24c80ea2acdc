package onnxpb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

// Field is one protobuf field of a message: its number, wire type, the
// payload (bytes of a length-delimited field) and the whole encoding. For
// code that edits ONNX protobuf bytes in place (rewrites that keep
// everything else, external data references included, byte for byte).
type Field struct {
	Num, Wire int
	Payload   []byte
	Raw       []byte
}

// Bytes reports whether f is a length-delimited field numbered num.
func (f Field) Bytes(num int) bool { return f.Num == num && f.Wire == wireBytes }

// Str is f's payload as a string when f is length-delimited field num.
func (f Field) Str(num int) (string, bool) {
	if !f.Bytes(num) {
		return "", false
	}
	return string(f.Payload), true
}

// Varint is the value of a varint field (0 for other wire types).
func (f Field) Varint() uint64 {
	if f.Wire != wireVarint {
		return 0
	}
	return varintValue(f.Raw)
}

// Fields cuts a message into its top-level fields.
func Fields(msg []byte) ([]Field, error) {
	var out []Field
	for i := 0; i < len(msg); {
		start := i
		key, n := binary.Uvarint(msg[i:])
		if n <= 0 {
			return nil, errors.New("bad field key")
		}
		i += n
		f := Field{Num: int(key >> 3), Wire: int(key & 7)}
		switch f.Wire {
		case wireVarint:
			_, n := binary.Uvarint(msg[i:])
			if n <= 0 {
				return nil, errors.New("bad varint")
			}
			i += n
		case wireBytes:
			l, n := binary.Uvarint(msg[i:])
			if n <= 0 || l > uint64(len(msg)-i-n) {
				return nil, fmt.Errorf("field %d overruns its message", f.Num)
			}
			i += n
			f.Payload = msg[i : i+int(l)]
			i += int(l)
		case wireI64:
			i += 8
		case wireI32:
			i += 4
		default:
			return nil, fmt.Errorf("unsupported wire type %d", f.Wire)
		}
		if i > len(msg) {
			return nil, errors.New("truncated message")
		}
		f.Raw = msg[start:i]
		out = append(out, f)
	}
	return out, nil
}

// LastPositionOnly rewrites a model's bytes so that the node producing
// output (for a causal language model, the lm_head MatMul giving "logits")
// sees only the last position of its first input: a Slice [-1:] on axis 1
// goes before it, so output becomes [batch, 1, …] instead of
// [batch, seq, …]. Generation needs nothing else from a prompt step, and
// the projection onto a large vocabulary for every prompt position is much
// of that step's work (Hugging Face's generate() does the same with
// logits_to_keep). When output is a Cast or Identity of another value (an
// fp16 model's float32 logits), the node making that value gets the Slice.
// The declared shape of output gets 1 on axis 1. Everything else, external
// data references included, is kept byte for byte.
func LastPositionOnly(model []byte, output string) ([]byte, error) {
	pieces, _, err := lastPositionPieces(model, output, Grouping{})
	if err != nil {
		return nil, err
	}
	return slices.Concat(pieces...), nil
}

// WriteLastPositionOnly writes LastPositionOnly's rewrite of model to w
// without building a second copy of it in memory: the unchanged fields
// (the weights held inside the file among them) are written straight from
// model, which may be a memory-mapped file.
func WriteLastPositionOnly(w io.Writer, model []byte, output string) error {
	rw, err := CausalCopy(model, output, Grouping{})
	if err == nil {
		_, err = rw.WriteTo(w)
	}
	return err
}

// CausalRewrite is a decoder-only model's rewritten copy, worked out once
// (CausalCopy) and written with WriteTo, as WriteLastPositionOnly writes
// its own: pieces of the model for what is kept, new bytes for what
// changed.
type CausalRewrite struct {
	pieces [][]byte
	// Grouped is how many attention products the copy computes without
	// the repeat of the key/value heads (see groupedEdits).
	Grouped int
}

// CausalCopy is LastPositionOnly's rewrite that also, where g describes
// grouped-query attention, multiplies each group of query heads by its
// key/value head instead of by copies of it (see groupedEdits).
func CausalCopy(model []byte, output string, g Grouping) (*CausalRewrite, error) {
	pieces, grouped, err := lastPositionPieces(model, output, g)
	if err != nil {
		return nil, err
	}
	return &CausalRewrite{pieces: pieces, Grouped: grouped}, nil
}

// WriteTo writes the copy to w.
func (r *CausalRewrite) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for _, p := range r.pieces {
		k, err := w.Write(p)
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// lastPositionPieces is the rewritten model as consecutive pieces: slices
// of model for what is kept, new bytes for what changed.
func lastPositionPieces(model []byte, output string, gr Grouping) ([][]byte, int, error) {
	top, err := Fields(model)
	if err != nil {
		return nil, 0, fmt.Errorf("onnxpb: model: %w", err)
	}
	grouped := 0
	var out [][]byte
	found := false
	for _, f := range top {
		if f.Num != modelGraph || f.Wire != wireBytes {
			out = append(out, f.Raw)
			continue
		}
		g, n, err := lastPositionGraph(f.Payload, output, gr)
		if err != nil {
			return nil, 0, err
		}
		grouped += n
		size := 0
		for _, p := range g {
			size += len(p)
		}
		var head buf
		head.tag(modelGraph, wireBytes)
		head = binary.AppendUvarint(head, uint64(size))
		out = append(append(out, head), g...)
		found = true
	}
	if !found {
		return nil, 0, errors.New("onnxpb: model has no graph")
	}
	return out, grouped, nil
}

func lastPositionGraph(graph []byte, output string, gr Grouping) ([][]byte, int, error) {
	fields, err := Fields(graph)
	if err != nil {
		return nil, 0, fmt.Errorf("onnxpb: graph: %w", err)
	}
	edits, extra, grouped, err := groupedEdits(fields, gr)
	if err != nil {
		return nil, 0, err
	}
	const prefix = "transcept_last_position"
	// through Casts and Identities to the node computing the values (an
	// fp16 model's float32 logits are a Cast of its float16 ones, made by
	// the lm_head)
	target := output
	producer := map[string]Node{}
	for _, f := range fields {
		if f.Num == graphNode && f.Wire == wireBytes {
			node, err := decodeNodeIO(f.Payload)
			if err != nil {
				return nil, 0, err
			}
			for _, o := range node.Outputs {
				producer[o] = node
			}
		}
	}
	// A dynamically quantised lm_head (q8, onnxruntime's quantize_dynamic
	// layout) is Mul(Cast(MatMulInteger(A_q, B, a_zp, b_zp)), Mul(a_scale,
	// b_scale)) with A_q, a_scale and a_zp from one DynamicQuantizeLinear:
	// the walk goes on through the Mul and the Cast to the MatMulInteger, so
	// the Slice takes A_q, the integers already quantised with the whole
	// prompt's scale, and the last row comes out exactly as without it
	// (slicing before DynamicQuantizeLinear would change that scale).
	dynamicScale := func(n Node) bool {
		if n.OpType != "Mul" || len(n.Inputs) != 2 || producer[n.Inputs[0]].OpType != "Cast" {
			return false
		}
		c := producer[n.Inputs[0]]
		s := producer[n.Inputs[1]]
		return len(c.Inputs) == 1 && producer[c.Inputs[0]].OpType == "MatMulInteger" &&
			s.OpType == "Mul" && len(s.Inputs) == 2 && producer[s.Inputs[0]].OpType == "DynamicQuantizeLinear"
	}
	for range 8 {
		p, ok := producer[target]
		if !ok || (p.OpType != "Cast" && p.OpType != "Identity" && !dynamicScale(p)) || len(p.Inputs) == 0 || producer[p.Inputs[0]].OpType == "" {
			break
		}
		target = p.Inputs[0]
	}
	var out [][]byte
	rewritten := false
	for i, f := range fields {
		if e, ok := edits[i]; ok {
			out = append(out, e)
			continue
		}
		switch {
		case f.Num == graphNode && f.Wire == wireBytes && !rewritten:
			node, err := decodeNodeIO(f.Payload)
			if err != nil {
				return nil, 0, err
			}
			if !slices.Contains(node.Outputs, target) {
				out = append(out, f.Raw)
				continue
			}
			if len(node.Inputs) == 0 {
				return nil, 0, fmt.Errorf("onnxpb: node %q making %q has no input", node.Name, output)
			}
			last := prefix + "/" + node.Inputs[0]
			var b buf
			b.msg(graphNode, func(p *buf) {
				writeNode(p, &Node{OpType: "Slice", Name: prefix,
					Inputs: []string{node.Inputs[0], prefix + "/starts", prefix + "/ends", prefix + "/axes"}, Outputs: []string{last}})
			})
			// the node itself, its first input renamed
			var n buf
			first := true
			nf, _ := Fields(f.Payload)
			for _, x := range nf {
				if first && x.Num == nodeInput && x.Wire == wireBytes {
					n.str(nodeInput, last)
					first = false
					continue
				}
				n = append(n, x.Raw...)
			}
			b.bytes(graphNode, n)
			out = append(out, b)
			rewritten = true
		case f.Num == graphOutput && f.Wire == wireBytes:
			v, err := decodeValueInfo(f.Payload)
			if err != nil {
				return nil, 0, err
			}
			if v.Name == output && len(v.Shape) >= 2 {
				v.Shape = slices.Clone(v.Shape)
				v.Shape[1] = Dim{Value: 1}
				var b buf
				b.msg(graphOutput, func(p *buf) { writeValueInfo(p, v) })
				out = append(out, b)
				continue
			}
			out = append(out, f.Raw)
		default:
			out = append(out, f.Raw)
		}
	}
	if !rewritten {
		return nil, 0, fmt.Errorf("onnxpb: no node makes %q", output)
	}
	b := buf(extra)
	for _, c := range []struct {
		name string
		v    int64
	}{{"starts", -1}, {"ends", math.MaxInt64}, {"axes", 1}} {
		t := Tensor{Name: prefix + "/" + c.name, DataType: Int64, Dims: []int64{1}, Int64: []int64{c.v}}
		b.msg(graphInitializer, func(p *buf) { writeTensor(p, &t) })
	}
	return append(out, b), grouped, nil
}

// decodeNodeIO reads a NodeProto's name, op type, domain, inputs and
// outputs.
func decodeNodeIO(msg []byte) (Node, error) {
	fields, err := Fields(msg)
	if err != nil {
		return Node{}, fmt.Errorf("onnxpb: node: %w", err)
	}
	var n Node
	for _, f := range fields {
		if f.Wire != wireBytes {
			continue
		}
		switch f.Num {
		case nodeInput:
			n.Inputs = append(n.Inputs, string(f.Payload))
		case nodeOutput:
			n.Outputs = append(n.Outputs, string(f.Payload))
		case nodeName:
			n.Name = string(f.Payload)
		case nodeOpType:
			n.OpType = string(f.Payload)
		case nodeDomain:
			n.Domain = string(f.Payload)
		}
	}
	return n, nil
}

// decodeValueInfo reads a tensor ValueInfoProto (name, element type, shape).
func decodeValueInfo(msg []byte) (ValueInfo, error) {
	var v ValueInfo
	fields, err := Fields(msg)
	if err != nil {
		return v, err
	}
	for _, f := range fields {
		switch {
		case f.Num == valueInfoName && f.Wire == wireBytes:
			v.Name = string(f.Payload)
		case f.Num == valueInfoType && f.Wire == wireBytes:
			tf, err := Fields(f.Payload)
			if err != nil {
				return v, err
			}
			for _, t := range tf {
				if t.Num != typeTensor || t.Wire != wireBytes {
					continue
				}
				ef, err := Fields(t.Payload)
				if err != nil {
					return v, err
				}
				for _, e := range ef {
					switch {
					case e.Num == tensorTypeElem && e.Wire == wireVarint:
						v.ElemType = DataType(varintValue(e.Raw))
					case e.Num == tensorTypeShape && e.Wire == wireBytes:
						v.Shape = []Dim{}
						dims, err := Fields(e.Payload)
						if err != nil {
							return v, err
						}
						for _, d := range dims {
							var dim Dim
							df, err := Fields(d.Payload)
							if err != nil {
								return v, err
							}
							for _, x := range df {
								switch {
								case x.Num == dimValue && x.Wire == wireVarint:
									dim.Value = int64(varintValue(x.Raw))
								case x.Num == dimParam && x.Wire == wireBytes:
									dim.Param = string(x.Payload)
								}
							}
							v.Shape = append(v.Shape, dim)
						}
					}
				}
			}
		}
	}
	return v, nil
}

// varintValue is the value of a varint field from its whole encoding.
func varintValue(raw []byte) uint64 {
	_, n := binary.Uvarint(raw) // the key
	v, _ := binary.Uvarint(raw[n:])
	return v
}
