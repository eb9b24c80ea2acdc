//go:build cgo

package ort

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	ortgo "github.com/yalue/onnxruntime_go"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/shared/lecture"
)

// Available reports whether this build can run ONNX Runtime (it has cgo).
const Available = true

var (
	initOnce sync.Once
	initRT   Runtime
	initErr  error
)

// Init finds and loads the ONNX Runtime library, once per process; later
// calls return the first call's result. A missing or unloadable library is a
// lecture.EUNAVAILABLE error saying how to get one.
func Init() (Runtime, error) {
	initOnce.Do(func() {
		path, err := FindLibrary()
		if err != nil {
			initErr = err
			return
		}
		ortgo.SetSharedLibraryPath(path)
		if err := ortgo.InitializeEnvironment(ortgo.WithLogLevelError()); err != nil {
			initErr = lecture.Wrap(lecture.EUNAVAILABLE, err,
				"ONNX Runtime library %s does not load (it must be ONNX Runtime ≥ %s for linux-x64); %s", path, MinVersion, howToGet())
			return
		}
		initRT = Runtime{Version: ortgo.GetVersion(), Library: path}
		slog.Info("onnxruntime loaded", "version", initRT.Version, "library", path)
	})
	return initRT, initErr
}

// Session is a loaded model ready to run. It is safe for concurrent Run
// calls (ONNX Runtime sessions are).
type Session struct {
	path     string
	info     *ModelInfo
	inputs   []string
	outputs  []string
	s        *ortgo.DynamicAdvancedSession
	provider Provider
	fallback string
	mapped   []byte       // the memory-mapped cache file the session runs from, or nil
	int8     *int8Source  // while loading: the int8-weight rewrite to build from, or nil
	int8MMI  int          // MatMulInteger nodes running on int8 weights (Options.Int8Weights)
	runs     atomic.Int64 // Run calls so far
	runNanos atomic.Int64 // time spent inside them
}

// NewSession loads the .onnx file at path. Its inputs are checked first
// (Inspect), so a missing or corrupt file fails fast with an error naming it.
func NewSession(path string, o Options) (*Session, error) {
	if _, err := Init(); err != nil {
		return nil, err
	}
	info, err := Inspect(path)
	if err != nil {
		return nil, err
	}
	inputs, outputs := o.InputNames, o.OutputNames
	if inputs == nil {
		for _, v := range info.RequiredInputs() {
			inputs = append(inputs, v.Name)
		}
	}
	if outputs == nil {
		for _, v := range info.Outputs {
			outputs = append(outputs, v.Name)
		}
	}
	want := Expect{Inputs: map[string]onnxpb.DataType{}, Outputs: map[string]onnxpb.DataType{}}
	for _, n := range inputs {
		want.Inputs[n] = 0
	}
	for _, n := range outputs {
		want.Outputs[n] = 0
	}
	if err := want.Check(info); err != nil {
		return nil, err
	}

	log := o.logger().With("model", path, "intra_op_threads", o.IntraOpThreads, "inter_op_threads", o.InterOpThreads,
		"optimization", o.Optimization.String())
	t0 := time.Now()
	if _, err := ParseInt8Weights(o.Int8Weights); err != nil {
		return nil, lecture.Wrap(lecture.EINVALID, err, "onnxruntime options for %s", path)
	}
	sess := &Session{path: path, info: info, inputs: inputs, outputs: outputs, provider: ProviderCPU}
	if sess.int8, err = int8Rewrite(path, info, &o); err != nil {
		log.Warn("model loads with its uint8 weights as they are", "err", err)
	}
	defer func() { sess.int8.close(); sess.int8 = nil }()
	if o.OptimizedCacheDir != "" && !o.CUDA {
		if err := sess.openCached(&o, log); err != nil {
			return nil, err
		}
	} else {
		so, err := sessionOptions(&o, path, nil)
		if err != nil {
			return nil, err
		}
		defer so.Destroy()
		if o.CUDA {
			if err := appendCUDA(so, o.CUDADevice); err != nil {
				sess.fallback = "CUDA execution provider unavailable: " + oneLine(err.Error())
			} else {
				sess.provider = ProviderCUDA
			}
		}
		if sess.s, err = ortgo.NewDynamicAdvancedSession(sess.loadPath(log), inputs, outputs, so); err != nil {
			return nil, lecture.Wrap(lecture.EINVALID, err, "onnxruntime cannot load model file %s", path)
		}
	}
	if sess.int8 != nil {
		sess.int8MMI = sess.int8.rw.Nodes
		log = log.With("int8_weight_matmuls", sess.int8MMI)
	}
	log = log.With("provider", string(sess.provider), "cached", sess.Cached(), "load_ms", time.Since(t0).Milliseconds())
	if sess.fallback != "" {
		log.Warn("onnxruntime session falls back to CPU", "reason", sess.fallback)
	} else {
		log.Info("onnxruntime session ready")
	}
	return sess, nil
}

