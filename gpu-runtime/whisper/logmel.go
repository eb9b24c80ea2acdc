package whisper

import (
	"math"
	"runtime"
	"sync"

	"github.com/transcept/transcept/shared/lecture"
)

// Whisper's front end.
const (
	SampleRate   = 16000
	NFFT         = 400    // 25 ms frames
	HopLength    = 160    // 10 ms hop
	ChunkSamples = 480000 // 30 s: every input is padded or cut to this
	ChunkFrames  = 3000   // frames per chunk: ChunkSamples/HopLength
)

// FeatureExtractor computes Whisper's log-mel spectrogram, as
// WhisperFeatureExtractor in transformers (and openai-whisper's
// log_mel_spectrogram on a 30 s window): the samples are padded with zeros
// or cut to 30 s, reflect-padded by NFFT/2 at both ends, cut into frames of
// 400 every 160 samples (the last frame dropped: 3000 frames), windowed by
// a periodic Hann window, and turned into power spectra; the mel filterbank
// maps those to nMels bands; values are floored at 1e-10, log10 taken,
// clamped below at (maximum − 8) and scaled as (x + 4)/4.
//
// A FeatureExtractor is safe for concurrent use.
type FeatureExtractor struct {
	nMels   int
	filters []float64 // nMels × (NFFT/2+1)
	lo, hi  []int     // each filter's non-zero bins [lo, hi)
	window  [NFFT]float64
	workers int
	pool    sync.Pool // *workspace
}

type workspace struct {
	fft   *rfft
	frame []float64
	pow   []float64
}

// NewFeatureExtractor uses the Slaney filterbank MelFilterBank(nMels)
// computes (equal to openai-whisper's mel_filters.npz to 1e-7).
func NewFeatureExtractor(nMels int) (*FeatureExtractor, error) {
	if nMels < 1 || nMels > 512 {
		return nil, lecture.Errorf(lecture.EINVALID, "%d mel bins: Whisper uses 80 or 128", nMels)
	}
	return NewFeatureExtractorWithFilters(nMels, MelFilterBank(nMels))
}

// NewFeatureExtractorWithFilters uses the given filterbank, nMels rows of
// NFFT/2+1 weights (LoadMelFilters reads openai-whisper's).
func NewFeatureExtractorWithFilters(nMels int, filters []float64) (*FeatureExtractor, error) {
	const bins = NFFT/2 + 1
	if nMels < 1 || len(filters) != nMels*bins {
		return nil, lecture.Errorf(lecture.EINVALID, "mel filterbank has %d weights, want %d×%d", len(filters), nMels, bins)
	}
	fe := &FeatureExtractor{nMels: nMels, filters: filters, lo: make([]int, nMels), hi: make([]int, nMels)}
	for m := range nMels {
		row := filters[m*bins : (m+1)*bins]
		lo, hi := bins, 0
		for k, v := range row {
			if v != 0 {
				lo, hi = min(lo, k), k+1
			}
		}
		if hi == 0 {
			lo = 0
		}
		fe.lo[m], fe.hi[m] = lo, hi
	}
	for i := range fe.window { // periodic Hann
		fe.window[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/NFFT)
	}
	fe.workers = min(runtime.GOMAXPROCS(0), 8)
	fe.pool.New = func() any {
		return &workspace{fft: newRFFT(NFFT), frame: make([]float64, NFFT), pow: make([]float64, bins)}
	}
	return fe, nil
}

// NMels is the number of mel bands.
func (fe *FeatureExtractor) NMels() int { return fe.nMels }

// LogMel returns the features of one 30 s window of 16 kHz samples (longer
// input is cut, shorter padded with zeros): NMels rows of ChunkFrames
// values, row-major, the layout of the encoder's input_features [1, nMels,
// 3000].
func (fe *FeatureExtractor) LogMel(samples []float32) []float32 {
	out := make([]float32, fe.nMels*ChunkFrames)
	fe.LogMelInto(out, samples)
	return out
}

// LogMelInto is LogMel writing into dst, which must hold NMels·ChunkFrames values.
func (fe *FeatureExtractor) LogMelInto(dst []float32, samples []float32) {
	if len(dst) < fe.nMels*ChunkFrames {
		panic("whisper: LogMelInto: dst too short")
	}
	if len(samples) > ChunkSamples {
		samples = samples[:ChunkSamples]
	}
	workers := fe.workers
	maxes := make([]float64, workers)
	var wg sync.WaitGroup
	per := (ChunkFrames + workers - 1) / workers
	for w := range workers {
		from, to := w*per, min((w+1)*per, ChunkFrames)
		wg.Add(1)
		go func() {
			defer wg.Done()
			maxes[w] = fe.frames(dst, samples, from, to)
		}()
	}
	wg.Wait()
	top := math.Inf(-1)
	for _, m := range maxes {
		top = max(top, m)
	}
	floor := float32(top - 8)
	for i, v := range dst[:fe.nMels*ChunkFrames] {
		dst[i] = (max(v, floor) + 4) / 4
	}
}

// frames writes log10 mel energies of frames [from, to) into dst
// (transposed: dst[m·ChunkFrames+t]) and returns their maximum.
func (fe *FeatureExtractor) frames(dst []float32, samples []float32, from, to int) float64 {
	ws := fe.pool.Get().(*workspace)
	defer fe.pool.Put(ws)
	const bins = NFFT/2 + 1
	top := math.Inf(-1)
	n := len(samples)
	for t := from; t < to; t++ {
		start := t*HopLength - NFFT/2 // in the unpadded signal
		if start >= 0 && start+NFFT <= n {
			s := samples[start : start+NFFT]
			for j := range NFFT {
				ws.frame[j] = float64(s[j]) * fe.window[j]
			}
		} else {
			for j := range NFFT {
				ws.frame[j] = sampleAt(samples, start+j) * fe.window[j]
			}
		}
		ws.fft.power(ws.frame, ws.pow)
		for m := range fe.nMels {
			row := fe.filters[m*bins : (m+1)*bins]
			acc := 0.0
			for k := fe.lo[m]; k < fe.hi[m]; k++ {
				acc += row[k] * ws.pow[k]
			}
			v := math.Log10(max(acc, 1e-10))
			top = max(top, v)
			dst[m*ChunkFrames+t] = float32(v)
		}
	}
	return top
}

// sampleAt reads the 30 s window, zero-padded past the samples, at index i
// of its reflect-padded extension (i may be < 0 or ≥ ChunkSamples).
func sampleAt(samples []float32, i int) float64 {
	if i < 0 {
		i = -i
	} else if i >= ChunkSamples {
		i = 2*(ChunkSamples-1) - i
	}
	if i < len(samples) {
		return float64(samples[i])
	}
	return 0
}
