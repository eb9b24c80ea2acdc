package testmodels

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/transcept/transcept/gpu-runtime/lora"
	pb "github.com/transcept/transcept/gpu-runtime/onnxpb"
)

// LoRA sizes the low-rank adapters of a BART test folder (WriteBARTLoRA).
type LoRA struct {
	// Rank is r: A is [in, r] and B [r, out] for a projection W [in, out].
	Rank int
	// Alpha is PEFT's lora_alpha: the graph scales (x·A)·B by Alpha/Rank.
	// 0 means 2·Rank.
	Alpha float64
	// Targets name the adapted projections as PEFT's target_modules do
	// ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"): each is
	// adapted in every layer, in encoder self-attention, decoder
	// self-attention and decoder cross-attention (encoder_attn). nil means
	// DefaultLoRATargets.
	Targets []string
	// Seed draws A and B (the base weights come from Config.Seed).
	Seed uint64
}

// DefaultLoRATargets are PEFT's default target modules for BART.
var DefaultLoRATargets = []string{"q_proj", "v_proj"}

// TinyLoRA is a rank-4 adapter on q_proj and v_proj.
func TinyLoRA() LoRA { return LoRA{Rank: 4, Seed: 7} }

// Scale is Alpha/Rank as the graph multiplies it (float32).
func (l LoRA) Scale() float32 {
	alpha := l.Alpha
	if alpha == 0 {
		alpha = 2 * float64(l.Rank)
	}
	return float32(alpha / float64(l.Rank))
}

// LoRAParamNames are the model inputs (and adapter parameters) of module's
// LoRA matrices, named as ONNX Runtime's adapter tooling (Olive's
// ExtractAdapters) names them: "<module>.lora_A.weight" [in, lora_r] and
// "<module>.lora_B.weight" [lora_r, out], module being the Hugging Face
// module path ("model.encoder.layers.0.self_attn.q_proj").
func LoRAParamNames(module string) (a, b string) {
	return module + ".lora_A.weight", module + ".lora_B.weight"
}

// loraGraph puts LoRA on the linear layers it holds: the builder's linear
// adds scale·(x·A)·B, A and B being graph inputs of the outer graph whose
// defaults have rank 0 (so without an adapter the graph is the base model).
type loraGraph struct {
	scale float32
	dims  map[string][2]int64 // adapted module → [in, out]
}

func (l *loraGraph) delta(b *builder, x, y, module string) string {
	d, ok := l.dims[module]
	if !ok {
		return y
	}
	an, bn := LoRAParamNames(module)
	a := loraInput(b, an, pb.D(d[0], "lora_r"), []int64{d[0], 0})
	bm := loraInput(b, bn, pb.D("lora_r", d[1]), []int64{0, d[1]})
	xab := b.op("MatMul", []string{b.op("MatMul", []string{x, a}), bm})
	return b.op("Add", []string{y, b.op("Mul", []string{xab, b.f32(l.scale)})})
}

// loraInput declares name as an input of the outer graph with an empty
// (rank-0) default, once.
func loraInput(b *builder, name string, shape []pb.Dim, empty []int64) string {
	if !b.have[name] {
		b.have[name] = true
		b.consts.Inputs = append(b.consts.Inputs, pb.ValueInfo{Name: name, ElemType: pb.Float, Shape: shape})
		b.consts.Initializers = append(b.consts.Initializers, pb.Tensor{Name: name, DataType: pb.Float, Dims: empty, Raw: []byte{}})
	}
	return name
}

// loraModule is one adapted projection with its matrices.
type loraModule struct {
	name    string
	in, out int64
	a, b    []float32 // [in, r], [r, out]
}