// sessionOptions are o's settings plus extra session config entries; the
// caller destroys them.
func sessionOptions(o *Options, path string, extra map[string]string) (*ortgo.SessionOptions, error) {
	so, err := ortgo.NewSessionOptions()
	if err != nil {
		return nil, lecture.Wrap(lecture.EINTERNAL, err, "onnxruntime session options")
	}
	if err := configure(so, o); err != nil {
		so.Destroy()
		return nil, lecture.Wrap(lecture.EINVALID, err, "onnxruntime options for %s", path)
	}
	if o.NoPrepack {
		extra = maps.Clone(extra)
		if extra == nil {
			extra = map[string]string{}
		}
		extra["session.disable_prepacking"] = "1"
	}
	for _, entries := range []map[string]string{o.ConfigEntries, extra} {
		for k, v := range entries {
			if err := so.AddSessionConfigEntry(k, v); err != nil {
				so.Destroy()
				return nil, lecture.Wrap(lecture.EINVALID, err, "onnxruntime session setting %s=%s for %s", k, v, path)
			}
		}
	}
	return so, nil
}

// openCached builds the session from the optimised copy of the model in
// o.OptimizedCacheDir, memory-mapped, writing that copy first when it is
// missing or stale. A corrupt or unloadable copy is removed with a warning
// and the source model loads (and is cached again); a cache that cannot be
// written only costs the speed.
func (s *Session) openCached(o *Options, log *slog.Logger) error {
	rt, _ := Init()
	var variants []string
	if s.int8 != nil {
		variants = append(variants, "weights=int8 (MatMulInteger B as int8)")
	}
	// the copy holds the external data's weights too: a changed data file
	// beside an unchanged graph file must not find the old weights
	variants = append(variants, DataIdentity(s.path, s.info)...)
	e, err := newCacheEntry(o.OptimizedCacheDir, s.path, rt.Version, o, variants...)
	if err == nil {
		err = os.MkdirAll(o.OptimizedCacheDir, 0o755)
	}
	if err != nil {
		log.Warn("optimised model cache unusable; loading the source model", "cache_dir", o.OptimizedCacheDir, "err", err)
		return s.build(o, "", nil)
	}
	log = log.With("cache", e.Path)
	if data, err := mapFile(e.Path); err == nil {
		t0 := time.Now()
		payload, err := checkCacheFile(data, e.KeyHash)
		checked := time.Since(t0)
		if err == nil {
			err = s.build(o, "", payload)
		}
		if err == nil {
			s.mapped = data
			log.Debug("onnxruntime session from the optimised model cache", "check_ms", checked.Milliseconds(),
				"build_ms", (time.Since(t0) - checked).Milliseconds())
			return nil
		}
		syscall.Munmap(data)
		log.Warn("optimised model cache file rejected; loading the source model and rebuilding it", "err", err)
		os.Remove(e.Path)
	} else if !errors.Is(err, os.ErrNotExist) {
		log.Warn("optimised model cache file rejected; loading the source model and rebuilding it", "err", err)
		os.Remove(e.Path)
	}
	tmp, err := cacheTempPath(e)
	if err != nil {
		log.Warn("optimised model cache not writable; loading the source model", "err", err)
		return s.build(o, "", nil)
	}
	defer os.Remove(tmp) // gone after the rename; left only when something failed
	if err := s.build(o, tmp, nil); err != nil {
		return err
	}
	if err := sealCacheFile(tmp, e); err != nil {
		log.Warn("optimised model cache not written", "err", err)
	} else {
		log.Info("optimised model cached")
	}
	return nil
}

