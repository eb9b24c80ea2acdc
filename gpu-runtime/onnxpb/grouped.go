package onnxpb

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
)

// Grouping is a decoder-only model's grouped-query attention: Heads query
// heads share KVHeads key/value heads (Heads/KVHeads query heads each), of
// HeadDim values (0: not checked).
type Grouping struct{ Heads, KVHeads, HeadDim int }

func (g Grouping) on() bool {
	return g.KVHeads > 0 && g.Heads > g.KVHeads && g.Heads%g.KVHeads == 0
}

// graphValueInfo is GraphProto.value_info.
const graphValueInfo = 13

// Exported graphs of grouped-query attention repeat each key/value head
// for its query heads before the two attention products (transformers'
// repeat_kv: Unsqueeze on axis 2, Expand to [b, kv, g, t, d], Reshape to
// [b, kv·g, t, d]), so every decoding step copies the whole cache g times
// per layer and multiplies each query head by its copy alone. groupedEdits
// rewrites the scores' product MatMul(A, f(repeat(X))), f the Transpose of
// the last two axes, with or without a multiplication by a one-element
// scale, as
//
//	Reshape(MatMul(Reshape(A, [0, kv, -1, 0]), f(X)), [0, kv·g, -1, 0])
//
// A is [b, kv·g, s, d] with head h = k·g + j, so the first Reshape makes
// the g query heads of key/value head k one [g·s, d] matrix against X's
// head k: every score is the same dot product of the same numbers,
// computed without the copy. The values' product MatMul(P, repeat(X))
// becomes
//
//	Reshape(MatMul(Reshape(P, [b, kv, g, s, t]), Unsqueeze(X, 2)), [0, kv·g, -1, d])
//
// broadcasting X's head k over its g query heads, each still a product of
// its own rows (why not grouped as well: see match). Where any part of
// the pattern cannot be checked (Expand's repeat count, the heads of the
// Reshape and of X's declared shape, the axes, single use of each
// intermediate) the product is left as it is. Nodes left without use (the
// repeat and the shape arithmetic feeding it) are removed, and so are
// initializers and value_info only they had. Graphs with subgraphs (If,
// Loop) are left alone: their nodes may read names of the outer graph.
//
// edits maps the index of a node or initializer field of the graph to its
// replacement (empty: removed); extra is appended to the graph.
func groupedEdits(fields []Field, g Grouping) (edits map[int][]byte, extra []byte, n int, err error) {
	if !g.on() {
		return nil, nil, 0, nil
	}
	s := gscan{g: g, producer: map[string]int{}, uses: map[string]int{}, consts: map[string]constTensor{},
		shapes: map[string][]Dim{}, inits: map[string]int{}, inputs: map[string]bool{}, info: map[string]int{}, read: map[string]bool{}}
	for i, f := range fields {
		if f.Wire != wireBytes {
			continue
		}
		switch f.Num {
		case graphNode:
			nd, err := decodeGNode(f.Payload)
			if err != nil {
				return nil, nil, 0, err
			}
			if nd.subgraph {
				return nil, nil, 0, nil
			}
			nd.field = i
			k := len(s.nodes)
			s.nodes = append(s.nodes, nd)
			for _, o := range nd.Outputs {
				s.producer[o] = k
			}
			for _, in := range nd.Inputs {
				if in != "" {
					s.uses[in]++
					s.read[in] = true
				}
			}
			if nd.OpType == "Constant" && nd.Domain == "" && len(nd.Outputs) == 1 {
				if c, ok := nd.constant(); ok {
					s.consts[nd.Outputs[0]] = c
				}
			}
		case graphInitializer:
			if len(f.Payload) <= 4096 {
				if c, ok := smallTensor(f.Payload); ok {
					s.consts[c.name] = c
				}
			}
			if name, err := tensorNameOf(f.Payload); err == nil {
				s.inits[name] = i
			}
		case graphOutput, graphInput, graphValueInfo:
			v, err := decodeValueInfo(f.Payload)
			if err != nil {
				return nil, nil, 0, err
			}
			s.shapes[v.Name] = v.Shape
			if f.Num == graphOutput {
				s.uses[v.Name]++
			}
			if f.Num == graphInput {
				s.inputs[v.Name] = true
			}
			if f.Num == graphValueInfo {
				s.info[v.Name] = i
			}
		}
	}
	edits = map[int][]byte{}
	dropped := map[int]bool{}
	remade := map[string]bool{}
	var reads []string // what the written nodes read
	s.added = map[string][]int64{}
	for k := range s.nodes {
		m := s.match(k)
		if m == nil {
			continue
		}
		n++
		edits[s.nodes[k].field] = s.emit(k, m, n)
		remade[s.nodes[k].Outputs[0]] = true
		for _, d := range append(m.drop, k) {
			dropped[d] = true
		}
		reads = append(reads, s.nodes[k].Inputs[0], m.x)
		if m.broadcast {
			reads = append(reads, m.u)
		}
		for i, c := range m.chain {
			for j, in := range s.nodes[c].Inputs {
				if j != m.path[i] {
					reads = append(reads, in)
				}
			}
		}
	}
	if n == 0 {
		return nil, nil, 0, nil
	}
	// the nodes only the removed ones read: the repeat's shape arithmetic
	for k := range s.nodes {
		if dropped[k] {
			for _, in := range s.nodes[k].Inputs {
				s.uses[in]--
			}
		}
	}
	for _, in := range reads {
		s.uses[in]++
	}
	for changed := true; changed; {
		changed = false
		for k := range s.nodes {
			if dropped[k] {
				continue
			}
			nd := &s.nodes[k]
			used := false
			for _, o := range nd.Outputs {
				used = used || (o != "" && s.uses[o] > 0)
			}
			if used || len(nd.Outputs) == 0 {
				continue
			}
			dropped[k], changed = true, true
			for _, in := range nd.Inputs {
				s.uses[in]--
			}
		}
	}
	for k := range s.nodes {
		if _, ok := edits[s.nodes[k].field]; dropped[k] && !ok {
			edits[s.nodes[k].field] = nil
		}
	}
	for name, i := range s.inits {
		if s.uses[name] <= 0 && !s.inputs[name] && s.read[name] {
			edits[i] = nil
		}
	}
	// and the value_info of values no node makes any more (a rewritten
	// product's output is made again, by its last Reshape)
	for k := range s.nodes {
		if !dropped[k] {
			continue
		}
		for _, o := range s.nodes[k].Outputs {
			if i, ok := s.info[o]; ok && !remade[o] {
				edits[i] = nil
			}
		}
	}
	var b buf
	names := slices.Sorted(maps.Keys(s.added))
	for _, name := range names {
		v := s.added[name]
		t := Tensor{Name: name, DataType: Int64, Dims: []int64{int64(len(v))}, Int64: v}
		b.msg(graphInitializer, func(p *buf) { writeTensor(p, &t) })
	}
	return edits, b, n, nil
}

