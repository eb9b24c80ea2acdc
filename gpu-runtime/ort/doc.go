// Package ort is Transcept's one adapter to ONNX Runtime: it finds and loads
// the shared library once per process, builds sessions with our thread,
// graph-optimisation and execution-provider settings (CUDA when present,
// CPU otherwise, and says which one runs), checks a model's inputs before
// ONNX Runtime spends seconds on it, and moves tensors in and out.
//
// Everything that runs a model (seq2seq generation, Whisper, embeddings)
// goes through this package and never imports onnxruntime_go itself, so the
// library discovery, the errors people see when it is missing, and the
// provider choice live in one place.
//
// Loading a large model spends seconds in ONNX Runtime parsing protobuf,
// rewriting the graph and prepacking weights. With Options.OptimizedCacheDir
// the optimised graph is saved once in ONNX Runtime's own format and later
// sessions run from that file memory-mapped, weights in place (cache.go);
// Options.NoPrepack skips the prepacking as well. Session.RunStats counts
// the time spent inside Run, so callers can tell the model's time from
// their own.
//
// ONNX Runtime needs cgo. Built with CGO_ENABLED=0 the package still
// compiles (ort_nocgo.go): every entry point returns a clear
// lecture.EUNAVAILABLE error, like hugot's disabled backends, so pure-Go
// binaries (the Knative func builder forces CGO_ENABLED=0) keep working with
// the embedded engines.
package ort
