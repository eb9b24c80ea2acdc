package lora

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/shared/lecture"
)

// Split divides an adapter among the model files of one model (an
// encoder-decoder export has an encoder and one or two decoders, each its
// own ONNX Runtime session). ONNX Runtime refuses an active adapter holding
// a parameter that is not an input of the session it runs, so each session
// must be given only its own share: part i holds the parameters models[i]
// declares as inputs with defaults (a parameter several models declare
// goes to each; a nil model gets a nil part, as does a model that takes
// none).
//
// Every problem is reported in one lecture.EINVALID error naming the
// adapter file and the model files (an adapter made for another model): a
// parameter that no model declares, one that does not fit the input it
// meets (element type, shape: Check), a LoRA pair whose lora_A and lora_B
// disagree on the rank or lack their other half, an adapter without
// parameters.
func Split(adapterPath string, a *Adapter, models ...*onnxpb.Info) ([]*Adapter, error) {
	var files []string
	for _, m := range models {
		if m != nil {
			files = append(files, m.Path)
		}
	}
	fail := func(probs []string) error {
		return lecture.Errorf(lecture.EINVALID, "LoRA adapter %s does not fit model %s (an adapter for another model?): %s",
			adapterPath, strings.Join(files, ", "), strings.Join(probs, "; "))
	}
	if len(a.Params) == 0 {
		return nil, fail([]string{"the adapter holds no parameters"})
	}
	probs := capped(pairProblems(a), 4)
	parts := make([]*Adapter, len(models))
	var missing []string
	for _, p := range a.Params {
		taken := false
		for i, m := range models {
			if m == nil || !declares(m, p.Name) {
				continue
			}
			taken = true
			if parts[i] == nil {
				parts[i] = &Adapter{AdapterVersion: a.AdapterVersion, ModelVersion: a.ModelVersion}
			}
			parts[i].Params = append(parts[i].Params, p)
		}
		if !taken {
			missing = append(missing, fmt.Sprintf("%q", p.Name))
		}
	}
	if len(missing) > 0 {
		probs = append(probs, "no model file has an input "+strings.Join(capped(missing, 4), ", "))
		if !slices.ContainsFunc(models, hasDefaults) {
			probs = append(probs, "the model files declare no inputs with defaults at all (an export without LoRA inputs)")
		}
	}
	for i, part := range parts {
		var fit []string
		for _, p := range part.params() {
			in, _ := models[i].Input(p.Name)
			fit = append(fit, fitProblems(p, in)...)
		}
		if len(fit) > 0 {
			probs = append(probs, models[i].Path+": "+strings.Join(capped(fit, 3), "; "))
		}
	}
	if len(probs) > 0 {
		return nil, fail(probs)
	}
	return parts, nil
}

// hasDefaults says whether m has any input with a default.
func hasDefaults(m *onnxpb.Info) bool {
	return m != nil && slices.ContainsFunc(m.Inputs, func(in onnxpb.ValueInfo) bool { return declares(m, in.Name) })
}

// declares says whether m has name as an input with a default.
func declares(m *onnxpb.Info, name string) bool {
	if _, ok := m.Input(name); !ok {
		return false
	}
	return slices.Contains(m.Initializers, name)
}

// capped keeps the first n items of a long list, saying how many there are
// (a real model's adapter has hundreds of parameters).
func capped(items []string, n int) []string {
	if len(items) <= n {
		return items
	}
	return append(items[:n:n], fmt.Sprintf("… (%d in all)", len(items)))
}

func (a *Adapter) params() []Param {
	if a == nil {
		return nil
	}
	return a.Params
}

