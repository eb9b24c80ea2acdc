package quantize

import (
	"math"
	"math/rand/v2"
)

// measureRows is how many rows of the fixed random input each quantised
// MatMul is measured on.
const measureRows = 8

// measure compares X·B with X·B̂ (B̂ the dequantised weight, X a fixed
// standard-normal input; with dynamic, X is first rounded as
// DynamicQuantizeLinear does) and returns the relative error ‖Y−Ŷ‖/‖Y‖
// and the cosine of the two outputs.
func measure(k, n int, at, deq func(i, j int) float32, dynamic bool) (rel, cos float64) {
	r := rand.New(rand.NewPCG(uint64(k), uint64(n)))
	x := make([]float64, measureRows*k)
	for i := range x {
		x[i] = r.NormFloat64()
	}
	xq := x
	if dynamic {
		lo, hi := 0.0, 0.0
		for _, v := range x {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		s := (hi - lo) / 255
		zp := math.RoundToEven(-lo / s)
		xq = make([]float64, len(x))
		for i, v := range x {
			xq[i] = (min(255, max(0, math.RoundToEven(v/s)+zp)) - zp) * s
		}
	}
	var dd, yy, yq, qq float64
	bcol := make([]float64, k)
	qcol := make([]float64, k)
	for j := range n {
		for i := range k {
			bcol[i], qcol[i] = float64(at(i, j)), float64(deq(i, j))
		}
		for row := range measureRows {
			var a, b float64
			for i := range k {
				a += x[row*k+i] * bcol[i]
				b += xq[row*k+i] * qcol[i]
			}
			dd += (a - b) * (a - b)
			yy += a * a
			qq += b * b
			yq += a * b
		}
	}
	if yy == 0 {
		return 0, 1
	}
	return math.Sqrt(dd / yy), yq / math.Sqrt(yy*qq)
}
