package orttest

import (
	"math"
	"testing"
)

// Tol is how far a float result may be from a reference that another
// machine (another CPU, other kernels) computed: |got − want| ≤ Abs +
// Rel·|want|. The zero Tol asks for equality, for two runs on one machine.
// Say beside each Tol why float32 accumulation justifies it.
type Tol struct{ Abs, Rel float64 }

// Within reports whether got is within tol of want.
func (tol Tol) Within(got, want float64) bool {
	return math.Abs(got-want) <= tol.Abs+tol.Rel*math.Abs(want)
}

// Compare fails tb, naming label and the first few elements, where got is
// not within tol of want, and returns the largest |got − want| (0: equal).
func Compare[F float32 | float64](tb testing.TB, label string, got, want []F, tol Tol) float64 {
	tb.Helper()
	if len(got) != len(want) {
		tb.Errorf("%s: %d values, reference %d", label, len(got), len(want))
		return math.Inf(1)
	}
	worst, bad := 0.0, 0
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		worst = max(worst, math.Abs(g-w))
		if !tol.Within(g, w) {
			if bad++; bad <= 3 {
				tb.Errorf("%s [%d]: %.9g, reference %.9g (off by %.3g; tolerance %g + %g·|reference|)", label, i, g, w, g-w, tol.Abs, tol.Rel)
			}
		}
	}
	if bad > 3 {
		tb.Errorf("%s: %d of %d values out of tolerance in all", label, bad, len(got))
	}
	return worst
}