type gscan struct {
	g        Grouping
	nodes    []gNode
	producer map[string]int // value → index in nodes
	uses     map[string]int // value → node inputs reading it, +1 for a graph output
	consts   map[string]constTensor
	shapes   map[string][]Dim // declared shapes (inputs, outputs, value_info)
	info     map[string]int   // value_info → field index
	inits    map[string]int   // initializer → field index
	inputs   map[string]bool
	read     map[string]bool    // values some node of the original graph reads
	added    map[string][]int64 // initializers the written nodes read
}

// constant is the name of a new int64 initializer holding v.
func (s *gscan) constant(name string, v ...int64) string {
	name = "transcept_grouped/" + name
	s.added[name] = v
	return name
}

type groupedMatch struct {
	chain []int // nodes between the product and the Reshape, nearest the product first
	path  []int // for each of chain, which input carries the repeated tensor
	x     string
	drop  []int
	// broadcast: the values' product, as MatMul of A as [b, kv, g, s, t]
	// by the Unsqueeze's [b, kv, 1, t, d] (u), each of the kv·g products
	// one head's rows as before
	broadcast bool
	u         string
	headDim   int64
}

// match checks node k for the pattern (see groupedEdits).
func (s *gscan) match(k int) *groupedMatch {
	m := &s.nodes[k]
	if m.OpType != "MatMul" || m.Domain != "" || len(m.Inputs) != 2 || len(m.Outputs) != 1 {
		return nil
	}
	var r groupedMatch
	single := func(v string) (int, bool) {
		p, ok := s.producer[v]
		return p, ok && s.uses[v] == 1 && len(s.nodes[p].Outputs) == 1
	}
	cur := m.Inputs[1]
	for len(r.chain) < 3 {
		p, ok := single(cur)
		if !ok {
			return nil
		}
		nd := &s.nodes[p]
		path := -1
		switch {
		case nd.Domain != "":
		case nd.OpType == "Transpose" && len(nd.Inputs) == 1 && slices.Equal(nd.ints["perm"], []int64{0, 1, 3, 2}):
			path = 0
		case (nd.OpType == "Mul" || nd.OpType == "Div") && len(nd.Inputs) == 2 && s.scalar(nd.Inputs[1]):
			path = 0
		case nd.OpType == "Mul" && len(nd.Inputs) == 2 && s.scalar(nd.Inputs[0]):
			path = 1
		}
		if path < 0 {
			break
		}
		r.chain, r.path = append(r.chain, p), append(r.path, path)
		cur = nd.Inputs[path]
	}
	// The scores Q·Kᵀ (the keys transposed, perhaps scaled) sum over the
	// head size, which ONNX Runtime's kernels add in the same order for
	// one row (a decoding step's query) as for the g rows of a group: they
	// are grouped. The values' product P·V (nothing between it and the
	// repeat) sums over the cache length, which the one-row kernel adds in
	// another order than the many-row one (grouped, the ids of the random
	// Qwen2.5-0.5B-size model differed from the repeated graph's at the
	// 15th token), so it is broadcast instead: each query head still one
	// product of its own rows, against its key/value head without a copy.
	transposed := 0
	for _, c := range r.chain {
		if s.nodes[c].OpType == "Transpose" {
			transposed++
		}
	}
	switch {
	case transposed == 1:
	case len(r.chain) == 0:
		r.broadcast = true
	default:
		return nil
	}
	heads, kv, g := int64(s.g.Heads), int64(s.g.KVHeads), int64(s.g.Heads/s.g.KVHeads)
	hd := int64(s.g.HeadDim)
	either := func(v int64, known bool, ok ...int64) bool { return !known || slices.Contains(ok, v) }
	// Reshape to [b, kv·g, t, d]
	rp, ok := single(cur)
	if !ok {
		return nil
	}
	rs := &s.nodes[rp]
	if rs.OpType != "Reshape" || rs.Domain != "" || len(rs.Inputs) != 2 || rs.ints["allowzero"] != nil && rs.ints["allowzero"][0] != 0 {
		return nil
	}
	v, kn, ok := s.shapeElems(rs.Inputs[1])
	if !ok || len(v) != 4 || !kn[1] || v[1] != heads || !either(v[2], kn[2], -1) || (kn[3] && v[3] != -1 && hd > 0 && v[3] != hd) || (kn[0] && v[0] < 0) {
		return nil
	}
	// Expand to [b, kv, g, t, d]
	ep, ok := single(rs.Inputs[0])
	if !ok {
		return nil
	}
	ex := &s.nodes[ep]
	if ex.OpType != "Expand" || ex.Domain != "" || len(ex.Inputs) != 2 {
		return nil
	}
	v, kn, ok = s.shapeElems(ex.Inputs[1])
	if !ok || len(v) != 5 || !kn[2] || v[2] != g || !either(v[1], kn[1], 1, kv) || !either(v[3], kn[3], 1) || (kn[4] && v[4] != 1 && (hd <= 0 || v[4] != hd)) || (kn[0] && v[0] < 1) {
		return nil
	}
	// Unsqueeze on axis 2
	up, ok := single(ex.Inputs[0])
	if !ok {
		return nil
	}
	un := &s.nodes[up]
	if un.OpType != "Unsqueeze" || un.Domain != "" || len(un.Inputs) == 0 {
		return nil
	}
	axes := un.ints["axes"]
	if len(un.Inputs) == 2 {
		c, ok := s.consts[un.Inputs[1]]
		if !ok || c.dt != Int64 {
			return nil
		}
		axes = c.i64
	}
	if len(axes) != 1 || (axes[0] != 2 && axes[0] != -3) {
		return nil
	}
	// X is [b, kv, t, d] as declared
	r.x = un.Inputs[0]
	sh, ok := s.declared(r.x)
	if !ok || len(sh) != 4 || sh[1].Value != kv || (hd > 0 && sh[3].Value != 0 && sh[3].Value != hd) {
		return nil
	}
	r.drop = append(slices.Clone(r.chain), rp, ep, up)
	if r.broadcast {
		r.u, r.headDim = un.Outputs[0], hd
		if hd <= 0 {
			r.headDim = sh[3].Value
		}
		if r.headDim <= 0 {
			return nil
		}
		r.drop = r.drop[:len(r.drop)-1] // the Unsqueeze stays
	}
	return &r
}

