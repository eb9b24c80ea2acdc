package whisper

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/transcept/transcept/gpu-runtime/ort"
)

// A merged decoder runs its steps inside an If node on use_cache_branch,
// and every weight lives in the main graph, so each step hands the
// branch its ~200 weights as outer-scope values and builds a subgraph
// frame: on the q8 whisper-tiny-size folder 4.8 instead of 4.2 ms a step
// at one thread, an eighth of the step. splitDecoder writes the two
// branches as two models of their own instead, so that neither has an If:
//
//   - step: the with-past branch as the main graph, fed input_ids and
//     past_key_values.N.{decoder,encoder}.{key,value}, giving logits and
//     present.N.decoder.{key,value} (the cross-attention cache is only
//     read, never handed back). With empty decoder caches it also runs the
//     prompt: causal attention over the new positions, as the no-past
//     branch computes it (the same logits, bit for bit, on our folders).
//   - cross: the part of the no-past branch that projects
//     encoder_hidden_states to present.N.encoder.{key,value}, run once a
//     window; its weights are the only ones the step model lacks.
//
// Every other byte (the weights among them) is copied as it is, and each
// weight is in one of the two files only when one of them reads it. It
// returns "" paths when the model is not laid out so (one If on
// use_cache_branch, no external data, no other subgraphs; the main
// graph's other nodes, such as an fp16 model's input Casts, go with
// whichever part reads them): then the caller keeps the merged decoder.
func splitDecoder(path, dir string) (step, cross string, err error) {
	info, err := ort.Inspect(path)
	if err != nil || len(info.External) > 0 {
		return "", "", err
	}
	f, err := os.Open(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", "", err
	}
	m, err := readMerged(f, st.Size())
	if err != nil || m == nil {
		return "", "", err
	}
	var stepWant, crossWant []string // the model's outputs each gives
	for _, n := range m.outNames {
		if isEncoderPresent(n) {
			crossWant = append(crossWant, n)
		} else {
			stepWant = append(stepWant, n)
		}
	}
	if len(crossWant) == 0 || len(stepWant) == 0 {
		return "", "", nil
	}
	stepGraph, ok := m.extract(m.then, stepWant)
	if !ok {
		return "", "", nil
	}
	crossGraph, ok := m.extract(m.els, crossWant)
	if !ok {
		return "", "", nil
	}
	if step, err = m.write(f, dir, "whisper-decoder-step-*.onnx", stepGraph); err != nil {
		return "", "", err
	}
	if cross, err = m.write(f, dir, "whisper-decoder-cross-*.onnx", crossGraph); err != nil {
		os.Remove(step)
		return "", "", err
	}
	return step, cross, nil
}

// merged is a merged decoder's layout: the model's fields around the
// graph, the graph's inputs, outputs and initializers, and the If node's
// two branches.
type merged struct {
	top       []piece // the model's fields, graph excluded
	graphAt   int     // where the graph goes among them
	graphName []byte  // the graph's name field, raw
	inputs    []namedPiece
	outs      map[string][]byte // output name → its ValueInfo field, raw
	outNames  []string          // the outputs, in order
	inits     []namedPiece
	pre, post []branchNode // the main graph's other nodes, before and after the If
	outputs   []string     // the If's outputs
	then, els *branch
}

type namedPiece struct {
	name string
	p    piece
}

// branch is a GraphProto of the If: its nodes (decoded enough to follow
// names), its outputs and its own initializers.
type branch struct {
	nodes   []branchNode
	outputs []string
	inits   [][]byte // raw initializer fields
}

type branchNode struct {
	fields  [][]byte // raw fields, names excepted
	in, out []string
	op      string // the operator, when of the default domain
}

