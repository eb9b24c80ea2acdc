// Package lecture holds Transcept's domain: lectures, transcripts, chunks,
// summaries, answers, the one error type with codes, and the interfaces of the
// services around them. It imports nothing outside the standard library, so
// every adapter (object store, cache, engines) depends on it and not the
// other way round.
package lecture
