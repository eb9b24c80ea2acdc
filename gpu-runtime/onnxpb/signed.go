package onnxpb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// SignedWeights rewrites the 8-bit weights of a model's MatMulInteger nodes
// from uint8 to int8: every uint8 initializer that is only ever read as a
// MatMulInteger's B or B zero point has 128 subtracted from each value (the
// top bit flipped) and becomes int8. (w − 128) − (z − 128) = w − z, so every
// product is the same integer as before; what changes is the kernel ONNX
// Runtime picks. The hub's and transformers.js's q8 files
// (model_quantized.onnx) store uint8 weights, which ONNX Runtime's x86
// kernels multiply as u8×u8; as int8 they take the u8×s8 path, which on
// CPUs with VNNI (vpdpbusd, exact int32 sums) runs the 512-token BART
// encoder in 0.55× the time on the same weights. Without VNNI that path
// adds pairs of products in saturating int16 (vpmaddubsw), which can change
// results, so callers apply this only on VNNI CPUs (see ort.Options).
//
// Only main-graph initializers held inside the file are converted, and only
// when no other node, graph output or graph input uses them and no subgraph
// declares a value of the same name; a MatMulInteger is converted only with
// both its B and its B zero point. Everything else is kept byte for byte.
// The result is written by WriteTo, streaming from model (which may be a
// memory-mapped file) without a second copy in memory.
func SignedWeights(model []byte) (*Rewrite, error) {
	top, err := Fields(model)
	if err != nil {
		return nil, fmt.Errorf("onnxpb: model: %w", err)
	}
	gi := -1
	for i := range top {
		if top[i].Bytes(modelGraph) {
			if gi >= 0 {
				return nil, errors.New("onnxpb: model has two graphs")
			}
			gi = i
		}
	}
	if gi < 0 {
		return nil, errors.New("onnxpb: model has no graph")
	}
	s := &signedScan{inits: map[string]*signedInit{}, blocked: map[string]bool{}}
	gfields, err := Fields(top[gi].Payload)
	if err != nil {
		return nil, fmt.Errorf("onnxpb: graph: %w", err)
	}
	if err := s.mainGraph(gfields); err != nil {
		return nil, err
	}
	convert := s.decide()
	r := &Rewrite{inPlace: true, size: len(model)}
	// offset of a subslice of model (same backing array)
	at := func(sub []byte) int { return cap(model) - cap(sub) }
	if len(convert) == 0 {
		r.pieces = []piece{{b: model}}
		return r, nil
	}
	r.Nodes = s.converted
	// the graph, with the converted initializers re-encoded
	var g []piece
	for i, f := range gfields {
		t := s.byIndex[i]
		if t == nil || !convert[t.name] {
			g = append(g, piece{b: f.Raw})
			continue
		}
		tp, err := t.signed()
		if err != nil {
			return nil, err
		}
		e, ok := t.edit(at)
		r.inPlace = r.inPlace && ok
		r.edits = append(r.edits, e)
		g = append(g, piece{b: lengthHead(graphInitializer, size(tp))})
		g = append(g, tp...)
		r.Weights++
		r.Bytes += int64(t.values)
	}
	for i, f := range top {
		if i != gi {
			r.pieces = append(r.pieces, piece{b: f.Raw})
			continue
		}
		r.pieces = append(r.pieces, piece{b: lengthHead(modelGraph, size(g))})
		r.pieces = append(r.pieces, g...)
	}
	return r, nil
}

// Rewrite is a rewritten model, to be written with WriteTo (or applied to
// the model's own bytes with InPlace).
type Rewrite struct {
	Weights int   // initializers converted
	Nodes   int   // MatMulInteger nodes now reading int8 weights
	Bytes   int64 // weight values converted
	pieces  []piece
	// the same rewrite as edits of the source bytes, when no length changes
	// (every converted weight held as raw_data)
	edits   []edit
	inPlace bool
	size    int
}

// edit is one in-place change: the data type byte at typeAt becomes int8,
// and n bytes from flipAt get their top bit flipped.
type edit struct{ typeAt, flipAt, n int }

// InPlace applies the rewrite to model, which must hold the very bytes
// SignedWeights read (e.g. a writable mapping of the same private copy),
// and reports whether it could: false, with model unchanged, when the
// rewrite changes a length (a weight held in int32_data).
func (r *Rewrite) InPlace(model []byte) bool {
	if !r.inPlace || len(model) != r.size {
		return false
	}
	for _, e := range r.edits {
		model[e.typeAt] = byte(Int8)
		for i := e.flipAt; i < e.flipAt+e.n; i++ {
			model[i] ^= 0x80
		}
	}
	return true
}

