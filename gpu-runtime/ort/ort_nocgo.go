//go:build !cgo

package ort

import "github.com/transcept/transcept/shared/lecture"

// Available reports whether this build can run ONNX Runtime (it has cgo).
const Available = false

// errNoCgo is what every entry point returns in a build without cgo.
func errNoCgo() error {
	return lecture.Errorf(lecture.EUNAVAILABLE,
		"this transcept binary was built without cgo (CGO_ENABLED=0), so it cannot run ONNX Runtime models; "+
			"rebuild with CGO_ENABLED=1 and a C compiler (the gpu-runtime Dockerfiles do), or use the embedded engines")
}

// Init always fails: ONNX Runtime needs cgo.
func Init() (Runtime, error) { return Runtime{}, errNoCgo() }

// Session is a loaded model; without cgo none can be made.
type Session struct{}

// NewSession always fails without cgo.
func NewSession(path string, o Options) (*Session, error) { return nil, errNoCgo() }

func (s *Session) Path() string                                  { return "" }
func (s *Session) Info() *ModelInfo                              { return nil }
func (s *Session) InputNames() []string                          { return nil }
func (s *Session) OutputNames() []string                         { return nil }
func (s *Session) Provider() Provider                            { return "" }
func (s *Session) FallbackReason() string                        { return "" }
func (s *Session) Run(inputs, outputs []Value) error             { return errNoCgo() }
func (s *Session) RunWith(ro *RunOptions, in, out []Value) error { return errNoCgo() }
func (s *Session) Close() error                                  { return nil }
func (s *Session) RunStats() RunStats                            { return RunStats{} }
func (s *Session) Cached() bool                                  { return false }
func (s *Session) Int8WeightMatMuls() int                        { return 0 }

// Value is a tensor; without cgo none can be made.
type Value struct{}

// Element is a tensor element type.
type Element interface {
	float32 | float64 | int8 | uint8 | int16 | uint16 | int32 | uint32 | int64 | uint64 | bool
}

func NewTensor[T Element](shape []int64, data []T) (Value, error) { return Value{}, errNoCgo() }
func NewEmptyTensor[T Element](shape []int64) (Value, error)      { return Value{}, errNoCgo() }
func Data[T Element](v Value) ([]T, error)                        { return nil, errNoCgo() }
func (v Value) Shape() []int64                                    { return nil }
func (v Value) Type() string                                      { return "empty" }
func (v Value) IsZero() bool                                      { return true }
func (v *Value) Destroy()                                         {}

// Adapter is a LoRA adapter; without cgo none can be loaded.
type Adapter struct{}

func LoadAdapter(path string) (*Adapter, error) { return nil, errNoCgo() }
func (a *Adapter) Path() string                 { return "" }
func (a *Adapter) Close() error                 { return nil }

// RunOptions are per-Run settings.
type RunOptions struct{}

func NewRunOptions(adapters ...*Adapter) (*RunOptions, error) { return nil, errNoCgo() }
func (r *RunOptions) Close() error                            { return nil }
