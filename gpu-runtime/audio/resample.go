package audio

import "math"

// Resampler converts a stream of mono samples from one rate to another with
// a Kaiser-windowed sinc filter evaluated as a polyphase bank.
//
// Written here rather than taken from a library: the Go resamplers available
// as modules either wrap libsoxr/libsamplerate through cgo (a C dependency
// for the one path that is meant to need nothing but Go) or use linear or
// cubic interpolation, which aliases when going down from 44.1 or 48 kHz to
// 16 kHz. A band-limited polyphase filter is about 150 lines and streams
// with constant memory.
//
// For a rate ratio L/M (in lowest terms) output sample n sits at input time
// t = n·M/L; it is Σ x[k]·h(t−k) over the 2K input samples nearest t, where
// h is a sinc low-pass with its cut-off at 0.95 of the lower Nyquist
// frequency, windowed by a Kaiser window (β 8.6, about −90 dB side lobes)
// over ±24 zero crossings. When L is at most 4096 the L phases of h are
// tabulated once; otherwise (odd rates such as 44101 Hz) the taps are
// computed per output sample. Sample 0 of the output is aligned with sample
// 0 of the input (no filter delay), and the signal is taken as zero before
// its start and after its end.
type Resampler struct {
	from, to int
	l, m     int64 // to/from in lowest terms: L up, M down
	k        int   // taps each side
	fc       float64
	phases   [][]float64 // [phase][2K] when tabulated
	taps     []float64   // scratch for untabulated phases

	buf  []float64 // input history: buf[0] is input sample base
	base int64
	n    int64 // next output sample
	in   int64 // input samples received
}

const (
	resampleZeros   = 24
	resampleRolloff = 0.95
	resampleBeta    = 8.6
	maxPhaseTable   = 4096
)

// NewResampler returns a resampler from rate from to rate to (both in Hz, > 0).
func NewResampler(from, to int) *Resampler {
	g := gcd(from, to)
	r := &Resampler{from: from, to: to, l: int64(to / g), m: int64(from / g)}
	r.fc = resampleRolloff * math.Min(1, float64(r.l)/float64(r.m))
	r.k = int(math.Ceil(resampleZeros / r.fc))
	if r.l <= maxPhaseTable {
		r.phases = make([][]float64, r.l)
		for p := range r.phases {
			r.phases[p] = r.kernel(p, make([]float64, 2*r.k))
		}
	} else {
		r.taps = make([]float64, 2*r.k)
	}
	return r
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// kernel fills dst with h(p/L − j) for j = −K+1 … K, normalised to sum 1 so
// that DC passes unchanged whatever the phase.
func (r *Resampler) kernel(p int, dst []float64) []float64 {
	frac := float64(p) / float64(r.l)
	w := float64(resampleZeros) / r.fc // half-width in input samples
	i0b := besselI0(resampleBeta)
	sum := 0.0
	for idx := range dst {
		j := idx - r.k + 1
		t := frac - float64(j)
		v := 0.0
		if math.Abs(t) < w {
			x := r.fc * t
			s := 1.0
			if x != 0 {
				s = math.Sin(math.Pi*x) / (math.Pi * x)
			}
			q := t / w
			v = r.fc * s * besselI0(resampleBeta*math.Sqrt(1-q*q)) / i0b
		}
		dst[idx] = v
		sum += v
	}
	if sum != 0 {
		for idx := range dst {
			dst[idx] /= sum
		}
	}
	return dst
}

// besselI0 is the zeroth-order modified Bessel function of the first kind.
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	h := x * x / 4
	for k := 1; k < 200; k++ {
		term *= h / float64(k*k)
		sum += term
		if term < sum*1e-17 {
			break
		}
	}
	return sum
}

// Process feeds in and appends to out every output sample that can now be
// computed; it returns out.
func (r *Resampler) Process(in []float32, out []float32) []float32 {
	if r.from == r.to {
		return append(out, in...)
	}
	for _, v := range in {
		r.buf = append(r.buf, float64(v))
	}
	r.in += int64(len(in))
	return r.drain(out, false)
}

// Flush appends the remaining output samples, treating the input as zero
// past its end, so that the output has ceil(inputs·to/from) samples. The
// resampler is then reset for a new stream.
func (r *Resampler) Flush(out []float32) []float32 {
	if r.from != r.to {
		out = r.drain(out, true)
	}
	r.buf, r.base, r.n, r.in = r.buf[:0], 0, 0, 0
	return out
}

func (r *Resampler) drain(out []float32, final bool) []float32 {
	k := int64(r.k)
	total := (r.in*r.l + r.m - 1) / r.m // outputs for the whole input so far
	for ; r.n < total; r.n++ {
		pos := r.n * r.m
		i, p := pos/r.l, int(pos%r.l)
		if !final && i+k >= r.in {
			break // needs input not yet seen
		}
		var h []float64
		if r.phases != nil {
			h = r.phases[p]
		} else {
			h = r.kernel(p, r.taps)
		}
		acc := 0.0
		start := i - k + 1 // absolute index of h[0]'s sample
		for idx, c := range h {
			a := start + int64(idx) - r.base
			if a < 0 || a >= int64(len(r.buf)) {
				continue // before the start (dropped history is never needed) or past the end
			}
			acc += c * r.buf[a]
		}
		out = append(out, float32(acc))
	}
	// Drop history no later output needs: the next output reads from
	// floor(n·M/L) − K + 1 on.
	keep := (r.n*r.m)/r.l - k + 1
	if drop := keep - r.base; drop > 0 {
		if drop > int64(len(r.buf)) {
			drop = int64(len(r.buf))
		}
		n := copy(r.buf, r.buf[drop:])
		r.buf = r.buf[:n]
		r.base += drop
	}
	return out
}
