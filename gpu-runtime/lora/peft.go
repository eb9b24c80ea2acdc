package lora

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/transcept/transcept/shared/lecture"
)

// PEFT is a Hugging Face PEFT LoRA adapter folder: adapter_config.json and
// adapter_model.safetensors, as PEFT's save_pretrained writes them.
type PEFT struct {
	Dir string
	// Rank and Alpha are the config's r and lora_alpha (per-module values
	// of rank_pattern and alpha_pattern are in Modules).
	Rank   int
	Alpha  float64
	RSLoRA bool // use_rslora: the scale is alpha/√r instead of alpha/r
	// Modules are the adapted linear layers, by name.
	Modules []PEFTModule
}

// PEFTModule is one adapted linear layer (torch layout: its weight W is
// [Out, In] and the adapter adds Scale·B·A to it).
type PEFTModule struct {
	// Name is the module path in the base model
	// ("model.encoder.layers.0.self_attn.q_proj"): the adapter's key
	// without PEFT's "base_model.model." prefix and ".lora_A.weight".
	Name          string
	Rank, In, Out int
	Scale         float64
	A             []float32 // [Rank, In]
	B             []float32 // [Out, Rank]
}

// peftConfig is what adapter_config.json says that matters for merging.
type peftConfig struct {
	PEFTType      string             `json:"peft_type"`
	R             int                `json:"r"`
	Alpha         float64            `json:"lora_alpha"`
	RSLoRA        bool               `json:"use_rslora"`
	DoRA          bool               `json:"use_dora"`
	FanInFanOut   bool               `json:"fan_in_fan_out"`
	Bias          string             `json:"bias"`
	AlphaPattern  map[string]float64 `json:"alpha_pattern"`
	ModulesToSave []string           `json:"modules_to_save"`
}