// loraModules draws A and B for every targeted projection of ws, in the
// order of ws.
func loraModules(ws []pb.Tensor, l LoRA) ([]loraModule, error) {
	targets := l.Targets
	if targets == nil {
		targets = DefaultLoRATargets
	}
	known := []string{"q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"}
	for _, t := range targets {
		if !slices.Contains(known, t) {
			return nil, fmt.Errorf("testmodels: LoRA target %q is none of %v", t, known)
		}
	}
	if l.Rank <= 0 {
		return nil, fmt.Errorf("testmodels: LoRA rank %d, want > 0", l.Rank)
	}
	ps := NewParams(l.Seed, 0x10ba)
	var out []loraModule
	r := int64(l.Rank)
	for _, w := range ws {
		module, ok := strings.CutSuffix(w.Name, ".weight")
		if !ok || len(w.Dims) != 2 || !strings.Contains(module, ".layers.") {
			continue
		}
		if !slices.Contains(targets, module[strings.LastIndex(module, ".")+1:]) {
			continue
		}
		an, bn := LoRAParamNames(module)
		in, o := w.Dims[0], w.Dims[1]
		ps.Add(an, 1/math.Sqrt(float64(in)), 0, in, r)
		ps.Add(bn, 0.5/math.Sqrt(float64(r)), 0, r, o)
		n := len(ps.Tensors)
		out = append(out, loraModule{name: module, in: in, out: o, a: ps.Tensors[n-2].Float32, b: ps.Tensors[n-1].Float32})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("testmodels: no projection matches LoRA targets %v", targets)
	}
	return out, nil
}

// mergeLoRA is ws with every adapted W replaced by W + scale·A·B (the
// inputs are not changed).
func mergeLoRA(ws []pb.Tensor, mods []loraModule, scale float32, rank int) []pb.Tensor {
	byName := map[string]loraModule{}
	for _, m := range mods {
		byName[m.name+".weight"] = m
	}
	out := slices.Clone(ws)
	for i, w := range out {
		m, ok := byName[w.Name]
		if !ok {
			continue
		}
		v := slices.Clone(w.Float32)
		for r := range m.in {
			for c := range m.out {
				var s float64
				for k := range int64(rank) {
					s += float64(m.a[r*int64(rank)+k]) * float64(m.b[k*m.out+c])
				}
				v[r*m.out+c] = float32(float64(v[r*m.out+c]) + float64(scale)*s)
			}
		}
		out[i].Float32 = v
	}
	return out
}

// WriteBARTLoRA writes, from one draw of random matrices:
//
//   - dir: the BART folder of c whose targeted projections compute
//     x·W + scale·(x·A)·B + bias, with A and B model inputs
//     (LoRAParamNames) whose defaults have rank 0, so that without an
//     adapter the folder is the base model;
//   - adapter: the .onnx_adapter file holding every A and B (the
//     encoder's and the decoder's together, as adapter tooling writes
//     them);
//   - merged (skipped when ""): the plain folder of c whose weights are
//     W + scale·A·B, which the adapted folder must equal.
//
// The base weights are WriteBART's for c; A and B come from l.Seed.
func WriteBARTLoRA(dir, adapter, merged string, c Config, l LoRA) error {
	if err := c.writeFiles(dir); err != nil {
		return err
	}
	ws := weights(&c)
	mods, err := loraModules(ws, l)
	if err != nil {
		return err
	}
	lg := &loraGraph{scale: l.Scale(), dims: map[string][2]int64{}}
	ad := &lora.Adapter{AdapterVersion: 1}
	for _, m := range mods {
		lg.dims[m.name] = [2]int64{m.in, m.out}
		an, bn := LoRAParamNames(m.name)
		ad.Params = append(ad.Params,
			lora.Float32(an, []int64{m.in, int64(l.Rank)}, m.a),
			lora.Float32(bn, []int64{int64(l.Rank), m.out}, m.b))
	}
	if err := c.writeModels(dir, ws, lg); err != nil {
		return err
	}
	if err := ad.WriteFile(adapter); err != nil {
		return err
	}
	if merged == "" {
		return nil
	}
	if err := c.writeFiles(merged); err != nil {
		return err
	}
	return c.writeModels(merged, mergeLoRA(ws, mods, l.Scale(), l.Rank), nil)
}
