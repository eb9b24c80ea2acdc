// Package text prepares transcript text for the engines: Unicode and
// whitespace normalisation, disfluency removal, sentence segmentation that
// copes with unpunctuated speech-recognition output, and chunking into
// token-bounded windows that keep their timestamps.
package text