// emit writes the grouped or broadcast product in place of node k.
func (s *gscan) emit(k int, r *groupedMatch, n int) []byte {
	m := &s.nodes[k]
	pre := fmt.Sprintf("transcept_grouped/%d", n)
	var b buf
	node := func(op, name string, out string, in ...string) {
		b.msg(graphNode, func(p *buf) {
			writeNode(p, &Node{OpType: op, Name: pre + "/" + name, Inputs: in, Outputs: []string{out}})
		})
	}
	heads, kv := int64(s.g.Heads), int64(s.g.KVHeads)
	if r.broadcast {
		// A [b, kv·g, s, t] as [b, kv, g, s, t]: its shape's b, then kv
		// and g, then its s and t
		shape, lead, tail, shape5, a, y := pre+"/shape", pre+"/b", pre+"/s_t", pre+"/shape5", pre+"/a", pre+"/y"
		node("Shape", "shape", shape, m.Inputs[0])
		node("Slice", "b", lead, shape, s.constant("0", 0), s.constant("1", 1))
		node("Slice", "s_t", tail, shape, s.constant("2", 2), s.constant("end", math.MaxInt64))
		b.msg(graphNode, func(p *buf) {
			writeNode(p, &Node{OpType: "Concat", Name: pre + "/shape5", Inputs: []string{lead, s.constant("kv_g", kv, heads/kv), tail},
				Outputs: []string{shape5}, Attrs: []Attr{AInt("axis", 0)}})
		})
		node("Reshape", "to_groups", a, m.Inputs[0], shape5)
		node("MatMul", "matmul", y, a, r.u)
		node("Reshape", "to_heads", m.Outputs[0], y, s.constant(fmt.Sprintf("to_heads_%d", r.headDim), 0, heads, -1, r.headDim))
		return b
	}
	src := r.x
	for i := len(r.chain) - 1; i >= 0; i-- {
		nd := &s.nodes[r.chain[i]]
		out := fmt.Sprintf("%s/%d", pre, i)
		b.bytes(graphNode, nd.renamed(r.path[i], src, out, pre))
		src = out
	}
	a, y := pre+"/a", pre+"/y"
	node("Reshape", "to_kv_heads", a, m.Inputs[0], s.constant("to_kv_heads", 0, kv, -1, 0))
	node("MatMul", "matmul", y, a, src)
	node("Reshape", "to_heads", m.Outputs[0], y, s.constant("to_heads", 0, heads, -1, 0))
	return b
}

