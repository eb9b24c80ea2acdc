// Package whisper is the transcription engine: a lecture.Transcriber over a
// Whisper folder (Optimum export) on ONNX Runtime.
//
//   - the log-mel front end (FeatureExtractor: 80 or 128 bins, n_fft 400,
//     hop 160, periodic Hann, reflect padding, Slaney filterbank, log10 clamp
//     and scaling, 30 s windows), equal to transformers.js's
//     WhisperFeatureExtractor within float32 rounding, with a real FFT of
//     size 400 (radix 4·2·5·5 on 200 complex points) and frames split over
//     cores (logmel.go, mel.go, fft.go);
//   - the model and greedy decoding with timestamps (model.go, decode.go),
//     language detection (lang.go) and the segments of a window
//     (segments.go);
//   - long-form transcription by 30-second windows with seeking and
//     temperature fallback, as openai-whisper does (transcribe.go);
//   - batched long-form transcription: the speech merged into chunks of at
//     most 30 s, several chunks encoded and decoded as one batch, finished
//     rows leaving it, temperature fallback per row (batch.go);
//   - Silero voice-activity detection ahead of it, so that only speech is
//     decoded (vad.go, vadsegments.go).
package whisper
