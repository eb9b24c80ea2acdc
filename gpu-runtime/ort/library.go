package ort

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/lecture"
)

// Settings this package reads (through the settings registry, shared/config).
const (
	// LibraryEnv names the ONNX Runtime shared library to load; it overrides
	// every other place.
	LibraryEnv = "TRANSCEPT_ORT_LIB"
	// ToolsDirEnv is the tools cache `make ort` installs into
	// (default $HOME/.cache/transcept-bin).
	ToolsDirEnv = "TRANSCEPT_TOOLS_DIR"
)

// MinVersion is the oldest ONNX Runtime that onnxruntime_go v1.35.0 (C API
// 24 and the LoRA adapter API) works with.
const MinVersion = "1.29"

// libNames are the file names tried in each system directory.
var libNames = []string{"libonnxruntime.so.1", "libonnxruntime.so"}

// systemDirs are searched after the tools cache.
var systemDirs = []string{"/usr/local/lib", "/usr/lib"}

// ToolsDir is the tools cache that `make tools` installs into:
// TRANSCEPT_TOOLS_DIR, by default ~/.cache/transcept-bin.
func ToolsDir() string {
	if dir := config.Get(ToolsDirEnv); dir != "" {
		return dir
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "transcept-bin")
}

// ToolsLibrary is where `make ort` installs the library.
func ToolsLibrary() string {
	return filepath.Join(ToolsDir(), "onnxruntime", "libonnxruntime.so.1")
}

// LibraryCandidates lists, in order, the paths FindLibrary tries when
// TRANSCEPT_ORT_LIB is not set.
func LibraryCandidates() []string {
	out := []string{ToolsLibrary()}
	for _, d := range systemDirs {
		for _, n := range libNames {
			out = append(out, filepath.Join(d, n))
		}
	}
	return out
}

// FindLibrary returns the ONNX Runtime shared library to load:
// TRANSCEPT_ORT_LIB when set (it must exist), else the first candidate that
// exists. Not finding one is a lecture.EUNAVAILABLE error that says how to
// get it.
func FindLibrary() (string, error) {
	if p := config.Get(LibraryEnv); p != "" {
		st, err := os.Stat(p)
		if err != nil {
			return "", lecture.Wrap(lecture.EUNAVAILABLE, err,
				"ONNX Runtime library %s=%s cannot be used; %s", LibraryEnv, p, howToGet())
		}
		if st.IsDir() {
			return "", lecture.Errorf(lecture.EUNAVAILABLE,
				"ONNX Runtime library %s=%s is a directory, not libonnxruntime.so; %s", LibraryEnv, p, howToGet())
		}
		return p, nil
	}
	cands := LibraryCandidates()
	for _, p := range cands {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", lecture.Errorf(lecture.EUNAVAILABLE,
		"ONNX Runtime library not found (looked in %s); %s", strings.Join(cands, ", "), howToGet())
}

// howToGet is the advice every "no library" error ends with.
func howToGet() string {
	return fmt.Sprintf("run `make ort` (installs libonnxruntime.so.1 from the npm package onnxruntime-node into %s), "+
		"or download the official ONNX Runtime release archive (onnxruntime-linux-x64-<version>.tgz, version ≥ %s; the GPU build for CUDA) "+
		"and set %s to its lib/libonnxruntime.so", filepath.Dir(ToolsLibrary()), MinVersion, LibraryEnv)
}