// ReadPEFT reads a PEFT LoRA adapter folder. Every problem is a lecture
// error naming the file: a missing file, a config that is not LoRA or asks
// for what a merge of linear layers cannot do (DoRA, fan_in_fan_out,
// trained biases, modules_to_save), tensors that are missing their pair or
// disagree on the rank.
func ReadPEFT(dir string) (*PEFT, error) {
	cfgPath := filepath.Join(dir, "adapter_config.json")
	raw, err := os.ReadFile(cfgPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, lecture.Errorf(lecture.ENOTFOUND, "PEFT adapter config %s does not exist (a PEFT adapter folder holds adapter_config.json and adapter_model.safetensors)", cfgPath)
	} else if err != nil {
		return nil, lecture.Wrap(lecture.EINVALID, err, "PEFT adapter config %s cannot be read", cfgPath)
	}
	var c peftConfig
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, lecture.Wrap(lecture.EINVALID, err, "PEFT adapter config %s is not valid JSON", cfgPath)
	}
	var probs []string
	if c.PEFTType != "" && c.PEFTType != "LORA" {
		probs = append(probs, fmt.Sprintf("peft_type is %q, not LORA", c.PEFTType))
	}
	if c.R <= 0 || c.Alpha <= 0 {
		probs = append(probs, fmt.Sprintf("r (%d) and lora_alpha (%g) must be positive", c.R, c.Alpha))
	}
	if c.DoRA {
		probs = append(probs, "use_dora is true (DoRA rescales each column; only plain LoRA merges here)")
	}
	if c.FanInFanOut {
		probs = append(probs, "fan_in_fan_out is true (Conv1D layers, not BART's linear layers)")
	}
	if c.Bias != "" && c.Bias != "none" {
		probs = append(probs, fmt.Sprintf("bias is %q (trained biases are not merged)", c.Bias))
	}
	if len(c.ModulesToSave) > 0 {
		probs = append(probs, fmt.Sprintf("modules_to_save %v (fully trained modules are not merged)", c.ModulesToSave))
	}
	if len(probs) > 0 {
		return nil, lecture.Errorf(lecture.EINVALID, "PEFT adapter %s cannot be merged: %s", cfgPath, strings.Join(probs, "; "))
	}
	type pattern struct {
		re    *regexp.Regexp
		alpha float64
	}
	var patterns []pattern
	for _, k := range slices.Sorted(maps.Keys(c.AlphaPattern)) {
		// PEFT matches a pattern key against the end of the module path.
		re, err := regexp.Compile(`^(.*\.)?` + k + `$`)
		if err != nil {
			return nil, lecture.Wrap(lecture.EINVALID, err, "PEFT adapter config %s: alpha_pattern key %q", cfgPath, k)
		}
		patterns = append(patterns, pattern{re, c.AlphaPattern[k]})
	}

	wPath := filepath.Join(dir, "adapter_model.safetensors")
	tensors, err := readSafetensors(wPath)
	if err != nil {
		return nil, err
	}
	p := &PEFT{Dir: dir, Rank: c.R, Alpha: c.Alpha, RSLoRA: c.RSLoRA}
	as, bs := map[string]safeTensor{}, map[string]safeTensor{}
	var other []string
	for _, t := range tensors {
		name := strings.TrimPrefix(t.name, "base_model.model.")
		module, which, ok := loraKey(name)
		switch {
		case !ok:
			other = append(other, t.name)
		case which == "A":
			as[module] = t
		default:
			bs[module] = t
		}
	}
	if len(other) > 0 {
		probs = append(probs, "tensors that are not linear LoRA pairs: "+strings.Join(capped(other, 4), ", "))
	}
	for _, module := range slices.Sorted(maps.Keys(as)) {
		a, b := as[module], bs[module]
		switch {
		case b.name == "":
			probs = append(probs, fmt.Sprintf("%q has no lora_B", a.name))
			continue
		case len(a.shape) != 2 || len(b.shape) != 2 || a.shape[0] != b.shape[1] || a.shape[0] <= 0:
			probs = append(probs, fmt.Sprintf("%q %v and %q %v are not [r, in] and [out, r]", a.name, a.shape, b.name, b.shape))
			continue
		}
		m := PEFTModule{Name: module, Rank: a.shape[0], In: a.shape[1], Out: b.shape[0], A: a.data, B: b.data}
		alpha := c.Alpha
		for _, pt := range patterns {
			if pt.re.MatchString(module) {
				alpha = pt.alpha
			}
		}
		if c.RSLoRA {
			m.Scale = alpha / math.Sqrt(float64(m.Rank))
		} else {
			m.Scale = alpha / float64(m.Rank)
		}
		p.Modules = append(p.Modules, m)
	}
	for module, b := range bs {
		if _, ok := as[module]; !ok {
			probs = append(probs, fmt.Sprintf("%q has no lora_A", b.name))
		}
	}
	if len(p.Modules) == 0 && len(probs) == 0 {
		probs = append(probs, "it holds no LoRA weights")
	}
	if len(probs) > 0 {
		slices.Sort(probs)
		return nil, lecture.Errorf(lecture.EINVALID, "PEFT adapter %s cannot be merged: %s", wPath, strings.Join(probs, "; "))
	}
	return p, nil
}

// loraKey splits "<module>.lora_A.weight" (or PEFT's in-memory
// "<module>.lora_A.<adapter name>.weight") into the module and A or B.
func loraKey(name string) (module, which string, ok bool) {
	for _, w := range []string{"A", "B"} {
		i := strings.LastIndex(name, ".lora_"+w+".")
		if i <= 0 || !strings.HasSuffix(name, ".weight") {
			continue
		}
		rest := name[i+len(".lora_"+w+"."):]
		if rest == "weight" || strings.Count(rest, ".") == 1 {
			return name[:i], w, true
		}
	}
	return "", "", false
}

// safeTensor is one tensor of a safetensors file, as float32.
type safeTensor struct {
	name  string
	shape []int
	data  []float32
}