// build makes the CPU session: from the ORT-format bytes of a cache file
// (used in place, weights included), or from the source file, saving the
// optimised model to saveTo when it is not empty.
func (s *Session) build(o *Options, saveTo string, ortBytes []byte) error {
	src := s.path
	if ortBytes == nil {
		had := s.int8 != nil
		src = s.loadPath(o.logger())
		if had && s.int8 == nil {
			saveTo = "" // the cache key says int8 weights: cache nothing this time
		}
	}
	extra := map[string]string{}
	if ortBytes != nil {
		extra["session.load_model_format"] = "ORT"
		extra["session.use_ort_model_bytes_directly"] = "1"
		extra["session.use_ort_model_bytes_for_initializers"] = "1"
	}
	if saveTo != "" {
		extra["session.save_model_format"] = "ORT"
	}
	so, err := sessionOptions(o, s.path, extra)
	if err != nil {
		return err
	}
	defer so.Destroy()
	if saveTo != "" {
		if err := so.SetOptimizedModelFilePath(saveTo); err != nil {
			return lecture.Wrap(lecture.EINTERNAL, err, "onnxruntime optimised model path %s", saveTo)
		}
	}
	if ortBytes != nil {
		s.s, err = ortgo.NewDynamicAdvancedSessionWithONNXData(ortBytes, s.inputs, s.outputs, so)
		if err != nil {
			return fmt.Errorf("%w: onnxruntime cannot load it: %v", errCacheCorrupt, err)
		}
		return nil
	}
	if s.s, err = ortgo.NewDynamicAdvancedSession(src, s.inputs, s.outputs, so); err != nil {
		return lecture.Wrap(lecture.EINVALID, err, "onnxruntime cannot load model file %s", s.path)
	}
	return nil
}

// loadPath is the file a session is built from: the int8-weight copy when
// there is one (written now), else the model file. Where the copy cannot be
// written the model loads as it is, with a warning (same results, slower).
func (s *Session) loadPath(log *slog.Logger) string {
	if s.int8 == nil {
		return s.path
	}
	p, err := s.int8.file()
	if err != nil {
		log.Warn("model loads with its uint8 weights as they are", "err", err)
		s.int8.close()
		s.int8 = nil
		return s.path
	}
	return p
}

// Int8WeightMatMuls is how many MatMulInteger nodes run on int8 copies of
// the model's uint8 weights (Options.Int8Weights); 0 when none do.
func (s *Session) Int8WeightMatMuls() int { return s.int8MMI }

func configure(so *ortgo.SessionOptions, o *Options) error {
	if o.IntraOpThreads < 0 || o.InterOpThreads < 0 {
		return fmt.Errorf("thread counts must be ≥ 0 (intra %d, inter %d)", o.IntraOpThreads, o.InterOpThreads)
	}
	if o.IntraOpThreads > 0 {
		if err := so.SetIntraOpNumThreads(o.IntraOpThreads); err != nil {
			return err
		}
	}
	if o.InterOpThreads > 0 {
		if err := so.SetInterOpNumThreads(o.InterOpThreads); err != nil {
			return err
		}
	}
	if o.NoArena {
		if err := so.SetCpuMemArena(false); err != nil {
			return err
		}
	}
	if o.ProfilePrefix != "" {
		if err := so.EnableProfiling(o.ProfilePrefix); err != nil {
			return err
		}
	}
	var level ortgo.GraphOptimizationLevel
	switch o.Optimization {
	case OptimizeAll:
		level = ortgo.GraphOptimizationLevelEnableAll
	case OptimizeExtended:
		level = ortgo.GraphOptimizationLevelEnableExtended
	case OptimizeBasic:
		level = ortgo.GraphOptimizationLevelEnableBasic
	case OptimizeNone:
		level = ortgo.GraphOptimizationLevelDisableAll
	default:
		return fmt.Errorf("unknown graph optimisation level %d", int(o.Optimization))
	}
	return so.SetGraphOptimizationLevel(level)
}

