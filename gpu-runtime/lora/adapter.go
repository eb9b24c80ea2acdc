// Package lora reads, writes and checks ONNX Runtime LoRA adapter files
// (.onnx_adapter): a FlatBuffer with file identifier "TORT" whose schema is
// onnxruntime's adapter_schema.fbs (format version 1):
//
//	table Parameter { name:string; dims:[int64]; data_type:TensorDataType; raw_data:[uint8]; }
//	table Adapter   { format_version:int; adapter_version:int; model_version:int; parameters:[Parameter]; }
//
// ONNX Runtime feeds each parameter to the model input of the same name
// when the adapter is active for a run; the model declares those inputs
// with defaults (initializers), usually zero-rank, so it also runs without
// an adapter. Check compares an adapter with a model before ONNX Runtime
// does, so that an adapter made for another model is an error naming both
// files and what differs.
//
// An encoder-decoder model runs as several sessions and ONNX Runtime
// refuses an active adapter holding parameters a session does not declare:
// Split and Activate give each session its own share (PerSession).
//
// Hugging Face PEFT adapters (adapter_config.json +
// adapter_model.safetensors) are read by ReadPEFT; MergePEFT merges one into
// the weights of an export without LoRA inputs (a new folder), and
// PEFT.Adapter converts one into an adapter file for an export with them.
package lora

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/shared/lecture"
)

// FormatVersion is the adapter format version written and read.
const FormatVersion = 1

// Param is one named tensor of an adapter. DataType uses ONNX's numbering
// (the schema's TensorDataType is the same); Raw holds the little-endian
// elements.
type Param struct {
	Name     string
	Dims     []int64
	DataType onnxpb.DataType
	Raw      []byte
}

// Float32 makes a float32 parameter.
func Float32(name string, dims []int64, data []float32) Param {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return Param{Name: name, Dims: slices.Clone(dims), DataType: onnxpb.Float, Raw: raw}
}

// Adapter is an adapter file's contents.
type Adapter struct {
	AdapterVersion, ModelVersion int32
	Params                       []Param
}

// Marshal encodes the adapter as an .onnx_adapter FlatBuffer. It is laid out
// front to back (every offset points forward), with int64 dimensions and raw
// data 8-byte aligned, which the FlatBuffers verifier accepts.
func (a *Adapter) Marshal() ([]byte, error) {
	for _, p := range a.Params {
		n := int64(1)
		for _, d := range p.Dims {
			n *= d
		}
		if size := elemSize(p.DataType); size > 0 && int64(len(p.Raw)) != n*int64(size) {
			return nil, fmt.Errorf("parameter %q: %d bytes for shape %v of %s", p.Name, len(p.Raw), p.Dims, p.DataType)
		}
	}
	w := &writer{}
	w.u32(0) // root offset, patched below
	w.b = append(w.b, "TORT"...)
	// Adapter: vtable, then the table (4 fields of 4 bytes after the soffset).
	vt := w.vtable(4)
	table := w.len()
	w.binaryPatch(0, uint32(table))
	w.i32(int32(table - vt))
	w.i32(FormatVersion)
	w.i32(a.AdapterVersion)
	w.i32(a.ModelVersion)
	paramsRef := w.ref()
	// parameters vector: count, then one forward offset per table.
	w.patchRef(paramsRef)
	w.u32(uint32(len(a.Params)))
	refs := make([]int, len(a.Params))
	for i := range a.Params {
		refs[i] = w.ref()
	}
	for i, p := range a.Params {
		w.align(4, 0)
		vt := w.vtable(4)
		table := w.len()
		w.patchRef(refs[i])
		w.i32(int32(table - vt))
		name, dims := w.ref(), w.ref()
		w.i32(int32(p.DataType))
		raw := w.ref()

		w.align(4, 0)
		w.patchRef(name)
		w.u32(uint32(len(p.Name)))
		w.b = append(w.b, p.Name...)
		w.b = append(w.b, 0)

		w.align(8, 4)
		w.patchRef(dims)
		w.u32(uint32(len(p.Dims)))
		for _, d := range p.Dims {
			w.b = binary.LittleEndian.AppendUint64(w.b, uint64(d))
		}

		w.align(8, 4)
		w.patchRef(raw)
		w.u32(uint32(len(p.Raw)))
		w.b = append(w.b, p.Raw...)
	}
	w.align(8, 0)
	return w.b, nil
}

// WriteFile writes the adapter to path.
func (a *Adapter) WriteFile(path string) error {
	b, err := a.Marshal()
	if err != nil {
		return fmt.Errorf("LoRA adapter %s: %w", path, err)
	}
	return os.WriteFile(path, b, 0o644)
}

type writer struct{ b []byte }