func readMerged(f *os.File, size int64) (*merged, error) {
	m := &merged{outs: map[string][]byte{}}
	var graph *pbField
	if err := pbWalk(f, 0, size, func(fl pbField) error {
		if fl.num == 7 && fl.wire == 2 && graph == nil {
			g := fl
			graph = &g
			m.graphAt = len(m.top)
			return nil
		}
		m.top = append(m.top, piece{off: fl.start, n: fl.end - fl.start})
		return nil
	}); err != nil || graph == nil {
		return nil, err
	}
	var ifNode []byte
	bad := false
	readName := func(fl pbField, num int) (string, error) {
		var name string
		err := pbWalk(f, fl.off, fl.end, func(x pbField) error {
			if x.num == num && x.wire == 2 && x.n < 1<<16 && name == "" {
				b := make([]byte, x.n)
				if _, err := f.ReadAt(b, x.off); err != nil {
					return err
				}
				name = string(b)
			}
			return nil
		})
		return name, err
	}
	raw := func(fl pbField) ([]byte, error) {
		b := make([]byte, fl.end-fl.start)
		_, err := f.ReadAt(b, fl.start)
		return b, err
	}
	if err := pbWalk(f, graph.off, graph.end, func(fl pbField) error {
		if fl.wire != 2 {
			return nil
		}
		switch fl.num {
		case 1: // node
			if fl.n > 1<<30 {
				bad = true
				return nil
			}
			b := make([]byte, fl.n)
			if _, err := f.ReadAt(b, fl.off); err != nil {
				return err
			}
			if isIf(b) {
				if ifNode != nil {
					bad = true
				}
				ifNode = b
				return nil
			}
			n, ok := readNode(b)
			switch {
			case !ok:
				bad = true
			case ifNode == nil:
				m.pre = append(m.pre, n)
			default:
				m.post = append(m.post, n)
			}
		case 2: // name
			b, err := raw(fl)
			m.graphName = b
			return err
		case 5: // initializer
			name, err := readName(fl, 8)
			if err != nil {
				return err
			}
			m.inits = append(m.inits, namedPiece{name, piece{off: fl.start, n: fl.end - fl.start}})
		case 11: // input
			name, err := readName(fl, 1)
			if err != nil {
				return err
			}
			b, err := raw(fl)
			m.inputs = append(m.inputs, namedPiece{name, piece{lit: b}})
			return err
		case 12: // output
			name, err := readName(fl, 1)
			if err != nil {
				return err
			}
			b, err := raw(fl)
			m.outs[name] = b
			m.outNames = append(m.outNames, name)
			return err
		case 15: // sparse_initializer
			bad = true
		}
		return nil
	}); err != nil || bad || ifNode == nil {
		return nil, err
	}
	fields, ok := splitPB(ifNode)
	if !ok {
		return nil, nil
	}
	for _, x := range fields { // an If on use_cache_branch (isIf)
		if s, ok := x.Str(2); ok {
			m.outputs = append(m.outputs, s)
		}
		if x.Bytes(5) {
			af, ok := splitPB(x.Payload)
			if !ok {
				return nil, nil
			}
			var name string
			var g []byte
			for _, a := range af {
				if s, ok := a.Str(1); ok {
					name = s
				}
				if a.Bytes(6) {
					g = a.Payload
				}
			}
			b := readBranch(g)
			switch name {
			case "then_branch":
				m.then = b
			case "else_branch":
				m.els = b
			}
		}
	}
	if m.then == nil || m.els == nil ||
		len(m.then.outputs) != len(m.outputs) || len(m.els.outputs) != len(m.outputs) {
		return nil, nil
	}
	return m, nil
}

// readBranch decodes a branch graph; nil when it is not one we can split
// (a node with a subgraph of its own, which may read any name).
func readBranch(g []byte) *branch {
	fields, ok := splitPB(g)
	if !ok || g == nil {
		return nil
	}
	b := &branch{}
	for _, f := range fields {
		switch {
		case f.Bytes(1):
			n, ok := readNode(f.Payload)
			if !ok {
				return nil
			}
			b.nodes = append(b.nodes, n)
		case f.Bytes(12):
			vf, ok := splitPB(f.Payload)
			if !ok {
				return nil
			}
			for _, v := range vf {
				if s, ok := v.Str(1); ok {
					b.outputs = append(b.outputs, s)
					break
				}
			}
		case f.Bytes(5):
			b.inits = append(b.inits, f.Raw)
		case f.Bytes(15):
			return nil
		}
	}
	return b
}

