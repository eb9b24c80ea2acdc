package onnxpb

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// Info is what Inspect finds in a .onnx file without loading its weights.
type Info struct {
	Path         string
	IRVersion    int64
	OpSets       []OpSet
	Producer     string
	Inputs       []ValueInfo // graph inputs, initializers with the same name included
	Outputs      []ValueInfo
	Initializers []string // names only
	// External are the initializers whose data lies in external files
	// (data_location EXTERNAL), by name; nil when there are none.
	External map[string]External
	Metadata map[string]string
}

// CheckExternal checks that every external data file the model refers to
// exists beside it, stays inside its folder and is long enough for the
// tensors it holds. Errors name the model file and the data file.
func (i *Info) CheckExternal() error {
	need := map[string]int64{} // data file → bytes it must hold
	for _, e := range i.External {
		p, err := e.Path(i.Path)
		if err != nil {
			return err
		}
		need[p] = max(need[p], e.Offset+e.Length)
	}
	for p, end := range need {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("model file %s keeps its weights in %s: %w", i.Path, p, err)
		}
		if st.Size() < end {
			return fmt.Errorf("model file %s needs %d bytes of %s, which has %d (truncated?)", i.Path, end, p, st.Size())
		}
	}
	return nil
}

// RequiredInputs are the inputs a caller must feed: graph inputs that no
// initializer gives a default for (an input with one is overridable, as
// LoRA weight inputs are).
func (i *Info) RequiredInputs() []ValueInfo {
	init := make(map[string]bool, len(i.Initializers))
	for _, n := range i.Initializers {
		init[n] = true
	}
	var out []ValueInfo
	for _, v := range i.Inputs {
		if !init[v.Name] {
			out = append(out, v)
		}
	}
	return out
}

// Input returns the graph input called name.
func (i *Info) Input(name string) (ValueInfo, bool) {
	for _, v := range i.Inputs {
		if v.Name == name {
			return v, true
		}
	}
	return ValueInfo{}, false
}

// Output returns the graph output called name.
func (i *Info) Output(name string) (ValueInfo, bool) {
	for _, v := range i.Outputs {
		if v.Name == name {
			return v, true
		}
	}
	return ValueInfo{}, false
}

// FormatError says a file is not a readable ONNX model and where it broke.
type FormatError struct {
	Path   string
	Offset int64
	Reason string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%s is not a valid ONNX model (at byte %d: %s)", e.Path, e.Offset, e.Reason)
}

// Inspect reads the model header, graph inputs, outputs and initializer
// names of the .onnx file at path, skipping over tensor data. Errors name
// the file; a truncated or non-ONNX file gives a *FormatError.
func Inspect(path string) (*Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, &FormatError{Path: path, Reason: "it is a directory"}
	}
	if st.Size() == 0 {
		return nil, &FormatError{Path: path, Reason: "the file is empty"}
	}
	r := &reader{r: bufio.NewReaderSize(f, 1<<16), path: path}
	info := &Info{Path: path, Metadata: map[string]string{}}
	sawGraph := false
	err = r.fields(st.Size(), func(field, wire int, n int64) error {
		switch {
		case field == modelIRVersion && wire == wireVarint:
			info.IRVersion = int64(n)
		case field == modelProducerName && wire == wireBytes:
			s, err := r.str(n)
			info.Producer = s
			return err
		case field == modelOpsetImport && wire == wireBytes:
			var o OpSet
			err := r.fields(n, func(f, w int, m int64) error {
				switch {
				case f == opsetDomain && w == wireBytes:
					s, err := r.str(m)
					o.Domain = s
					return err
				case f == opsetVersion && w == wireVarint:
					o.Version = m
				default:
					return r.skip(w, m)
				}
				return nil
			})
			info.OpSets = append(info.OpSets, o)
			return err
		case field == modelMetadataProps && wire == wireBytes:
			k, v, err := r.keyValue(n)
			info.Metadata[k] = v
			return err
		case field == modelGraph && wire == wireBytes:
			sawGraph = true
			return r.graph(n, info)
		default:
			return r.skip(wire, n)
		}
		return nil
	})
	if err != nil {
		var fe *FormatError
		if errors.As(err, &fe) {
			return nil, err
		}
		return nil, &FormatError{Path: path, Offset: r.off, Reason: err.Error()}
	}
	if !sawGraph || info.IRVersion == 0 {
		return nil, &FormatError{Path: path, Offset: r.off, Reason: "no ir_version or graph: not an ONNX ModelProto"}
	}
	return info, nil
}

// reader walks protobuf fields from a stream, counting bytes so that nested
// messages end where their length says.
type reader struct {
	r    *bufio.Reader
	path string
	off  int64
}