func (w *writer) len() int                     { return len(w.b) }
func (w *writer) u32(v uint32)                 { w.b = binary.LittleEndian.AppendUint32(w.b, v) }
func (w *writer) i32(v int32)                  { w.u32(uint32(v)) }
func (w *writer) binaryPatch(at int, v uint32) { binary.LittleEndian.PutUint32(w.b[at:], v) }

// align pads so that the length plus extra is a multiple of n.
func (w *writer) align(n, extra int) {
	for (len(w.b)+extra)%n != 0 {
		w.b = append(w.b, 0)
	}
}

// vtable writes a vtable for a table of fields 4-byte fields that follows
// it directly (aligned to 4), and returns its position.
func (w *writer) vtable(fields int) int {
	size := 4 + 2*fields
	w.align(4, size)
	at := len(w.b)
	w.b = binary.LittleEndian.AppendUint16(w.b, uint16(size))
	w.b = binary.LittleEndian.AppendUint16(w.b, uint16(4+4*fields))
	for i := range fields {
		w.b = binary.LittleEndian.AppendUint16(w.b, uint16(4+4*i))
	}
	return at
}

// ref reserves a forward offset and returns where it is.
func (w *writer) ref() int {
	at := len(w.b)
	w.u32(0)
	return at
}

// patchRef points the offset at ref to the current end.
func (w *writer) patchRef(ref int) { w.binaryPatch(ref, uint32(len(w.b)-ref)) }

func elemSize(t onnxpb.DataType) int {
	switch t {
	case onnxpb.Float, onnxpb.Int32, onnxpb.Uint32:
		return 4
	case onnxpb.Double, onnxpb.Int64, onnxpb.Uint64:
		return 8
	case onnxpb.Float16, onnxpb.BFloat16, onnxpb.Int16, onnxpb.Uint16:
		return 2
	case onnxpb.Uint8, onnxpb.Int8, onnxpb.Bool:
		return 1
	}
	return 0
}

var errFormat = errors.New("not an ONNX Runtime adapter file (format version 1)")

// Unmarshal decodes an .onnx_adapter FlatBuffer, checking every offset.
func Unmarshal(b []byte) (*Adapter, error) {
	r := reader(b)
	if len(b) < 8 || string(b[4:8]) != "TORT" {
		return nil, fmt.Errorf("%w: no TORT identifier", errFormat)
	}
	root, err := r.deref(0)
	if err != nil {
		return nil, err
	}
	t, err := r.table(root)
	if err != nil {
		return nil, err
	}
	a := &Adapter{}
	version, _ := t.i32(0)
	if version != FormatVersion {
		return nil, fmt.Errorf("%w: format version %d", errFormat, version)
	}
	a.AdapterVersion, _ = t.i32(1)
	a.ModelVersion, _ = t.i32(2)
	vec, ok, err := t.ref(3)
	if err != nil || !ok {
		return nil, fmt.Errorf("%w: no parameters", errFormat)
	}
	n, err := r.u32(vec)
	if err != nil {
		return nil, err
	}
	for i := range int(n) {
		at, err := r.deref(vec + 4 + 4*i)
		if err != nil {
			return nil, err
		}
		pt, err := r.table(at)
		if err != nil {
			return nil, err
		}
		var p Param
		if s, ok, err := pt.ref(0); err != nil {
			return nil, err
		} else if ok {
			name, err := r.bytes(s, 1)
			if err != nil {
				return nil, err
			}
			p.Name = string(name)
		}
		if d, ok, err := pt.ref(1); err != nil {
			return nil, err
		} else if ok {
			raw, err := r.bytes(d, 8)
			if err != nil {
				return nil, err
			}
			for j := 0; j+8 <= len(raw); j += 8 {
				p.Dims = append(p.Dims, int64(binary.LittleEndian.Uint64(raw[j:])))
			}
		}
		dt, _ := pt.i32(2)
		p.DataType = onnxpb.DataType(dt)
		if d, ok, err := pt.ref(3); err != nil {
			return nil, err
		} else if ok {
			if p.Raw, err = r.bytes(d, 1); err != nil {
				return nil, err
			}
		}
		a.Params = append(a.Params, p)
	}
	return a, nil
}

// ReadFile reads and decodes an adapter file; errors name it.
func ReadFile(path string) (*Adapter, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, lecture.Errorf(lecture.ENOTFOUND, "LoRA adapter file %s does not exist", path)
	} else if err != nil {
		return nil, lecture.Wrap(lecture.EINVALID, err, "LoRA adapter file %s cannot be read", path)
	}
	a, err := Unmarshal(b)
	if err != nil {
		return nil, lecture.Wrap(lecture.EINVALID, err, "LoRA adapter file %s is corrupt", path)
	}
	return a, nil
}

type reader []byte