// declared is v's declared shape, or, for a value without one (an fp16
// graph's cache before the Cast to its float32 output), that of the value
// a Cast or Identity makes of it or it of.
func (s *gscan) declared(v string) ([]Dim, bool) {
	if sh, ok := s.shapes[v]; ok {
		return sh, true
	}
	same := func(nd *gNode) bool {
		return nd.Domain == "" && (nd.OpType == "Cast" || nd.OpType == "Identity") && len(nd.Inputs) == 1 && len(nd.Outputs) == 1
	}
	if p, ok := s.producer[v]; ok && same(&s.nodes[p]) {
		if sh, ok := s.shapes[s.nodes[p].Inputs[0]]; ok {
			return sh, true
		}
	}
	for i := range s.nodes {
		if nd := &s.nodes[i]; same(nd) && nd.Inputs[0] == v {
			if sh, ok := s.shapes[nd.Outputs[0]]; ok {
				return sh, true
			}
		}
	}
	return nil, false
}

// scalar reports whether v holds one element, which multiplies every
// score alike: a constant, or what torch ≥ 2.1 exports for
// scaled_dot_product_attention's default scale, √(1/√d) with d sliced from
// the query's Shape at run time.
func (s *gscan) scalar(v string) bool { return s.oneElement(v, 8) }

