package onnxpb

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// External is where a tensor's little-endian bytes lie outside the .onnx
// file (ONNX external data): Location is a path relative to the model
// file's folder, Offset and Length count bytes in it.
type External struct {
	Location string
	Offset   int64
	Length   int64
}

// ExternalAlign is the offset every tensor starts at a multiple of in the
// data files ExternalWriter writes: a page, so ONNX Runtime can map them.
const ExternalAlign = 4096

// ExternalWriter appends tensor data to one data file as a model is built,
// so that a model larger than protobuf's 2 GB limit (or than memory) can be
// written a tensor at a time: Move writes a tensor's bytes and leaves the
// tensor holding only its External reference.
type ExternalWriter struct {
	f        *os.File
	w        *bufio.Writer
	location string
	off      int64
}

// CreateExternal creates (or truncates) the data file at path; tensors
// refer to it by its base name, so it must sit beside the .onnx file.
func CreateExternal(path string) (*ExternalWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &ExternalWriter{f: f, w: bufio.NewWriterSize(f, 1<<20), location: filepath.Base(path)}, nil
}

// Move writes t's data to the file (at the next aligned offset), sets
// t.External and drops t's in-memory data.
func (x *ExternalWriter) Move(t *Tensor) error {
	if t.External != nil {
		return fmt.Errorf("onnxpb: tensor %q is already external", t.Name)
	}
	if pad := (ExternalAlign - x.off%ExternalAlign) % ExternalAlign; pad > 0 {
		if _, err := x.w.Write(make([]byte, pad)); err != nil {
			return err
		}
		x.off += pad
	}
	start := x.off
	var err error
	switch {
	case t.Raw != nil:
		_, err = x.w.Write(t.Raw)
		x.off += int64(len(t.Raw))
	case t.Float32 != nil:
		err = writeLE(x, len(t.Float32), 4, func(p []byte, i int) { binary.LittleEndian.PutUint32(p, math.Float32bits(t.Float32[i])) })
	case t.Int64 != nil:
		err = writeLE(x, len(t.Int64), 8, func(p []byte, i int) { binary.LittleEndian.PutUint64(p, uint64(t.Int64[i])) })
	case t.Int32 != nil:
		err = writeLE(x, len(t.Int32), 4, func(p []byte, i int) { binary.LittleEndian.PutUint32(p, uint32(t.Int32[i])) })
	default:
		return fmt.Errorf("onnxpb: tensor %q has no data to move", t.Name)
	}
	if err != nil {
		return err
	}
	t.External = &External{Location: x.location, Offset: start, Length: x.off - start}
	t.Raw, t.Float32, t.Int64, t.Int32 = nil, nil, nil, nil
	return nil
}

// writeLE writes n elements of size bytes each, put by index, through a
// small buffer (no copy of the whole tensor).
func writeLE(x *ExternalWriter, n, size int, put func(p []byte, i int)) error {
	var chunk [1 << 16]byte
	per := len(chunk) / size
	for i := 0; i < n; i += per {
		m := min(per, n-i)
		for j := range m {
			put(chunk[j*size:], i+j)
		}
		if _, err := x.w.Write(chunk[:m*size]); err != nil {
			return err
		}
		x.off += int64(m * size)
	}
	return nil
}

// Size is the bytes written so far.
func (x *ExternalWriter) Size() int64 { return x.off }

// Close flushes and closes the file.
func (x *ExternalWriter) Close() error {
	err := x.w.Flush()
	if cerr := x.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadExternal reads e's bytes from the data file beside the model at
// modelPath. A location that leaves the model's folder is refused.
func ReadExternal(modelPath string, e External) ([]byte, error) {
	p, err := e.Path(modelPath)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := make([]byte, e.Length)
	if _, err := f.ReadAt(out, e.Offset); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%s: %d bytes at offset %d: %w", p, e.Length, e.Offset, err)
	}
	return out, nil
}

// Path is the data file's path for the model at modelPath; an absolute
// location or one that climbs out of the model's folder is an error.
func (e External) Path(modelPath string) (string, error) {
	l := filepath.FromSlash(e.Location)
	if e.Location == "" || filepath.IsAbs(l) || !filepath.IsLocal(l) || strings.ContainsRune(e.Location, 0) {
		return "", fmt.Errorf("model file %s refers to external data at %q, outside its folder", modelPath, e.Location)
	}
	if e.Offset < 0 || e.Length < 0 {
		return "", fmt.Errorf("model file %s refers to external data %q at offset %d, length %d", modelPath, e.Location, e.Offset, e.Length)
	}
	return filepath.Join(filepath.Dir(modelPath), l), nil
}
