package whisper

import (
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

// benchAudio is 10 minutes of 16 kHz samples: $TRANSCEPT_BENCH_F32 (raw
// float32, as tests/reference/whisper-bench.sh writes it, so that node and
// Go time the same samples) or tones in noise.
func benchAudio(b *testing.B) []float32 {
	const n = 10 * 60 * SampleRate
	if f := os.Getenv("TRANSCEPT_BENCH_F32"); f != "" {
		x := readF32(b, f)
		if len(x) < n {
			b.Fatalf("%s: %d samples, want 10 minutes (%d)", f, len(x), n)
		}
		return x[:n]
	}
	rng := rand.New(rand.NewPCG(4, 2))
	x := make([]float32, n)
	for i := range x {
		t := float64(i) / SampleRate
		x[i] = float32(0.3*math.Sin(2*math.Pi*220*t)+0.1*math.Sin(2*math.Pi*1800*t)) + float32(rng.NormFloat64()*0.05)
	}
	return x
}

// BenchmarkLogMel10Min: one op is the features of 10 minutes of audio,
// twenty 30 s windows.
func BenchmarkLogMel10Min(b *testing.B) {
	x := benchAudio(b)
	for _, nMels := range []int{80, 128} {
		fe, err := NewFeatureExtractor(nMels)
		if err != nil {
			b.Fatal(err)
		}
		dst := make([]float32, nMels*ChunkFrames)
		name := "mels=80"
		if nMels == 128 {
			name = "mels=128"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				for w := 0; w < len(x); w += ChunkSamples {
					fe.LogMelInto(dst, x[w:w+ChunkSamples])
				}
			}
		})
	}
}

func TestLogMelShapeAndRange(t *testing.T) {
	fe, err := NewFeatureExtractor(80)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 5*SampleRate)
	for i := range x {
		x[i] = float32(0.5 * math.Sin(2*math.Pi*1000*float64(i)/SampleRate))
	}
	m := fe.LogMel(x)
	if len(m) != 80*ChunkFrames {
		t.Fatalf("%d values", len(m))
	}
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	for _, v := range m {
		lo, hi = min(lo, v), max(hi, v)
	}
	// The clamp leaves exactly 8 decades, i.e. 2 after the /4 scaling.
	if d := hi - lo; math.Abs(float64(d)-2) > 1e-6 {
		t.Errorf("range %g … %g, want a span of 2", lo, hi)
	}
	// The 1 kHz band is the loudest in the middle of the tone.
	best, arg := float32(math.Inf(-1)), -1
	for b := range 80 {
		if v := m[b*ChunkFrames+250]; v > best {
			best, arg = v, b
		}
	}
	if f := melToHz(hzToMel(8000) * float64(arg+1) / 81); math.Abs(f-1000) > 100 {
		t.Errorf("loudest band %d centred at %.0f Hz, want about 1 kHz", arg, f)
	}
	if _, err := NewFeatureExtractor(0); err == nil {
		t.Error("0 mel bins accepted")
	}
}