func (s *gscan) oneElement(v string, depth int) bool {
	if c, ok := s.consts[v]; ok {
		return c.count == 1
	}
	p, ok := s.producer[v]
	if !ok || depth == 0 || s.nodes[p].Domain != "" || len(s.nodes[p].Outputs) != 1 {
		return false
	}
	nd := &s.nodes[p]
	switch nd.OpType {
	case "Sqrt", "Cast", "Reciprocal", "Neg", "Identity":
		return len(nd.Inputs) == 1 && s.oneElement(nd.Inputs[0], depth-1)
	case "Mul", "Div", "Add", "Sub":
		return len(nd.Inputs) == 2 && s.oneElement(nd.Inputs[0], depth-1) && s.oneElement(nd.Inputs[1], depth-1)
	case "Gather": // a Shape's entry at a scalar index
		sp, ok := s.producer[nd.Inputs[0]]
		c, isConst := s.consts[nd.Inputs[1]]
		return len(nd.Inputs) == 2 && ok && s.nodes[sp].OpType == "Shape" && isConst && c.count == 1 && len(c.dims) == 0
	case "Slice": // the last entry of a Shape, [-1:]
		if len(nd.Inputs) < 3 || len(nd.Inputs) > 5 {
			return false
		}
		sp, ok := s.producer[nd.Inputs[0]]
		if !ok || s.nodes[sp].OpType != "Shape" {
			return false
		}
		at := func(i int) (int64, bool) {
			if i >= len(nd.Inputs) {
				return 0, false
			}
			c, ok := s.consts[nd.Inputs[i]]
			if !ok {
				return 0, false
			}
			return c.i64Scalar()
		}
		start, ok1 := at(1)
		end, ok2 := at(2)
		if step, ok := at(4); len(nd.Inputs) == 5 && (!ok || step != 1) {
			return false
		}
		if axis, ok := at(3); len(nd.Inputs) >= 4 && (!ok || axis != 0 && axis != -1) {
			return false
		}
		return ok1 && ok2 && start == -1 && end >= math.MaxInt32
	}
	return false
}

