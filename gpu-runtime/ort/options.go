package ort

import (
	"fmt"
	"log/slog"
	"time"
)

// Provider is the execution provider a session runs on.
type Provider string

const (
	ProviderCPU  Provider = "cpu"
	ProviderCUDA Provider = "cuda"
)

// Optimization is ONNX Runtime's graph optimisation level.
type Optimization int

const (
	OptimizeAll      Optimization = iota // the default: every graph rewrite, layout changes included
	OptimizeExtended                     // fusions that keep the layout
	OptimizeBasic                        // constant folding, redundant node removal
	OptimizeNone                         // the graph as written (for comparing against references)
)

func (o Optimization) String() string {
	switch o {
	case OptimizeAll:
		return "all"
	case OptimizeExtended:
		return "extended"
	case OptimizeBasic:
		return "basic"
	case OptimizeNone:
		return "none"
	}
	return fmt.Sprintf("optimization(%d)", int(o))
}

// ParseOptimization reads "all", "extended", "basic" or "none" (for
// configuration); "" is all.
func ParseOptimization(s string) (Optimization, error) {
	switch s {
	case "", "all":
		return OptimizeAll, nil
	case "extended":
		return OptimizeExtended, nil
	case "basic":
		return OptimizeBasic, nil
	case "none", "disable":
		return OptimizeNone, nil
	}
	return 0, fmt.Errorf("graph optimisation level %q: want all, extended, basic or none", s)
}

// Options configure a session. The zero value is ONNX Runtime's defaults on
// the CPU.
type Options struct {
	// IntraOpThreads is the threads one operator may use; 0 leaves ONNX
	// Runtime's default (one per physical core).
	IntraOpThreads int
	// InterOpThreads is the threads running independent operators; 0 is the default.
	InterOpThreads int
	// Optimization is the graph optimisation level.
	Optimization Optimization
	// CUDA asks for the CUDA execution provider on device CUDADevice. When
	// the library or machine has none, the session falls back to the CPU
	// and FallbackReason says why.
	CUDA       bool
	CUDADevice int
	// InputNames and OutputNames choose what Run feeds and fetches, in that
	// order; nil means every required input and every output of the model.
	InputNames  []string
	OutputNames []string
	// OptimizedCacheDir, when set, keeps an optimised copy of each model
	// there in ONNX Runtime's own format, built on the first load and
	// memory-mapped on later ones (much faster to load; see cache.go).
	OptimizedCacheDir string
	// NoPrepack skips prepacking: copying every weight into the matrix
	// kernels' layout while loading. Loading takes a fraction of the time
	// and the weights are held once (with OptimizedCacheDir, only in the
	// mapped file), but the matrix products run slower (BART decoder steps
	// about 1.5× on 2 cores) and results change in the last bits (logits
	// within 1e-5 on our BART test folder, same tokens). For quick starts
	// and small memory, not for throughput.
	NoPrepack bool
	// NoArena turns off ONNX Runtime's CPU memory arena: intermediate
	// tensors are allocated and freed per run instead of kept in a pool
	// that grows to the largest run's needs.
	NoArena bool
	// DType is which of a model folder's files the loaders open (fp32,
	// q8, q4, fp16: onnx/model.onnx, model_quantized.onnx, model_q4.onnx,
	// model_fp16.onnx, as the hub's ONNX repos name them); "" is fp32.
	// Sessions themselves ignore it.
	DType string
	// Int8Weights is "auto" (or "") or "off". Auto runs 8-bit models whose
	// MatMulInteger weights are stored as uint8 (the hub's q8 files) on int8
	// copies of those weights, made at load, on processors with VNNI
	// (AVX-512 VNNI or AVX-VNNI), where ONNX Runtime's u8×s8 kernels are
	// faster and give the same results (see int8.go). With the optimised
	// model cache the copy is made once, when the cache file is built.
	Int8Weights string
	// ScratchModel says the model file is a private copy the session may
	// change (a rewritten temporary copy, as the LM engine loads): int8
	// weights are then converted in the file itself instead of in a second
	// copy.
	ScratchModel bool
	// ProfilePrefix, when set, has ONNX Runtime time every operator of
	// every run and write the timings (a Chrome trace, JSON) to
	// PREFIX_<date and time>.json when the session is closed: for
	// benchmarks, not for serving (tests/testkit/cmd/ort-profile sums them).
	ProfilePrefix string
	// ConfigEntries are extra ONNX Runtime session settings
	// (AddSessionConfigEntry), e.g. "session.disable_prepacking": "1".
	ConfigEntries map[string]string
	// Logger receives the provider decision; nil is slog.Default().
	Logger *slog.Logger
}

func (o *Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

// Runtime describes the loaded ONNX Runtime.
type Runtime struct {
	Version string // e.g. "1.30.0"
	Library string // the path it was loaded from
}

// RunStats count a session's Run calls and the time spent inside them.
type RunStats struct {
	Runs int64
	Time time.Duration
}

// Sub is the calls and time since an earlier snapshot.
func (r RunStats) Sub(before RunStats) RunStats {
	return RunStats{Runs: r.Runs - before.Runs, Time: r.Time - before.Time}
}
