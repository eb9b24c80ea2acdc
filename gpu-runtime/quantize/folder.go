package quantize

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/transcept/transcept/gpu-runtime/optimum"
)

// Record is one dtype's entry in a folder's quantize.json.
type Record struct {
	DType       string        `json:"dtype"`
	Bits        int           `json:"bits,omitempty"`
	Block       int           `json:"block,omitempty"`
	Symmetric   bool          `json:"symmetric"`
	Scales      string        `json:"scales"`
	KeepEmbed   bool          `json:"keep_embeddings,omitempty"`
	Embeddings  bool          `json:"quantize_embeddings,omitempty"`
	Accuracy    int           `json:"accuracy_level,omitempty"`
	Made        string        `json:"made"`
	BytesBefore int64         `json:"bytes_before"`
	BytesAfter  int64         `json:"bytes_after"`
	Files       []*FileResult `json:"files"`
}

// prepareOut lists dir's float32 model files (onnx/*.onnx without a dtype
// suffix) and readies out/onnx, copying dir's other files when out is
// another folder.
func prepareOut(dir, out string) ([]string, error) {
	src, err := filepath.Glob(filepath.Join(dir, "onnx", "*.onnx"))
	if err != nil {
		return nil, err
	}
	var models []string
	for _, p := range src {
		if !optimum.HasDTypeSuffix(filepath.Base(p)) {
			models = append(models, p)
		}
	}
	if len(models) == 0 {
		return nil, fmt.Errorf("quantize: %s has no float32 onnx/*.onnx files", dir)
	}
	if err := os.MkdirAll(filepath.Join(out, "onnx"), 0o755); err != nil {
		return nil, err
	}
	if abs(out) != abs(dir) {
		if err := copyOthers(dir, out); err != nil {
			return nil, err
		}
	}
	return models, nil
}

// Folder quantises every float32 model file in dir/onnx (those without a
// dtype suffix) into out/onnx with the dtype's suffix (the names the hub's
// ONNX repos use), copies the folder's other files when out is not dir, and
// adds the run to out/quantize.json (one entry per dtype).
func Folder(dir, out string, o Options) (*Record, error) {
	if err := o.norm(); err != nil {
		return nil, err
	}
	if out == "" {
		out = dir
	}
	models, err := prepareOut(dir, out)
	if err != nil {
		return nil, err
	}
	rec := &Record{DType: o.DType, Symmetric: o.Symmetric || o.DType == "q8", KeepEmbed: o.KeepEmbeddings, Embeddings: o.QuantizeEmbeddings,
		Made: time.Now().UTC().Format(time.RFC3339)}
	if o.DType == "q4" {
		rec.Bits, rec.Block, rec.Accuracy = o.Bits, o.Block, o.AccuracyLevel
		rec.Scales = fmt.Sprintf("per block of %d along K, per output column", o.Block)
	} else {
		rec.Bits = 8
		rec.Scales = "per output column (weights); per tensor, dynamic (activations)"
	}
	for _, m := range models {
		name, err := optimum.DTypeFile(filepath.Base(m), o.DType)
		if err != nil {
			return nil, err
		}
		r, err := QuantizeFile(m, filepath.Join(out, "onnx", name), o)
		if err != nil {
			return nil, err
		}
		r.In, r.Out = filepath.Join("onnx", filepath.Base(m)), filepath.Join("onnx", name)
		rec.Files = append(rec.Files, r)
		rec.BytesBefore += r.BytesBefore
		rec.BytesAfter += r.BytesAfter
	}
	return rec, writeRecord(filepath.Join(out, "quantize.json"), rec)
}

func abs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

func writeRecord(path string, rec *Record) error {
	all := map[string]*Record{}
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &all)
	}
	all[rec.DType] = rec
	b, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// copyOthers copies dir's files except its .onnx models and their data
// into out (config, generation config, tokenizer and the like).
func copyOthers(dir, out string) error {
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(out, rel), 0o755)
		}
		base := d.Name()
		if strings.HasSuffix(base, ".onnx") || strings.HasSuffix(base, ".onnx_data") || strings.Contains(base, ".onnx.data") || base == "quantize.json" {
			return nil
		}
		return copyFile(p, filepath.Join(out, rel))
	})
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	o, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(o, in); err != nil {
		o.Close()
		return err
	}
	return o.Close()
}

// Summary lines for a record: per file, sizes and counts.
func (r *Record) Summary() []string {
	var out []string
	for _, f := range r.Files {
		out = append(out, fmt.Sprintf("%s -> %s: %d nodes quantised, %d skipped, %.1f MB -> %.1f MB (%.0f%%)",
			f.In, f.Out, len(f.Quantized), len(f.Skipped), float64(f.BytesBefore)/1e6, float64(f.BytesAfter)/1e6, 100*float64(f.BytesAfter)/float64(f.BytesBefore)))
	}
	sort.Strings(out)
	return out
}