func (r reader) u32(at int) (uint32, error) {
	if at < 0 || at+4 > len(r) {
		return 0, fmt.Errorf("%w: offset %d out of range", errFormat, at)
	}
	return binary.LittleEndian.Uint32(r[at:]), nil
}

func (r reader) deref(at int) (int, error) {
	v, err := r.u32(at)
	if err != nil {
		return 0, err
	}
	return at + int(v), nil
}

// bytes is a vector's contents (count elements of size each).
func (r reader) bytes(at, size int) ([]byte, error) {
	n, err := r.u32(at)
	if err != nil {
		return nil, err
	}
	end := at + 4 + int(n)*size
	if end > len(r) || end < at {
		return nil, fmt.Errorf("%w: vector at %d runs past the end", errFormat, at)
	}
	return r[at+4 : end], nil
}

type table struct {
	r      reader
	at     int
	fields []uint16
}

func (r reader) table(at int) (table, error) {
	so, err := r.u32(at)
	if err != nil {
		return table{}, err
	}
	vt := at - int(int32(so))
	if vt < 0 || vt+4 > len(r) {
		return table{}, fmt.Errorf("%w: vtable out of range", errFormat)
	}
	size := int(binary.LittleEndian.Uint16(r[vt:]))
	if size < 4 || vt+size > len(r) {
		return table{}, fmt.Errorf("%w: vtable out of range", errFormat)
	}
	t := table{r: r, at: at}
	for i := vt + 4; i+2 <= vt+size; i += 2 {
		t.fields = append(t.fields, binary.LittleEndian.Uint16(r[i:]))
	}
	return t, nil
}

func (t table) field(i int) (int, bool) {
	if i >= len(t.fields) || t.fields[i] == 0 {
		return 0, false
	}
	return t.at + int(t.fields[i]), true
}

func (t table) i32(i int) (int32, bool) {
	at, ok := t.field(i)
	if !ok {
		return 0, false
	}
	v, err := t.r.u32(at)
	return int32(v), err == nil
}

func (t table) ref(i int) (int, bool, error) {
	at, ok := t.field(i)
	if !ok {
		return 0, false, nil
	}
	to, err := t.r.deref(at)
	return to, true, err
}

// Check reports, in one lecture.EINVALID error naming the adapter and the
// model, every parameter that is not an input of the model with a default
// (an overridable initializer), or whose element type or shape differs from
// the input's declaration.
func Check(adapterPath string, a *Adapter, info *onnxpb.Info) error {
	inits := map[string]bool{}
	for _, n := range info.Initializers {
		inits[n] = true
	}
	var loraInputs []string
	for _, in := range info.Inputs {
		if inits[in.Name] {
			loraInputs = append(loraInputs, in.Name)
		}
	}
	var probs []string
	for _, p := range a.Params {
		in, ok := info.Input(p.Name)
		switch {
		case !ok:
			probs = append(probs, fmt.Sprintf("the model has no input %q", p.Name))
			continue
		case !inits[p.Name]:
			probs = append(probs, fmt.Sprintf("input %q has no default, so it is not an adapter weight", p.Name))
		}
		probs = append(probs, fitProblems(p, in)...)
	}
	if len(probs) > 0 {
		have := "none"
		if len(loraInputs) > 0 {
			have = strings.Join(loraInputs, ", ")
		}
		return lecture.Errorf(lecture.EINVALID, "LoRA adapter %s does not fit model %s (an adapter for another model?): %s; the model's inputs with defaults are %s",
			adapterPath, info.Path, strings.Join(probs, "; "), have)
	}
	return nil
}

// fitProblems says how parameter p differs from the model input in
// (element type, shape; a dimension the model leaves open takes any size).
func fitProblems(p Param, in onnxpb.ValueInfo) []string {
	var probs []string
	if in.ElemType != p.DataType {
		probs = append(probs, fmt.Sprintf("%q is %s in the adapter, %s in the model", p.Name, p.DataType, in.ElemType))
	}
	if len(in.Shape) > 0 && !fits(p.Dims, in.Shape) {
		probs = append(probs, fmt.Sprintf("%q has shape %v in the adapter, %v in the model", p.Name, p.Dims, in.Shape))
	}
	return probs
}

func fits(dims []int64, shape []onnxpb.Dim) bool {
	if len(dims) != len(shape) {
		return false
	}
	for i, d := range shape {
		if d.Value > 0 && d.Value != dims[i] {
			return false
		}
	}
	return true
}

// Load reads the adapter at path, checks it against the session's model
// (Check) and loads it into ONNX Runtime, ready for ort.NewRunOptions.
func Load(path string, s *ort.Session) (*ort.Adapter, error) {
	a, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := Check(path, a, s.Info()); err != nil {
		return nil, err
	}
	return ort.LoadAdapter(path)
}