// pairProblems checks the LoRA pairs by their names (x.lora_A.y with
// x.lora_B.y): both present, lora_A's last dimension equal to lora_B's
// first (the rank). ONNX Runtime would otherwise fail inside a MatMul at the
// first request.
func pairProblems(a *Adapter) []string {
	byName := map[string]Param{}
	for _, p := range a.Params {
		byName[p.Name] = p
	}
	var probs []string
	for _, p := range a.Params {
		if i := strings.LastIndex(p.Name, "lora_A"); i >= 0 {
			other := p.Name[:i] + "lora_B" + p.Name[i+len("lora_A"):]
			q, ok := byName[other]
			switch {
			case !ok:
				probs = append(probs, fmt.Sprintf("%q has no %q", p.Name, other))
			case len(p.Dims) == 2 && len(q.Dims) == 2 && p.Dims[1] != q.Dims[0]:
				probs = append(probs, fmt.Sprintf("%q has rank %d, %q rank %d", p.Name, p.Dims[1], other, q.Dims[0]))
			}
		} else if i := strings.LastIndex(p.Name, "lora_B"); i >= 0 {
			other := p.Name[:i] + "lora_A" + p.Name[i+len("lora_B"):]
			if _, ok := byName[other]; !ok {
				probs = append(probs, fmt.Sprintf("%q has no %q", p.Name, other))
			}
		}
	}
	return probs
}

// PerSession is one adapter split over a model's sessions (Split) and
// loaded into ONNX Runtime: RunOptions(i) activates session i's share. It
// is loaded once and safe for concurrent runs.
type PerSession struct {
	path     string
	adapters []*ort.Adapter
	run      []*ort.RunOptions
	parts    []*Adapter
}

// Activate splits the adapter a, read from path, over the sessions (nil
// ones are skipped) and loads each share into ONNX Runtime.
func Activate(path string, a *Adapter, sessions ...*ort.Session) (*PerSession, error) {
	infos := make([]*onnxpb.Info, len(sessions))
	for i, s := range sessions {
		if s != nil {
			infos[i] = s.Info()
		}
	}
	parts, err := Split(path, a, infos...)
	if err != nil {
		return nil, err
	}
	ps := &PerSession{path: path, parts: parts, adapters: make([]*ort.Adapter, len(parts)), run: make([]*ort.RunOptions, len(parts))}
	for i, part := range parts {
		if part == nil {
			continue
		}
		if ps.adapters[i], err = loadPart(path, part, sessions[i].Path()); err == nil {
			ps.run[i], err = ort.NewRunOptions(ps.adapters[i])
		}
		if err != nil {
			ps.Close()
			return nil, err
		}
	}
	return ps, nil
}

// LoadPerSession reads the adapter file at path and activates it over the
// sessions (Activate).
func LoadPerSession(path string, sessions ...*ort.Session) (*PerSession, error) {
	a, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Activate(path, a, sessions...)
}

// loadPart hands one share to ONNX Runtime through a private temporary
// file, removed once loaded (ONNX Runtime reads the whole file at load).
func loadPart(path string, part *Adapter, model string) (*ort.Adapter, error) {
	b, err := part.Marshal()
	if err != nil {
		return nil, lecture.Wrap(lecture.EINVALID, err, "LoRA adapter %s, share of model %s", path, model)
	}
	f, err := os.CreateTemp("", "transcept-lora-*.onnx_adapter")
	if err != nil {
		return nil, lecture.Wrap(lecture.EUNAVAILABLE, err, "LoRA adapter %s: no temporary file for the share of model %s", path, model)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, lecture.Wrap(lecture.EUNAVAILABLE, err, "LoRA adapter %s: writing the share of model %s", path, model)
	}
	ad, err := ort.LoadAdapter(f.Name())
	if err != nil {
		return nil, lecture.Wrap(lecture.ErrorCode(err), err, "LoRA adapter %s, share of model %s: %s", path, model, lecture.ErrorMessage(err))
	}
	return ad, nil
}

// Path is the adapter file.
func (p *PerSession) Path() string { return p.path }

// RunOptions activates session i's share of the adapter; nil when that
// session takes none of it (or i is out of range).
func (p *PerSession) RunOptions(i int) *ort.RunOptions {
	if p == nil || i < 0 || i >= len(p.run) {
		return nil
	}
	return p.run[i]
}

// Part is session i's share of the adapter (nil when it takes none).
func (p *PerSession) Part(i int) *Adapter {
	if p == nil || i < 0 || i >= len(p.parts) {
		return nil
	}
	return p.parts[i]
}

// Close frees the run options and the loaded shares.
func (p *PerSession) Close() error {
	if p == nil {
		return nil
	}
	var errs []error
	for i := range p.run {
		errs = append(errs, p.run[i].Close(), p.adapters[i].Close())
		p.run[i], p.adapters[i] = nil, nil
	}
	return errors.Join(errs...)
}
