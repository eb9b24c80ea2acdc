// Package transcript reads lecture transcripts in the formats people bring
// (plain text, speaker turns, SRT, WebVTT, JSON) into a lecture.Transcript,
// and writes a transcript back out as JSON, text, Markdown, SRT or WebVTT.
//
// Parsing is lenient about the noise real files carry (byte-order marks,
// CRLF, missing cue numbers, formatting tags) and strict about what would
// corrupt the domain (bad or inverted timestamps, invalid UTF-8, binary
// data): those fail with a lecture.EINVALID error that says what to fix and
// where. Every parsed segment has non-empty text with whitespace collapsed,
// and either both times absent (Start = End = -1) or 0 <= Start <= End.
package transcript