// isIf tells an If node on use_cache_branch (NodeProto bytes).
func isIf(node []byte) bool {
	fields, ok := splitPB(node)
	if !ok {
		return false
	}
	var op string
	var in []string
	for _, x := range fields {
		if s, ok := x.Str(4); ok {
			op = s
		}
		if s, ok := x.Str(1); ok {
			in = append(in, s)
		}
	}
	return op == "If" && len(in) == 1 && in[0] == "use_cache_branch"
}

// readNode decodes a NodeProto enough to follow its names; false for a
// node with a subgraph (which may read any name).
func readNode(node []byte) (branchNode, bool) {
	var n branchNode
	var domain string
	nf, ok := splitPB(node)
	if !ok {
		return n, false
	}
	for _, x := range nf {
		if s, ok := x.Str(1); ok {
			n.in = append(n.in, s)
			continue
		}
		if s, ok := x.Str(2); ok {
			n.out = append(n.out, s)
			continue
		}
		if x.Bytes(5) {
			af, ok := splitPB(x.Payload)
			if !ok {
				return n, false
			}
			for _, a := range af {
				if a.Bytes(6) || a.Bytes(11) {
					return n, false
				}
			}
		}
		if s, ok := x.Str(4); ok {
			n.op = s
		}
		if s, ok := x.Str(7); ok {
			domain = s
		}
		n.fields = append(n.fields, x.Raw)
	}
	if domain != "" && domain != "ai.onnx" {
		n.op = ""
	}
	return n, true
}

// graph is an extracted model's graph: literal fields and the
// initializers it reads from the file.
type graph struct {
	head  []byte  // nodes and the name
	inits []piece // from the file
	tail  []byte  // inputs and outputs
}

// extract is the main graph that gives the model's outputs want from
// branch b: b's nodes, their outputs that the If gives renamed to the If's
// names, and the main graph's other nodes, inputs and initializers, each
// only when a wanted output needs it.
func (m *merged) extract(b *branch, want []string) (*graph, bool) {
	if b == nil {
		return nil, false
	}
	made := map[string]bool{}
	for _, n := range b.nodes {
		for _, o := range n.out {
			made[o] = true
		}
	}
	// an output made by an Identity of a value a node makes (the
	// exporter's way of naming the self-attention caches) is that value,
	// renamed (graph outputs may be read by other nodes): the copy of the
	// whole cache on every step goes
	identityOf := map[string]string{} // Identity output → its input
	for _, n := range b.nodes {
		if len(n.in) == 1 && len(n.out) == 1 && n.op == "Identity" {
			identityOf[n.out[0]] = n.in[0]
		}
	}
	outs := map[string]int{}
	for _, bo := range b.outputs {
		outs[bo]++
	}
	drop := map[string]bool{} // Identity outputs whose node goes
	rename := map[string]string{}
	var pass []branchNode // an outer value (or one given twice) as an If output
	for k, bo := range b.outputs {
		mo := m.outputs[k]
		if made[bo] && rename[bo] == "" {
			if x := identityOf[bo]; x != "" && made[x] && outs[x] == 0 && outs[bo] == 1 && rename[x] == "" {
				rename[x], drop[bo] = mo, true
				continue
			}
			rename[bo] = mo
			continue
		}
		pass = append(pass, branchNode{in: []string{cmp.Or(rename[bo], bo)}, out: []string{mo},
			fields: [][]byte{protowire.AppendString(protowire.AppendTag(nil, 4, protowire.BytesType), "Identity")}})
	}
	// every node in an order that runs: the main graph's nodes before the
	// If, the branch's, the pass-throughs, the main graph's after the If
	var nodes []branchNode
	nodes = append(nodes, m.pre...)
	for _, n := range b.nodes {
		if len(n.out) == 1 && drop[n.out[0]] {
			continue
		}
		r := branchNode{fields: n.fields}
		for _, x := range n.in {
			r.in = append(r.in, cmp.Or(rename[x], x))
		}
		for _, x := range n.out {
			r.out = append(r.out, cmp.Or(rename[x], x))
		}
		nodes = append(nodes, r)
	}
	nodes = append(nodes, pass...)
	nodes = append(nodes, m.post...)
	maker := map[string]int{}
	for i, n := range nodes {
		for _, o := range n.out {
			if o != "" {
				maker[o] = i
			}
		}
	}
	keep := make([]bool, len(nodes))
	read := map[string]bool{}
	stack := slices.Clone(want)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n == "" || read[n] {
			continue
		}
		read[n] = true
		if i, ok := maker[n]; ok && !keep[i] {
			keep[i] = true
			stack = append(stack, nodes[i].in...)
		}
	}
	g := &graph{}
	for i, n := range nodes {
		if !keep[i] {
			continue
		}
		var nb []byte
		for _, s := range n.in {
			nb = protowire.AppendTag(nb, 1, protowire.BytesType)
			nb = protowire.AppendString(nb, s)
		}
		for _, s := range n.out {
			nb = protowire.AppendTag(nb, 2, protowire.BytesType)
			nb = protowire.AppendString(nb, s)
		}
		for _, x := range n.fields {
			nb = append(nb, x...)
		}
		g.head = protowire.AppendTag(g.head, 1, protowire.BytesType)
		g.head = protowire.AppendBytes(g.head, nb)
	}
	g.head = append(g.head, m.graphName...)
	for _, x := range b.inits {
		g.head = append(g.head, x...)
	}
	for _, in := range m.inits {
		if read[in.name] {
			g.inits = append(g.inits, in.p)
		}
	}
	for _, in := range m.inputs {
		if read[in.name] {
			g.tail = append(g.tail, in.p.lit...)
		}
	}
	for _, o := range want {
		v, ok := m.outs[o]
		if !ok {
			return nil, false
		}
		g.tail = append(g.tail, v...)
	}
	return g, true
}