// appendCUDA adds the CUDA execution provider; it fails on CPU-only builds
// of the library (the npm one) and on machines without a GPU.
func appendCUDA(so *ortgo.SessionOptions, device int) error {
	co, err := ortgo.NewCUDAProviderOptions()
	if err != nil {
		return err
	}
	defer co.Destroy()
	if err := co.Update(map[string]string{"device_id": fmt.Sprint(device)}); err != nil {
		return err
	}
	return so.AppendExecutionProviderCUDA(co)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Path is the model file.
func (s *Session) Path() string { return s.path }

// Info is the model's declared inputs and outputs.
func (s *Session) Info() *ModelInfo { return s.info }

// InputNames and OutputNames are what Run feeds and fetches, in order.
func (s *Session) InputNames() []string  { return s.inputs }
func (s *Session) OutputNames() []string { return s.outputs }

// Provider is the execution provider the session runs on.
func (s *Session) Provider() Provider { return s.provider }

// Cached reports whether the session runs from the optimised-model cache
// (Options.OptimizedCacheDir) rather than from the .onnx file.
func (s *Session) Cached() bool { return s.mapped != nil }

// FallbackReason says why CUDA was asked for but the CPU runs ("" otherwise).
func (s *Session) FallbackReason() string { return s.fallback }

// Run feeds inputs (in InputNames order) and fills outputs (in OutputNames
// order). A zero Value in outputs is allocated by ONNX Runtime; the caller
// destroys it.
func (s *Session) Run(inputs, outputs []Value) error {
	return s.RunWith(nil, inputs, outputs)
}

// RunWith is Run with per-call options (the active LoRA adapter).
func (s *Session) RunWith(ro *RunOptions, inputs, outputs []Value) error {
	if len(inputs) != len(s.inputs) || len(outputs) != len(s.outputs) {
		return lecture.Errorf(lecture.EINTERNAL, "model %s takes %d inputs and %d outputs, Run got %d and %d",
			s.path, len(s.inputs), len(s.outputs), len(inputs), len(outputs))
	}
	in := make([]ortgo.Value, len(inputs))
	for i, v := range inputs {
		if v.v == nil {
			return lecture.Errorf(lecture.EINTERNAL, "model %s: input %q is empty", s.path, s.inputs[i])
		}
		in[i] = v.v
	}
	out := make([]ortgo.Value, len(outputs))
	for i, v := range outputs {
		out[i] = v.v // nil: ORT allocates
	}
	var opts *ortgo.RunOptions
	if ro != nil {
		opts = ro.o
	}
	t0 := time.Now()
	err := s.s.RunWithOptions(in, out, opts)
	s.count(t0)
	if err != nil {
		return lecture.Wrap(lecture.EINTERNAL, err, "running model %s", s.path)
	}
	for i := range outputs {
		outputs[i].v = out[i]
	}
	return nil
}

func (s *Session) count(t0 time.Time) {
	s.runNanos.Add(int64(time.Since(t0)))
	s.runs.Add(1)
}

// RunStats are the Run calls of a session so far and the time spent inside
// them (ONNX Runtime's work plus copying outputs out), for telling the
// model's time from the caller's.
func (s *Session) RunStats() RunStats {
	return RunStats{Runs: s.runs.Load(), Time: time.Duration(s.runNanos.Load())}
}

// Close frees the session.
func (s *Session) Close() error {
	if s == nil || s.s == nil {
		return nil
	}
	err := s.s.Destroy()
	s.s = nil
	if s.mapped != nil {
		err = errors.Join(err, syscall.Munmap(s.mapped))
		s.mapped = nil
	}
	return err
}

// Value is a tensor given to or returned by Run. The zero Value asks Run to
// allocate an output.
type Value struct{ v ortgo.Value }

// Element is a tensor element type.
type Element interface {
	float32 | float64 | int8 | uint8 | int16 | uint16 | int32 | uint32 | int64 | uint64 | bool
}

// NewTensor wraps data (not copied: keep it alive and unchanged until Run
// returns) as a tensor of the given shape.
func NewTensor[T Element](shape []int64, data []T) (Value, error) {
	if _, err := Init(); err != nil {
		return Value{}, err
	}
	t, err := ortgo.NewTensor(ortgo.NewShape(shape...), data)
	if err != nil {
		return Value{}, lecture.Wrap(lecture.EINVALID, err, "tensor of shape %v", shape)
	}
	return Value{t}, nil
}

// NewEmptyTensor allocates a zeroed tensor (for outputs of known shape,
// reused across Run calls).
func NewEmptyTensor[T Element](shape []int64) (Value, error) {
	return NewTensor(shape, make([]T, ortgo.NewShape(shape...).FlattenedSize()))
}

// Data returns the tensor's elements (no copy), or an error when v holds
// another element type.
func Data[T Element](v Value) ([]T, error) {
	t, ok := v.v.(*ortgo.Tensor[T])
	if !ok {
		var zero T
		return nil, lecture.Errorf(lecture.EINTERNAL, "tensor is %s, not %T", v.Type(), zero)
	}
	return t.GetData(), nil
}

// Shape is the tensor's shape (nil for the zero Value).
func (v Value) Shape() []int64 {
	if v.v == nil {
		return nil
	}
	return v.v.GetShape()
}

// Type names the value's element type (as ONNX Runtime spells it).
func (v Value) Type() string {
	if v.v == nil {
		return "empty"
	}
	return strings.TrimPrefix(ortgo.TensorElementDataType(v.v.DataType()).String(), "ONNX_TENSOR_ELEMENT_DATA_TYPE_")
}

// IsZero reports whether v holds no tensor.
func (v Value) IsZero() bool { return v.v == nil }

// Destroy frees the tensor; the zero Value is a no-op.
func (v *Value) Destroy() {
	if v.v != nil {
		v.v.Destroy()
		v.v = nil
	}
}

// Adapter is a LoRA adapter loaded from an ONNX Runtime .onnx_adapter file.
type Adapter struct {
	path string
	a    *ortgo.LoraAdapter
}

// LoadAdapter reads an ONNX Runtime LoRA adapter file.
func LoadAdapter(path string) (*Adapter, error) {
	if _, err := Init(); err != nil {
		return nil, err
	}
	a, err := ortgo.NewLoraAdapter(path)
	if err != nil {
		return nil, lecture.Wrap(lecture.EINVALID, err, "LoRA adapter file %s cannot be loaded", path)
	}
	return &Adapter{path: path, a: a}, nil
}

// Path is the adapter file.
func (a *Adapter) Path() string { return a.path }

// Close frees the adapter.
func (a *Adapter) Close() error {
	if a == nil || a.a == nil {
		return nil
	}
	err := a.a.Destroy()
	a.a = nil
	return err
}

// RunOptions are per-Run settings.
type RunOptions struct{ o *ortgo.RunOptions }

// NewRunOptions makes run options with the given adapters active (none is fine).
func NewRunOptions(adapters ...*Adapter) (*RunOptions, error) {
	if _, err := Init(); err != nil {
		return nil, err
	}
	o, err := ortgo.NewRunOptions()
	if err != nil {
		return nil, lecture.Wrap(lecture.EINTERNAL, err, "onnxruntime run options")
	}
	for _, a := range adapters {
		if err := o.AddActiveLoraAdapter(a.a); err != nil {
			o.Destroy()
			return nil, lecture.Wrap(lecture.EINVALID, err, "activating LoRA adapter %s", a.path)
		}
	}
	return &RunOptions{o}, nil
}

// Close frees the options.
func (r *RunOptions) Close() error {
	if r == nil || r.o == nil {
		return nil
	}
	err := r.o.Destroy()
	r.o = nil
	return err
}