// shapeElems is the value of a 1-D int64 shape tensor, known[i] false where
// element i is only known at run time. It follows what torch's exporter
// writes for a shape built from sizes: a Concat of constants and of
// Unsqueezed scalars (scalarValue evaluates those it can), flattened by
// Reshape(·, [-1]), and, for Expand, passed through Where(Equal(c, −1s),
// ones, c) (an element equal to −1 keeps its input's size).
func (s *gscan) shapeElems(v string) (vals []int64, known []bool, ok bool) {
	if c, ok := s.consts[v]; ok {
		if c.dt != Int64 || len(c.dims) != 1 {
			return nil, nil, false
		}
		kn := make([]bool, len(c.i64))
		for i := range kn {
			kn[i] = true
		}
		return c.i64, kn, true
	}
	p, ok := s.producer[v]
	if !ok {
		return nil, nil, false
	}
	nd := &s.nodes[p]
	switch {
	case nd.Domain != "":
	case nd.OpType == "Where" && len(nd.Inputs) == 3:
		if eq, ok := s.producer[nd.Inputs[0]]; ok && s.nodes[eq].OpType == "Equal" && len(s.nodes[eq].Inputs) == 2 &&
			s.nodes[eq].Inputs[0] == nd.Inputs[2] && s.minusOnes(s.nodes[eq].Inputs[1]) {
			vals, known, ok := s.shapeElems(nd.Inputs[2])
			for i := range vals {
				if known[i] && vals[i] == -1 {
					known[i] = false // replaced by the run-time value
				}
			}
			return vals, known, ok
		}
	case nd.OpType == "Reshape" && len(nd.Inputs) == 2:
		if c, ok := s.consts[nd.Inputs[1]]; ok && c.dt == Int64 && c.count == 1 && c.i64[0] == -1 {
			return s.shapeElems(nd.Inputs[0]) // a 1-D shape flattened: itself
		}
	case nd.OpType == "Concat" && (nd.ints["axis"] == nil || nd.ints["axis"][0] == 0 || nd.ints["axis"][0] == -1):
		for _, in := range nd.Inputs {
			if c, ok := s.consts[in]; ok && c.dt == Int64 && len(c.dims) <= 1 {
				vals = append(vals, c.i64...)
				for range c.i64 {
					known = append(known, true)
				}
				continue
			}
			q, ok := s.producer[in]
			if !ok || s.nodes[q].OpType != "Unsqueeze" || s.nodes[q].Domain != "" {
				return nil, nil, false
			}
			if sh, ok := s.shapes[s.nodes[q].Inputs[0]]; ok && len(sh) != 0 {
				return nil, nil, false // not a scalar
			}
			x, ok := s.scalarValue(s.nodes[q].Inputs[0], 4)
			vals, known = append(vals, x), append(known, ok)
		}
		return vals, known, true
	}
	return nil, nil, false
}

// scalarValue evaluates an int64 scalar where the graph fixes it: a
// constant, a Gather of a Shape whose axis is declared as a number, Casts
// and Mul/Add/Div of such values (depth bounds the walk).
func (s *gscan) scalarValue(v string, depth int) (int64, bool) {
	if c, ok := s.consts[v]; ok {
		return c.i64Scalar()
	}
	p, ok := s.producer[v]
	if !ok || depth == 0 {
		return 0, false
	}
	nd := &s.nodes[p]
	if nd.Domain != "" {
		return 0, false
	}
	switch {
	case nd.OpType == "Gather" && len(nd.Inputs) == 2 && (nd.ints["axis"] == nil || nd.ints["axis"][0] == 0):
		i, ok := s.consts[nd.Inputs[1]]
		sp, isShape := s.producer[nd.Inputs[0]]
		if !ok || !isShape || s.nodes[sp].OpType != "Shape" || s.nodes[sp].Domain != "" || len(s.nodes[sp].ints) != 0 {
			return 0, false
		}
		idx, ok := i.i64Scalar()
		sh, declared := s.declared(s.nodes[sp].Inputs[0])
		if !ok || !declared || idx < 0 || idx >= int64(len(sh)) || sh[idx].Value <= 0 {
			return 0, false
		}
		return sh[idx].Value, true
	case nd.OpType == "Cast" && len(nd.Inputs) == 1:
		return s.scalarValue(nd.Inputs[0], depth-1)
	case (nd.OpType == "Mul" || nd.OpType == "Add" || nd.OpType == "Div") && len(nd.Inputs) == 2:
		a, ok := s.scalarValue(nd.Inputs[0], depth-1)
		b, ok2 := s.scalarValue(nd.Inputs[1], depth-1)
		if !ok || !ok2 {
			return 0, false
		}
		switch nd.OpType {
		case "Mul":
			return a * b, true
		case "Add":
			return a + b, true
		default:
			if b == 0 || a%b != 0 {
				return 0, false
			}
			return a / b, true
		}
	}
	return 0, false
}