// write writes the model with graph g in place of the merged graph to a
// new file in dir named by pattern, and returns its path.
func (m *merged) write(f *os.File, dir, pattern string, g *graph) (string, error) {
	glen := int64(len(g.head) + len(g.tail))
	for _, p := range g.inits {
		glen += p.size()
	}
	var hdr []byte
	hdr = protowire.AppendTag(hdr, 7, protowire.BytesType)
	hdr = protowire.AppendVarint(hdr, uint64(glen))
	var pieces []piece
	pieces = append(pieces, m.top[:m.graphAt]...)
	pieces = append(pieces, piece{lit: hdr}, piece{lit: g.head})
	pieces = append(pieces, g.inits...)
	pieces = append(pieces, piece{lit: g.tail})
	pieces = append(pieces, m.top[m.graphAt:]...)
	return writePieces(f, dir, pattern, pieces)
}

// splitDecoderFiles is splitDecoder's pair for path: temporary files (keep
// false: remove them once loaded), or, with an optimised-model cache
// folder, files kept there under names fixed by path, size and
// modification time, so that ONNX Runtime's cached copies of them stay
// valid across loads.
func splitDecoderFiles(path, cacheDir string) (step, cross string, keep bool, err error) {
	if cacheDir == "" {
		step, cross, err = splitDecoder(path, "")
		return step, cross, false, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", "", false, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", "", false, err
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%d\x00%d", abs, st.Size(), st.ModTime().UnixNano())
	stepName := filepath.Join(cacheDir, fmt.Sprintf("whisper-decoder-step-%016x.onnx", h.Sum64()))
	crossName := strings.Replace(stepName, "-step-", "-cross-", 1)
	if _, err := os.Stat(stepName); err == nil {
		if _, err := os.Stat(crossName); err == nil {
			return stepName, crossName, true, nil
		}
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", "", false, err
	}
	step, cross, err = splitDecoder(path, cacheDir)
	if err != nil || step == "" {
		return "", "", false, err
	}
	// the cross file first: a step file found alone is never taken
	for _, r := range [][2]string{{cross, crossName}, {step, stepName}} {
		if err := os.Rename(r[0], r[1]); err != nil {
			os.Remove(step)
			os.Remove(cross)
			return "", "", false, err
		}
	}
	return stepName, crossName, true, nil
}
