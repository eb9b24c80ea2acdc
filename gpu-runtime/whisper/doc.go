// Package whisper holds the Whisper speech model's CPU-side pieces. So far:
// the log-mel front end (FeatureExtractor: 80 or 128 bins, n_fft 400, hop
// 160, periodic Hann, reflect padding, Slaney filterbank, log10 clamp and
// scaling, 30 s windows), equal to transformers.js's
// WhisperFeatureExtractor within float32 rounding, with a real FFT of size
// 400 (radix 4·2·5·5 on 200 complex points) and frames split over cores.
package whisper
