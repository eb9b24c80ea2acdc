package whisper

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestRFFTAgainstDFT(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{400, 16, 10, 50, 200, 42, 2 * 7 * 11} {
		f := newRFFT(n)
		x := make([]float64, n)
		for i := range x {
			x[i] = rng.Float64()*2 - 1
		}
		got := make([]float64, n/2+1)
		f.power(x, got)
		for k := range got {
			var re, im float64
			for j, v := range x {
				a := -2 * math.Pi * float64(j*k%n) / float64(n)
				re += v * math.Cos(a)
				im += v * math.Sin(a)
			}
			want := re*re + im*im
			if math.Abs(got[k]-want) > 1e-9*(1+want) {
				t.Fatalf("n=%d bin %d: %g, want %g", n, k, got[k], want)
			}
		}
	}
}