// piece is part of a rewritten model: bytes as they are, or with the top
// bit of every byte flipped (uint8 ↔ int8, minus 128).
type piece struct {
	b    []byte
	flip bool
}

// Size is the rewritten model's length in bytes.
func (r *Rewrite) Size() int64 { return int64(size(r.pieces)) }

// WriteTo writes the rewritten model.
func (r *Rewrite) WriteTo(w io.Writer) (int64, error) {
	var n int64
	var tmp []byte
	for _, p := range r.pieces {
		if !p.flip {
			m, err := w.Write(p.b)
			n += int64(m)
			if err != nil {
				return n, err
			}
			continue
		}
		if tmp == nil {
			tmp = make([]byte, 1<<20)
		}
		for b := p.b; len(b) > 0; {
			c := tmp[:min(len(tmp), len(b))]
			for i := range c {
				c[i] = b[i] ^ 0x80
			}
			m, err := w.Write(c)
			n += int64(m)
			if err != nil {
				return n, err
			}
			b = b[len(c):]
		}
	}
	return n, nil
}

func size(ps []piece) int {
	n := 0
	for _, p := range ps {
		n += len(p.b)
	}
	return n
}

func lengthHead(field, n int) []byte {
	var b buf
	b.tag(field, wireBytes)
	return binary.AppendUvarint(b, uint64(n))
}

// signedInit is a main-graph uint8 initializer that may be converted.
type signedInit struct {
	name   string
	fields []Field
	values int
}

// edit is the in-place form of signed: ok when the data type is one byte
// and the values are raw_data.
func (t *signedInit) edit(at func([]byte) int) (edit, bool) {
	e := edit{typeAt: -1, flipAt: -1}
	for _, f := range t.fields {
		switch {
		case f.Num == tensorDataType && f.Wire == wireVarint:
			if len(f.Raw) != 2 { // the key and a one-byte value
				return e, false
			}
			e.typeAt = at(f.Raw) + 1
		case f.Num == tensorRaw && f.Wire == wireBytes:
			if e.flipAt >= 0 {
				return e, false
			}
			e.flipAt, e.n = at(f.Payload), len(f.Payload)
		case f.Num == tensorInt32:
			return e, false
		}
	}
	return e, e.typeAt >= 0 && e.flipAt >= 0
}

// signed re-encodes the initializer as int8.
func (t *signedInit) signed() ([]piece, error) {
	var out []piece
	for _, f := range t.fields {
		switch {
		case f.Num == tensorDataType && f.Wire == wireVarint:
			var b buf
			b.varint(tensorDataType, uint64(Int8))
			out = append(out, piece{b: b})
		case f.Num == tensorRaw && f.Wire == wireBytes:
			out = append(out, piece{b: lengthHead(tensorRaw, len(f.Payload))}, piece{b: f.Payload, flip: true})
		case f.Num == tensorInt32 && f.Wire == wireBytes: // packed
			var vals []byte
			for p := f.Payload; len(p) > 0; {
				v, n := binary.Uvarint(p)
				if n <= 0 {
					return nil, fmt.Errorf("onnxpb: initializer %s: bad int32_data", t.name)
				}
				p = p[n:]
				vals = binary.AppendUvarint(vals, uint64(int64(int32(v))-128))
			}
			out = append(out, piece{b: lengthHead(tensorInt32, len(vals))}, piece{b: vals})
		case f.Num == tensorInt32 && f.Wire == wireVarint: // one unpacked value
			var b buf
			b.varint(tensorInt32, uint64(int64(int32(varintValue(f.Raw)))-128))
			out = append(out, piece{b: b})
		default:
			out = append(out, piece{b: f.Raw})
		}
	}
	return out, nil
}

// signedScan collects what SignedWeights decides on.
type signedScan struct {
	inits   map[string]*signedInit // candidates by name
	byIndex map[int]*signedInit    // by the graph field holding them
	blocked map[string]bool        // names read or declared where conversion is unsafe
	mmi     []Node                 // MatMulInteger nodes of every graph
	// converted MatMulInteger nodes (set by decide)
	converted int
}

func (s *signedScan) mainGraph(fields []Field) error {
	s.byIndex = map[int]*signedInit{}
	seen := map[string]int{}
	for i, f := range fields {
		if !f.Bytes(graphInitializer) {
			continue
		}
		t, ok, err := uint8Initializer(f.Payload)
		if err != nil {
			return err
		}
		if seen[t.name]++; seen[t.name] > 1 {
			s.blocked[t.name] = true
		}
		if ok {
			s.inits[t.name] = t
			s.byIndex[i] = t
		}
	}
	return s.graph(fields, true)
}