// minusOnes reports whether v is all −1: a constant, or torch's
// Mul(ConstantOfShape(ones), −1).
func (s *gscan) minusOnes(v string) bool {
	if c, ok := s.consts[v]; ok {
		if c.dt != Int64 || len(c.i64) == 0 {
			return false
		}
		for _, x := range c.i64 {
			if x != -1 {
				return false
			}
		}
		return true
	}
	p, ok := s.producer[v]
	if !ok || s.nodes[p].OpType != "Mul" || s.nodes[p].Domain != "" || len(s.nodes[p].Inputs) != 2 {
		return false
	}
	for i := range 2 {
		c, ok := s.consts[s.nodes[p].Inputs[1-i]]
		if x, scalar := c.i64Scalar(); !ok || !scalar || x != -1 {
			continue
		}
		if q, ok := s.producer[s.nodes[p].Inputs[i]]; ok && s.nodes[q].OpType == "ConstantOfShape" && s.nodes[q].Domain == "" {
			one, ok := smallTensor(s.nodes[q].tensor)
			if x, scalar := one.i64Scalar(); ok && scalar && x == 1 {
				return true
			}
		}
	}
	return false
}

// gNode is a node with the attributes groupedEdits reads.
type gNode struct {
	Node
	field      int
	raw        []byte
	ints       map[string][]int64 // int and ints attributes
	tensor     []byte             // a Constant's value
	valueFloat bool               // a Constant's value_float (one element)
	subgraph   bool
}

func decodeGNode(msg []byte) (gNode, error) {
	n := gNode{raw: msg, ints: map[string][]int64{}}
	var err error
	if n.Node, err = decodeNodeIO(msg); err != nil {
		return n, err
	}
	fields, _ := Fields(msg)
	for _, f := range fields {
		if !f.Bytes(nodeAttribute) {
			continue
		}
		af, err := Fields(f.Payload)
		if err != nil {
			return n, fmt.Errorf("onnxpb: attribute: %w", err)
		}
		var name string
		for _, a := range af {
			if s, ok := a.Str(attrName); ok {
				name = s
			}
		}
		for _, a := range af {
			switch {
			case a.Num == attrG || a.Num == FieldAttrGraphs:
				n.subgraph = true
			case a.Num == attrI && a.Wire == wireVarint:
				n.ints[name] = append(n.ints[name], int64(a.Varint()))
			case a.Num == attrInts && a.Wire == wireVarint:
				n.ints[name] = append(n.ints[name], int64(a.Varint()))
			case a.Num == attrInts && a.Wire == wireBytes:
				vs, ok := appendPacked(n.ints[name], a.Payload)
				if !ok {
					return n, fmt.Errorf("onnxpb: attribute %q: bad varint", name)
				}
				n.ints[name] = vs
			case a.Num == attrT && a.Wire == wireBytes && name == "value":
				n.tensor = a.Payload
			case a.Num == attrF && name == "value_float":
				n.valueFloat = true
			}
		}
	}
	return n, nil
}

// constant is a Constant node's value, where it is small and inline.
func (n *gNode) constant() (constTensor, bool) {
	switch {
	case n.tensor != nil:
		return smallTensor(n.tensor)
	case n.ints["value_int"] != nil:
		return constTensor{dt: Int64, i64: n.ints["value_int"], count: 1}, true
	case n.ints["value_ints"] != nil:
		v := n.ints["value_ints"]
		return constTensor{dt: Int64, dims: []int64{int64(len(v))}, i64: v, count: len(v)}, true
	case n.valueFloat:
		return constTensor{dt: Float, count: 1}, true
	}
	return constTensor{}, false
}