func (r *reader) uvarint() (uint64, error) {
	var x uint64
	for s := uint(0); s < 64; s += 7 {
		c, err := r.r.ReadByte()
		if err != nil {
			return 0, unexpected(err)
		}
		r.off++
		x |= uint64(c&0x7f) << s
		if c < 0x80 {
			return x, nil
		}
	}
	return 0, errors.New("varint overflows 64 bits")
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// fields calls fn for each field in the next size bytes. For varint fields
// n is the value; for length-delimited ones n is the length and fn must
// consume exactly that many bytes (read or skip).
func (r *reader) fields(size int64, fn func(field, wire int, n int64) error) error {
	end := r.off + size
	for r.off < end {
		key, err := r.uvarint()
		if err != nil {
			return err
		}
		field, wire := int(key>>3), int(key&7)
		if field == 0 {
			return errors.New("field number 0")
		}
		var n int64
		switch wire {
		case wireVarint:
			v, err := r.uvarint()
			if err != nil {
				return err
			}
			n = int64(v)
		case wireBytes:
			v, err := r.uvarint()
			if err != nil {
				return err
			}
			if v > uint64(end-r.off) {
				return fmt.Errorf("field %d claims %d bytes, only %d left", field, v, end-r.off)
			}
			n = int64(v)
		case wireI64:
			n = 8
		case wireI32:
			n = 4
		default:
			return fmt.Errorf("unsupported wire type %d", wire)
		}
		if err := fn(field, wire, n); err != nil {
			return err
		}
	}
	if r.off != end {
		return fmt.Errorf("message overruns its length by %d bytes", r.off-end)
	}
	return nil
}

// skip consumes a field's payload (nothing for a varint, already read).
func (r *reader) skip(wire int, n int64) error {
	if wire == wireVarint {
		return nil
	}
	d, err := r.r.Discard(int(n))
	r.off += int64(d)
	return unexpected(err)
}

func (r *reader) str(n int64) (string, error) {
	if n > 1<<20 {
		return "", fmt.Errorf("a %d-byte name", n)
	}
	p := make([]byte, n)
	m, err := io.ReadFull(r.r, p)
	r.off += int64(m)
	return string(p), unexpected(err)
}

func (r *reader) graph(size int64, info *Info) error {
	return r.fields(size, func(field, wire int, n int64) error {
		if wire != wireBytes {
			return r.skip(wire, n)
		}
		switch field {
		case graphInput, graphOutput:
			v, err := r.valueInfo(n)
			if field == graphInput {
				info.Inputs = append(info.Inputs, v)
			} else {
				info.Outputs = append(info.Outputs, v)
			}
			return err
		case graphInitializer:
			var name string
			var ext External
			var external bool
			err := r.fields(n, func(f, w int, m int64) error {
				switch {
				case f == tensorName && w == wireBytes:
					var err error
					name, err = r.str(m)
					return err
				case f == tensorLocation && w == wireVarint:
					external = m == locationExternal
				case f == tensorExternal && w == wireBytes:
					return r.externalEntry(m, &ext)
				default:
					return r.skip(w, m)
				}
				return nil
			})
			info.Initializers = append(info.Initializers, name)
			if err == nil && external {
				if info.External == nil {
					info.External = map[string]External{}
				}
				info.External[name] = ext
			}
			return err
		default:
			return r.skip(wire, n)
		}
	})
}

// keyValue reads a StringStringEntryProto (metadata_props, external_data).
func (r *reader) keyValue(size int64) (k, v string, err error) {
	err = r.fields(size, func(f, w int, m int64) error {
		var err error
		switch {
		case f == kvKey && w == wireBytes:
			k, err = r.str(m)
		case f == kvValue && w == wireBytes:
			v, err = r.str(m)
		default:
			err = r.skip(w, m)
		}
		return err
	})
	return k, v, err
}

// externalEntry reads one external_data key/value into e.
func (r *reader) externalEntry(size int64, e *External) error {
	k, v, err := r.keyValue(size)
	if err != nil {
		return err
	}
	switch k {
	case "location":
		e.Location = v
	case "offset", "length":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("external data %s %q is not a byte count", k, v)
		}
		if k == "offset" {
			e.Offset = n
		} else {
			e.Length = n
		}
	}
	return nil
}

func (r *reader) valueInfo(size int64) (ValueInfo, error) {
	var v ValueInfo
	err := r.fields(size, func(f, w int, n int64) error {
		switch {
		case f == valueInfoName && w == wireBytes:
			s, err := r.str(n)
			v.Name = s
			return err
		case f == valueInfoType && w == wireBytes:
			return r.fields(n, func(f, w int, n int64) error {
				if f != typeTensor || w != wireBytes {
					return r.skip(w, n) // sequences, maps: name only
				}
				return r.fields(n, func(f, w int, n int64) error {
					switch {
					case f == tensorTypeElem && w == wireVarint:
						v.ElemType = DataType(n)
					case f == tensorTypeShape && w == wireBytes:
						v.Shape = []Dim{}
						return r.fields(n, func(f, w int, n int64) error {
							if f != shapeDim || w != wireBytes {
								return r.skip(w, n)
							}
							var d Dim
							err := r.fields(n, func(f, w int, n int64) error {
								switch {
								case f == dimValue && w == wireVarint:
									d.Value = n
								case f == dimParam && w == wireBytes:
									s, err := r.str(n)
									d.Param = s
									return err
								default:
									return r.skip(w, n)
								}
								return nil
							})
							v.Shape = append(v.Shape, d)
							return err
						})
					default:
						return r.skip(w, n)
					}
					return nil
				})
			})
		default:
			return r.skip(w, n)
		}
	})
	return v, err
}