// graph records node uses and declared names of a graph and its subgraphs.
func (s *signedScan) graph(fields []Field, main bool) error {
	for _, f := range fields {
		if f.Wire != wireBytes {
			continue
		}
		switch f.Num {
		case graphInput, graphOutput:
			v, err := decodeValueInfo(f.Payload)
			if err != nil {
				return fmt.Errorf("onnxpb: graph input/output: %w", err)
			}
			s.blocked[v.Name] = true
		case graphInitializer:
			if !main {
				name, err := tensorNameOf(f.Payload)
				if err != nil {
					return err
				}
				s.blocked[name] = true
			}
		case graphNode:
			if err := s.node(f.Payload, main); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *signedScan) node(msg []byte, main bool) error {
	n, err := decodeNodeIO(msg)
	if err != nil {
		return err
	}
	fields, _ := Fields(msg) // read once already
	for _, f := range fields {
		if f.Bytes(nodeAttribute) {
			if err := s.attribute(f.Payload); err != nil {
				return err
			}
		}
	}
	for _, o := range n.Outputs {
		if !main {
			s.blocked[o] = true // a subgraph value that may shadow an initializer
		}
	}
	if n.OpType == "MatMulInteger" && (n.Domain == "" || n.Domain == "ai.onnx") && len(n.Inputs) >= 4 {
		s.mmi = append(s.mmi, n)
		for i, in := range n.Inputs {
			if i != 1 && i != 3 {
				s.blocked[in] = true
			}
		}
		return nil
	}
	for _, in := range n.Inputs {
		s.blocked[in] = true
	}
	return nil
}

func (s *signedScan) attribute(msg []byte) error {
	fields, err := Fields(msg)
	if err != nil {
		return fmt.Errorf("onnxpb: attribute: %w", err)
	}
	for _, f := range fields {
		if f.Wire != wireBytes || (f.Num != attrG && f.Num != FieldAttrGraphs) {
			continue
		}
		gf, err := Fields(f.Payload)
		if err != nil {
			return fmt.Errorf("onnxpb: subgraph: %w", err)
		}
		if err := s.graph(gf, false); err != nil {
			return err
		}
	}
	return nil
}

// decide picks the initializers to convert: candidates read only as B or B
// zero point of MatMulIntegers whose B and zero point are both converted.
func (s *signedScan) decide() map[string]bool {
	ok := map[string]bool{}
	for name := range s.inits {
		if !s.blocked[name] {
			ok[name] = true
		}
	}
	for changed := true; changed; {
		changed = false
		for _, n := range s.mmi {
			b, z := n.Inputs[1], n.Inputs[3]
			if ok[b] && ok[z] {
				continue
			}
			if ok[b] || ok[z] {
				delete(ok, b)
				delete(ok, z)
				changed = true
			}
		}
	}
	s.converted = 0
	for _, n := range s.mmi {
		if ok[n.Inputs[1]] && ok[n.Inputs[3]] {
			s.converted++
		}
	}
	return ok
}

// uint8Initializer reads an initializer; ok when it is uint8 with its values
// in the file (raw_data or int32_data).
func uint8Initializer(msg []byte) (*signedInit, bool, error) {
	fields, err := Fields(msg)
	if err != nil {
		return nil, false, fmt.Errorf("onnxpb: initializer: %w", err)
	}
	t := &signedInit{fields: fields}
	var dt DataType
	external, data := false, false
	for _, f := range fields {
		switch {
		case f.Num == tensorName && f.Wire == wireBytes:
			t.name = string(f.Payload)
		case f.Num == tensorDataType && f.Wire == wireVarint:
			dt = DataType(f.Varint())
		case f.Num == tensorLocation && f.Wire == wireVarint:
			external = f.Varint() == locationExternal
		case f.Num == tensorExternal:
			external = true
		case f.Num == tensorRaw && f.Wire == wireBytes:
			data = true
			t.values += len(f.Payload)
		case f.Num == tensorInt32:
			data = true
			if f.Wire == wireVarint {
				t.values++
			} else {
				for p := f.Payload; len(p) > 0; {
					_, n := binary.Uvarint(p)
					if n <= 0 {
						return nil, false, fmt.Errorf("onnxpb: initializer %s: bad int32_data", t.name)
					}
					p = p[n:]
					t.values++
				}
			}
		}
	}
	return t, dt == Uint8 && data && !external && t.name != "", nil
}

func tensorNameOf(msg []byte) (string, error) {
	fields, err := Fields(msg)
	if err != nil {
		return "", fmt.Errorf("onnxpb: initializer: %w", err)
	}
	for _, f := range fields {
		if n, ok := f.Str(tensorName); ok {
			return n, nil
		}
	}
	return "", nil
}