// renamed is the node with its input path read from in, its output named
// out and its name prefixed.
func (n *gNode) renamed(path int, in, out, pre string) []byte {
	fields, _ := Fields(n.raw)
	var b buf
	i := 0
	for _, f := range fields {
		switch {
		case f.Bytes(nodeInput):
			if i == path {
				b.str(nodeInput, in)
			} else {
				b = append(b, f.Raw...)
			}
			i++
		case f.Bytes(nodeOutput):
			b.str(nodeOutput, out)
		case f.Bytes(nodeName):
			b.str(nodeName, pre+"/"+string(f.Payload))
		default:
			b = append(b, f.Raw...)
		}
	}
	return b
}

// constTensor is a small constant: its type, shape and, for int64, values.
type constTensor struct {
	name  string
	dt    DataType
	dims  []int64
	i64   []int64
	count int
}

// i64Scalar is the value of an int64 constant of one element (a scalar or
// a 1-D tensor of one).
func (c constTensor) i64Scalar() (int64, bool) {
	if c.dt != Int64 || c.count != 1 || len(c.i64) != 1 {
		return 0, false
	}
	return c.i64[0], true
}

// appendPacked appends the packed varints of p (a repeated int64 field) to
// dst; false when one is malformed.
func appendPacked(dst []int64, p []byte) ([]int64, bool) {
	for len(p) > 0 {
		v, k := binary.Uvarint(p)
		if k <= 0 {
			return dst, false
		}
		dst = append(dst, int64(v))
		p = p[k:]
	}
	return dst, true
}

// smallTensor reads a TensorProto held inline (not external data).
func smallTensor(msg []byte) (constTensor, bool) {
	var c constTensor
	fields, err := Fields(msg)
	if err != nil {
		return c, false
	}
	var raw []byte
	hasRaw, n := false, 0
	for _, f := range fields {
		switch {
		case f.Num == tensorDims && f.Wire == wireVarint:
			c.dims = append(c.dims, int64(f.Varint()))
		case f.Num == tensorDims && f.Wire == wireBytes:
			var ok bool
			if c.dims, ok = appendPacked(c.dims, f.Payload); !ok {
				return c, false
			}
		case f.Num == tensorDataType && f.Wire == wireVarint:
			c.dt = DataType(f.Varint())
		case f.Num == tensorName && f.Wire == wireBytes:
			c.name = string(f.Payload)
		case f.Num == tensorRaw && f.Wire == wireBytes:
			raw, hasRaw = f.Payload, true
		case f.Num == tensorInt64 && f.Wire == wireVarint:
			c.i64 = append(c.i64, int64(f.Varint()))
		case f.Num == tensorInt64 && f.Wire == wireBytes:
			var ok bool
			if c.i64, ok = appendPacked(c.i64, f.Payload); !ok {
				return c, false
			}
		case f.Num == tensorFloat && f.Wire == wireI32:
			n++
		case f.Num == tensorFloat && f.Wire == wireBytes:
			n += len(f.Payload) / 4
		case f.Num == tensorExternal:
			return c, false
		}
	}
	c.count = 1
	for _, d := range c.dims {
		c.count *= int(d)
	}
	switch {
	case c.dt == Int64 && hasRaw:
		if len(raw) != 8*c.count {
			return c, false
		}
		c.i64 = nil
		for i := 0; i < len(raw); i += 8 {
			c.i64 = append(c.i64, int64(binary.LittleEndian.Uint64(raw[i:])))
		}
	case c.dt == Int64:
		if len(c.i64) != c.count {
			return c, false
		}
	case c.dt == Float && hasRaw:
		if len(raw) != 4*c.count {
			return c, false
		}
	case c.dt == Float:
		if n != c.count {
			return c, false
		}
	default:
		return c, false
	}
	return c, true
}
