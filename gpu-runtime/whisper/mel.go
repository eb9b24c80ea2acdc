package whisper

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/transcept/transcept/shared/lecture"
)

// MelFilterBank returns Whisper's mel filterbank for nMels bins (80 or 128)
// as nMels rows of NFFT/2+1 weights: librosa.filters.mel(sr=16000,
// n_fft=400, n_mels=nMels) with its defaults, Slaney's mel scale (linear
// below 1 kHz, logarithmic above) from 0 to 8 kHz and Slaney's
// normalisation (each triangle scaled to unit area, 2/(f[i+2]−f[i])).
// These are the weights openai-whisper ships in mel_filters.npz, and what
// transformers.js computes when preprocessor_config.json has none.
func MelFilterBank(nMels int) []float64 {
	const bins = NFFT/2 + 1
	fmax := float64(SampleRate) / 2
	melMin, melMax := hzToMel(0), hzToMel(fmax)
	f := make([]float64, nMels+2) // band edges in Hz
	for i := range f {
		f[i] = melToHz(melMin + (melMax-melMin)*float64(i)/float64(nMels+1))
	}
	w := make([]float64, nMels*bins)
	for m := range nMels {
		enorm := 2 / (f[m+2] - f[m])
		for k := range bins {
			hz := fmax * float64(k) / float64(bins-1)
			lower := (hz - f[m]) / (f[m+1] - f[m])
			upper := (f[m+2] - hz) / (f[m+2] - f[m+1])
			w[m*bins+k] = max(0, min(lower, upper)) * enorm
		}
	}
	return w
}

// Slaney's mel scale, as librosa's default (htk=False).
const (
	melFSP     = 200.0 / 3
	melMinLog  = 1000.0
	melLogStep = 0.06875177742094912 // ln(6.4)/27
)

func hzToMel(hz float64) float64 {
	if hz < melMinLog {
		return hz / melFSP
	}
	return melMinLog/melFSP + math.Log(hz/melMinLog)/melLogStep
}

func melToHz(mel float64) float64 {
	if mel < melMinLog/melFSP {
		return mel * melFSP
	}
	return melMinLog * math.Exp(melLogStep*(mel-melMinLog/melFSP))
}

// LoadMelFilters reads the nMels-bin filterbank ("mel_80" or "mel_128")
// from openai-whisper's mel_filters.npz.
func LoadMelFilters(npzPath string, nMels int) ([]float64, error) {
	arrays, err := ReadNPZ(npzPath)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("mel_%d", nMels)
	a, ok := arrays[name]
	if !ok {
		return nil, lecture.Errorf(lecture.EINVALID, "%s has no %s array", npzPath, name)
	}
	if len(a.Shape) != 2 || a.Shape[0] != nMels || a.Shape[1] != NFFT/2+1 {
		return nil, lecture.Errorf(lecture.EINVALID, "%s: %s has shape %v, want [%d %d]", npzPath, name, a.Shape, nMels, NFFT/2+1)
	}
	return a.Data, nil
}

// Array is one array of a .npy file, its values widened to float64.
type Array struct {
	Shape []int
	Data  []float64 // C order
}

// ReadNPZ reads the arrays of a NumPy .npz file (a zip of .npy files,
// stored or deflated), keyed by name without ".npy". Only little-endian
// float32 and float64 arrays in C order are supported.
func ReadNPZ(path string) (map[string]Array, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, lecture.Wrap(lecture.EINVALID, err, "reading %s", path)
	}
	defer zr.Close()
	out := map[string]Array{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			return nil, lecture.Wrap(lecture.EINVALID, err, "reading %s in %s", f.Name, path)
		}
		b, err := io.ReadAll(io.LimitReader(rc, 1<<30))
		rc.Close()
		if err != nil {
			return nil, lecture.Wrap(lecture.EINVALID, err, "reading %s in %s", f.Name, path)
		}
		a, err := ParseNPY(b)
		if err != nil {
			return nil, lecture.Wrap(lecture.EINVALID, err, "%s in %s", f.Name, path)
		}
		out[strings.TrimSuffix(f.Name, ".npy")] = a
	}
	return out, nil
}

var (
	npyDescr = regexp.MustCompile(`'descr':\s*'([^']*)'`)
	npyOrder = regexp.MustCompile(`'fortran_order':\s*(True|False)`)
	npyShape = regexp.MustCompile(`'shape':\s*\(([^)]*)\)`)
)

// ParseNPY decodes a .npy file (format versions 1 to 3).
func ParseNPY(b []byte) (Array, error) {
	var a Array
	if len(b) < 10 || !bytes.Equal(b[:6], []byte("\x93NUMPY")) {
		return a, fmt.Errorf("not a .npy file")
	}
	var hlen, start int
	switch b[6] {
	case 1:
		hlen, start = int(binary.LittleEndian.Uint16(b[8:10])), 10
	case 2, 3:
		if len(b) < 12 {
			return a, fmt.Errorf("truncated .npy header")
		}
		hlen, start = int(binary.LittleEndian.Uint32(b[8:12])), 12
	default:
		return a, fmt.Errorf(".npy format version %d", b[6])
	}
	if start+hlen > len(b) {
		return a, fmt.Errorf("truncated .npy header")
	}
	header := string(b[start : start+hlen])
	data := b[start+hlen:]
	d, o, s := npyDescr.FindStringSubmatch(header), npyOrder.FindStringSubmatch(header), npyShape.FindStringSubmatch(header)
	if d == nil || o == nil || s == nil {
		return a, fmt.Errorf("unreadable .npy header %q", header)
	}
	if o[1] == "True" {
		return a, fmt.Errorf("Fortran-order arrays are not supported")
	}
	n := 1
	for _, dim := range strings.Split(s[1], ",") {
		if dim = strings.TrimSpace(dim); dim == "" {
			continue
		}
		v, err := strconv.Atoi(dim)
		if err != nil || v < 0 {
			return a, fmt.Errorf("bad shape %q", s[1])
		}
		a.Shape = append(a.Shape, v)
		n *= v
	}
	var size int
	switch d[1] {
	case "<f4":
		size = 4
	case "<f8":
		size = 8
	default:
		return a, fmt.Errorf("dtype %s is not supported (only <f4 and <f8)", d[1])
	}
	if len(data) < n*size {
		return a, fmt.Errorf("truncated .npy data: %d bytes for %d values of %d bytes", len(data), n, size)
	}
	a.Data = make([]float64, n)
	for i := range a.Data {
		if size == 4 {
			a.Data[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:])))
		} else {
			a.Data[i] = math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:]))
		}
	}
	return a, nil
}
