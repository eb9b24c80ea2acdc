// Package transcript reads lecture transcripts in the formats people bring
// (plain text, speaker turns, SRT, WebVTT, JSON) into a lecture.Transcript,
// and writes a transcript back out as JSON, text, Markdown, SRT or WebVTT.
//
// Parsing is lenient about the noise real files carry (byte-order marks,
// CRLF, missing cue numbers, formatting tags, malformed subtitle cues among
// good ones, cues out of order) and strict about what would corrupt the
// domain (bad or inverted timestamps in text, binary data, a JSON value
// with trailing data): those fail with a lecture.EINVALID error that says
// what to fix and where. Every parsed segment has non-empty text with
// whitespace collapsed, and either both times absent (Start = End = -1) or
// 0 <= Start <= End.
//
// Encoding: input is UTF-8, or UTF-16 with a byte-order mark. In the text
// formats (text, turns, SRT, WebVTT) bytes that are not valid UTF-8 are read
// as Windows-1252, the encoding of most old subtitle files, so "Caf\xe9"
// reads "Café". JSON must be UTF-8 (RFC 8259): a JSON transcript that is
// not fails with EINVALID naming the offset of the first bad byte.
package transcript