// readSafetensors reads a safetensors file (an 8-byte little-endian header
// size, a JSON header of name → dtype, shape, data_offsets, then the data),
// converting F32, F16 and BF16 tensors to float32.
func readSafetensors(path string) ([]safeTensor, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, lecture.Errorf(lecture.ENOTFOUND, "PEFT adapter weights %s do not exist", path)
	} else if err != nil {
		return nil, lecture.Wrap(lecture.EINVALID, err, "PEFT adapter weights %s cannot be read", path)
	}
	corrupt := func(format string, args ...any) error {
		return lecture.Errorf(lecture.EINVALID, "PEFT adapter weights %s are not a safetensors file: %s", path, fmt.Sprintf(format, args...))
	}
	if len(b) < 8 {
		return nil, corrupt("%d bytes", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(len(b)-8) {
		return nil, corrupt("header of %d bytes in a file of %d", n, len(b))
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &header); err != nil {
		return nil, corrupt("header: %v", err)
	}
	data := b[8+n:]
	var out []safeTensor
	for _, name := range slices.Sorted(maps.Keys(header)) {
		if name == "__metadata__" {
			continue
		}
		var h struct {
			DType   string   `json:"dtype"`
			Shape   []int    `json:"shape"`
			Offsets []uint64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(header[name], &h); err != nil {
			return nil, corrupt("tensor %q: %v", name, err)
		}
		count := 1
		for _, d := range h.Shape {
			if d < 0 {
				return nil, corrupt("tensor %q has shape %v", name, h.Shape)
			}
			count *= d
		}
		size := map[string]int{"F32": 4, "F16": 2, "BF16": 2}[h.DType]
		if size == 0 {
			return nil, corrupt("tensor %q is %s (want F32, F16 or BF16)", name, h.DType)
		}
		if len(h.Offsets) != 2 || h.Offsets[0] > h.Offsets[1] || h.Offsets[1] > uint64(len(data)) || h.Offsets[1]-h.Offsets[0] != uint64(count*size) {
			return nil, corrupt("tensor %q: offsets %v for %d %s values in %d bytes of data", name, h.Offsets, count, h.DType, len(data))
		}
		raw := data[h.Offsets[0]:h.Offsets[1]]
		v := make([]float32, count)
		for i := range v {
			switch h.DType {
			case "F32":
				v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			case "F16":
				v[i] = float16(binary.LittleEndian.Uint16(raw[2*i:]))
			case "BF16":
				v[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*i:])) << 16)
			}
		}
		out = append(out, safeTensor{name: name, shape: h.Shape, data: v})
	}
	return out, nil
}

// float16 converts an IEEE half-precision value.
func float16(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := int(h>>10) & 0x1f
	frac := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f: // inf, NaN
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: frac·2^-24
		v := float32(frac) * float32(math.Ldexp(1, -24))
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | uint32(exp-15+127)<<23 | frac<<13)
}

// Adapter converts the PEFT adapter into an ONNX Runtime adapter for an
// export that carries LoRA inputs (as testmodels.WriteBARTLoRA and Olive
// write them): "<module>.lora_A.weight" [in, r] and "<module>.lora_B.weight"
// [r, out], the transposes of PEFT's matrices. Such a graph multiplies
// (x·A)·B by the scale it was exported with, graphScale; each module's own
// scale is folded into B as Scale/graphScale, so an adapter trained with
// another lora_alpha (or rank) still applies its own.
func (p *PEFT) Adapter(graphScale float64) *Adapter {
	a := &Adapter{AdapterVersion: 1}
	for _, m := range p.Modules {
		at := make([]float32, m.In*m.Rank)
		for k := range m.Rank {
			for i := range m.In {
				at[i*m.Rank+k] = m.A[k*m.In+i]
			}
		}
		bt := make([]float32, m.Rank*m.Out)
		f := m.Scale / graphScale
		for o := range m.Out {
			for k := range m.Rank {
				v := m.B[o*m.Rank+k]
				if f != 1 {
					v = float32(float64(v) * f)
				}
				bt[k*m.Out+o] = v
			}
		}
		a.Params = append(a.Params,
			Float32(m.Name+".lora_A.weight", []int64{int64(m.In), int64(m.Rank)}, at),
			Float32(m.Name+".lora_B.weight", []int64{int64(m.Rank), int64(m.Out)}, bt))
	}
	return a
}
