package causal

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/transcept/transcept/shared/lecture"
)

// Sampling asks for multinomial sampling instead of greedy decoding.
// Temperature, top-k and top-p are applied in Hugging Face's order
// (TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper, softmax).
type Sampling struct {
	Temperature float64 // > 0; 1 leaves the logits as they are
	TopK        int     // keep the K most likely tokens; 0 keeps all
	TopP        float64 // nucleus: keep the fewest most likely tokens whose probability reaches TopP; 0 or 1 keeps all
	// Seed makes the draws reproducible: the same seed, model and prompt
	// give the same tokens.
	Seed uint64
}

func (s *Sampling) check() error {
	switch {
	case !(s.Temperature > 0) || math.IsInf(s.Temperature, 0):
		return lecture.Errorf(lecture.EINVALID, "sampling temperature %g must be > 0 (use greedy decoding for 0)", s.Temperature)
	case s.TopK < 0:
		return lecture.Errorf(lecture.EINVALID, "top_k %d must be ≥ 0", s.TopK)
	case s.TopP < 0 || s.TopP > 1 || math.IsNaN(s.TopP):
		return lecture.Errorf(lecture.EINVALID, "top_p %g must be in [0, 1]", s.TopP)
	}
	return nil
}

// Sampler draws tokens from logits with a deterministic PRNG (PCG seeded
// from Sampling.Seed). It is not safe for concurrent use.
type Sampler struct {
	s   Sampling
	rng *rand.Rand
}

// NewSampler checks the settings and seeds the generator.
func NewSampler(s Sampling) (*Sampler, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return &Sampler{s: s, rng: rand.New(rand.NewPCG(s.Seed, 0x7e57ca5a1))}, nil
}

// Distribution is the probability of every token after temperature, top-k
// and top-p (0 for the tokens they remove), as Hugging Face computes it:
//
//   - temperature: each logit divided by it (rounded to float32, as
//     transformers.js's TemperatureLogitsWarper stores it);
//   - top-k: tokens below the K-th largest logit set to −∞ (ties at the
//     K-th kept);
//   - top-p: tokens sorted by ascending logit; those whose cumulative
//     softmax probability is ≤ 1 − top_p removed, the most likely one always
//     kept;
//   - softmax over what is left.
func (s *Sampler) Distribution(logits []float32) []float64 {
	return distribution(logits, s.s)
}

func distribution(logits []float32, s Sampling) []float64 {
	n := len(logits)
	x := make([]float64, n)
	for i, l := range logits {
		x[i] = float64(l)
		if s.Temperature != 1 {
			x[i] = float64(float32(float64(l) / s.Temperature))
		}
	}
	inf := math.Inf(-1)
	if s.TopK > 0 && s.TopK < n {
		sorted := slices.Clone(x)
		slices.SortFunc(sorted, func(a, b float64) int { return cmp.Compare(b, a) })
		kth := sorted[s.TopK-1]
		for i := range x {
			if x[i] < kth {
				x[i] = inf
			}
		}
	}
	if s.TopP > 0 && s.TopP < 1 {
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(x[a], x[b]) })
		p := softmax(x)
		cum := 0.0
		for _, i := range order[:n-1] { // the most likely token is always kept
			cum += p[i]
			if cum > 1-s.TopP {
				break // the cumulative sum only grows: the rest stay
			}
			x[i] = inf
		}
	}
	return softmax(x)
}

// softmax in float64; −∞ entries get 0.
func softmax(x []float64) []float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = max(m, v)
	}
	out := make([]float64, len(x))
	sum := 0.0
	for i, v := range x {
		if !math.IsInf(v, -1) {
			out[i] = math.Exp(v - m)
			sum += out[i]
		}
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

// Sample draws one token id from the processed distribution.
func (s *Sampler) Sample(logits []float32) int {
	return draw(s.Distribution(logits), s.rng.Float64())
}

// draw is the first index whose cumulative probability exceeds u.
func draw(p []float64, u float64) int {
	cum, last := 0.0, 0
	for i, q := range p {
		if q == 0 {
			continue
		}
		cum += q
		last = i
		if u < cum {
			return i
		}
	}
	return last // rounding left u ≥ the total
}
