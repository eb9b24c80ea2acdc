package ort

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
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
	rw      *onnxpb.Rewrite
	unmap   func()
	path    string
	dir     string // where the copy goes ("": the system's temporary folder)
	tmp     string
	inPlace bool // the model file itself was converted (Options.ScratchModel)
}

// int8Rewrite returns the rewrite of the model at path when o and the
// processor call for one and the model has weights to convert; nil
// otherwise (the model loads as it is). A model keeping some tensors in
// external data files gets its copy beside it, as a hidden temporary file,
// since ONNX Runtime finds those files in the model file's folder (the
// converted weights themselves must be inside the model file).
func int8Rewrite(path string, info *ModelInfo, o *Options) (*int8Source, error) {
	if o.Int8Weights == "off" || o.CUDA || !hasVNNI() {
		return nil, nil
	}
	dir := ""
	if len(info.External) > 0 {
		dir = filepath.Dir(path)
	}
	// A private copy (Options.ScratchModel) is converted where it lies, when
	// no length changes: no second copy to write.
	flag, prot := os.O_RDONLY, syscall.PROT_READ
	if o.ScratchModel {
		flag, prot = os.O_RDWR, syscall.PROT_READ|syscall.PROT_WRITE
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 || st.Size() != int64(int(st.Size())) {
		return nil, err
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), prot, syscall.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	unmap := func() { syscall.Munmap(b) }
	rw, err := onnxpb.SignedWeights(b)
	if err != nil || rw.Nodes == 0 {
		unmap()
		return nil, err
	}
	if o.ScratchModel && rw.InPlace(b) {
		unmap()
		return &int8Source{rw: rw, unmap: func() {}, path: path, inPlace: true}, nil
	}
	return &int8Source{rw: rw, unmap: unmap, path: path, dir: dir}, nil
}

// file writes the rewritten model to a temporary file (once) and returns
// its path.
func (s *int8Source) file() (string, error) {
	if s.inPlace {
		return s.path, nil
	}
	if s.tmp != "" {
		return s.tmp, nil
	}
	f, err := os.CreateTemp(s.dir, ".transcept-int8-*.onnx")
	if err != nil {
		return "", fmt.Errorf("writing the int8-weight copy of %s: %w", s.path, err)
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
	// the source's pages were all read: let them go before ONNX Runtime
	// reads the copy (they would count in the resident set until the
	// session is built)
	s.unmap()
	s.unmap = func() {}
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
