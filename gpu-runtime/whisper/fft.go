package whisper

import "math"

// rfft is a real-input FFT of even size n, computed as a complex FFT of
// size n/2 (even samples as real parts, odd as imaginary) and one
// post-processing pass. The complex FFT is a Stockham autosort FFT with
// radix 4, 2 and 5 passes (n/2 = 200 = 4·2·5·5 for Whisper) and
// precomputed twiddles. It allocates nothing per transform; one rfft is
// not safe for concurrent use (give each goroutine its own).
type rfft struct {
	n       int
	half    int
	radices []int
	tw      [][]complex128 // per pass: w^(p·j) for p < m, j < r (m·r entries)
	post    []complex128   // e^(−2πik/n), k ≤ n/2
	a, b    []complex128   // work buffers of n/2
}

func newRFFT(n int) *rfft {
	h := n / 2
	f := &rfft{n: n, half: h, a: make([]complex128, h), b: make([]complex128, h)}
	rest := h
	for _, r := range []int{4, 2, 3, 5} {
		for rest%r == 0 {
			f.radices = append(f.radices, r)
			rest /= r
		}
	}
	for p := 2; rest > 1; p++ { // any other prime factors: generic passes
		for rest%p == 0 {
			f.radices = append(f.radices, p)
			rest /= p
		}
	}
	size := h
	for _, r := range f.radices {
		m := size / r
		tw := make([]complex128, m*r)
		for p := range m {
			for j := range r {
				tw[p*r+j] = cis(-2 * math.Pi * float64(p*j) / float64(size))
			}
		}
		f.tw = append(f.tw, tw)
		size = m
	}
	f.post = make([]complex128, h+1)
	for k := range f.post {
		f.post[k] = cis(-2 * math.Pi * float64(k) / float64(n))
	}
	return f
}

func cis(x float64) complex128 { return complex(math.Cos(x), math.Sin(x)) }

// transform computes the power spectrum |X[k]|², k = 0 … n/2, of x (length n).
func (f *rfft) power(x []float64, pow []float64) {
	h := f.half
	for i := range h {
		f.a[i] = complex(x[2*i], x[2*i+1])
	}
	z := f.complexFFT()
	// X[k] = (Z[k] + conj Z[h−k])/2 − i·e^(−2πik/n)·(Z[k] − conj Z[h−k])/2
	for k := 0; k <= h; k++ {
		zk, zc := z[k%h], z[(h-k)%h]
		zc = complex(real(zc), -imag(zc))
		e := (zk + zc) * 0.5
		o := (zk - zc) * complex(0, -0.5)
		xk := e + f.post[k]*o
		pow[k] = real(xk)*real(xk) + imag(xk)*imag(xk)
	}
}

// complexFFT transforms f.a in place (Stockham: ping-pong between a and b)
// and returns the buffer holding the result.
func (f *rfft) complexFFT() []complex128 {
	x, y := f.a, f.b
	n := f.half
	s := 1 // stride
	for pass, r := range f.radices {
		m := n / r
		tw := f.tw[pass]
		switch r {
		case 2:
			for p := range m {
				w1 := tw[p*2+1]
				for q := range s {
					a0, a1 := x[q+s*p], x[q+s*(p+m)]
					y[q+s*(2*p)] = a0 + a1
					y[q+s*(2*p+1)] = (a0 - a1) * w1
				}
			}
		case 4:
			for p := range m {
				w1, w2, w3 := tw[p*4+1], tw[p*4+2], tw[p*4+3]
				for q := range s {
					a0, a1, a2, a3 := x[q+s*p], x[q+s*(p+m)], x[q+s*(p+2*m)], x[q+s*(p+3*m)]
					t0, t1 := a0+a2, a0-a2
					t2, t3 := a1+a3, a1-a3
					t3 = complex(imag(t3), -real(t3)) // −i·t3
					y[q+s*(4*p)] = t0 + t2
					y[q+s*(4*p+1)] = (t1 + t3) * w1
					y[q+s*(4*p+2)] = (t0 - t2) * w2
					y[q+s*(4*p+3)] = (t1 - t3) * w3
				}
			}
		case 5:
			const (
				c1 = 0.30901699437494745 // cos(2π/5)
				c2 = -0.8090169943749475 // cos(4π/5)
				s1 = 0.9510565162951535  // sin(2π/5)
				s2 = 0.5877852522924731  // sin(4π/5)
			)
			for p := range m {
				w1, w2, w3, w4 := tw[p*5+1], tw[p*5+2], tw[p*5+3], tw[p*5+4]
				for q := range s {
					a0 := x[q+s*p]
					a1, a2, a3, a4 := x[q+s*(p+m)], x[q+s*(p+2*m)], x[q+s*(p+3*m)], x[q+s*(p+4*m)]
					b1, b4 := a1+a4, a1-a4
					b2, b3 := a2+a3, a2-a3
					r1 := a0 + complex(c1, 0)*b1 + complex(c2, 0)*b2
					r2 := a0 + complex(c2, 0)*b1 + complex(c1, 0)*b2
					// −i·(s1·b4 + s2·b3) and −i·(s2·b4 − s1·b3)
					i1 := complex(s1, 0)*b4 + complex(s2, 0)*b3
					i2 := complex(s2, 0)*b4 - complex(s1, 0)*b3
					i1 = complex(imag(i1), -real(i1))
					i2 = complex(imag(i2), -real(i2))
					y[q+s*(5*p)] = a0 + b1 + b2
					y[q+s*(5*p+1)] = (r1 + i1) * w1
					y[q+s*(5*p+2)] = (r2 + i2) * w2
					y[q+s*(5*p+3)] = (r2 - i2) * w3
					y[q+s*(5*p+4)] = (r1 - i1) * w4
				}
			}
		default: // generic radix-r DFT butterfly
			for p := range m {
				for q := range s {
					for j := range r {
						var acc complex128
						for k := range r {
							acc += x[q+s*(p+k*m)] * cis(-2*math.Pi*float64(j*k%r)/float64(r))
						}
						y[q+s*(r*p+j)] = acc * tw[p*r+j]
					}
				}
			}
		}
		x, y = y, x
		n = m
		s *= r
	}
	return x
}
