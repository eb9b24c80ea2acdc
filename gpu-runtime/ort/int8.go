package ort

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/cpu"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
)

// Int8 weights (Options.Int8Weights): 8-bit models in the hub's q8 layout
// (model_quantized.onnx: DynamicQuantizeLinear + MatMulInteger) store their
// weights as uint8, which ONNX Runtime's x86 kernels multiply as u8×u8. The
// same weights as int8 (onnxpb.SignedWeights: minus 128, with the zero
// points, so every product is the same integer) take the u8×s8 kernels,
// which use the VNNI dot-product instructions: on this project's AVX-512
// VNNI build machine the 512-token BART encoder runs in 0.55× the time
// (665 → 370 ms, one thread) and the outputs are bit for bit the same.
// Without VNNI the u8×s8 kernels add products in saturating 16-bit sums
// (vpmaddubsw), which can change results, so "auto" converts only where the
// processor has AVX-512 VNNI or AVX-VNNI.

// ParseInt8Weights checks a setting: "auto" (or "") or "off".
func ParseInt8Weights(s string) (string, error) {
	switch s {
	case "", "auto":
		return "auto", nil
	case "off":
		return "off", nil
	}
	return "", fmt.Errorf("int8 weights %q: want auto or off", s)
}

// hasVNNI reports whether ONNX Runtime's u8×s8 kernels are exact here
// (tests may override it).
var hasVNNI = func() bool {
	return runtime.GOARCH == "amd64" && (cpu.X86.HasAVX512VNNI || cpu.X86.HasAVXVNNI)
}

// int8Source is a model's int8-weight rewrite, written to a temporary file
// only when a session has to be built from it (not when the optimised
// model cache already holds it).
type int8Source struct {
	rw    *onnxpb.Rewrite
	unmap func()
	path  string
	tmp   string
}

// int8Rewrite returns the rewrite of the model at path when o and the
// processor call for one and the model has weights to convert; nil
// otherwise (the model loads as it is). Models with external data files
// are left alone (ONNX Runtime finds those beside the model file).
func int8Rewrite(path string, info *ModelInfo, o *Options) (*int8Source, error) {
	if o.Int8Weights == "off" || o.CUDA || !hasVNNI() || len(info.External) > 0 {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 || st.Size() != int64(int(st.Size())) {
		return nil, err
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	unmap := func() { syscall.Munmap(b) }
	rw, err := onnxpb.SignedWeights(b)
	if err != nil || rw.Nodes == 0 {
		unmap()
		return nil, err
	}
	return &int8Source{rw: rw, unmap: unmap, path: path}, nil
}

// file writes the rewritten model to a temporary file (once) and returns
// its path.
func (s *int8Source) file() (string, error) {
	if s.tmp != "" {
		return s.tmp, nil
	}
	f, err := os.CreateTemp("", ".transcept-int8-*.onnx")
	if err != nil {
		return "", err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	_, err = s.rw.WriteTo(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("writing the int8-weight copy of %s: %w", s.path, err)
	}
	s.tmp = f.Name()
	return s.tmp, nil
}

// close removes the temporary file and unmaps the source.
func (s *int8Source) close() {
	if s == nil {
		return
	}
	if s.tmp != "" {
		os.Remove(s.tmp)
	}
	s.unmap()
}
