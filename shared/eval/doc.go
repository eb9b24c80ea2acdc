// Package eval holds the evaluation code for Transcept's lecture
// summarisation: ROUGE-1/2/L/Lsum with the exact semantics of Google's
// rouge-score package (use_stemmer=True, including NLTK's Porter stemmer),
// word error rate for transcripts (the one WER), loaders for the shared
// evaluation data (SummEval-100, QMSum, speech clips) kept outside the
// repository at ../shared/data (see DataDir), and the runners that score
// the engines on them (SummEval, QMSum, Retrieval, AnswerCoverage,
// TranscriptionWER), behind `transcept eval`.
//
// testdata/gen_reference.py regenerates the reference stems and ROUGE values
// the tests compare against, using Debian's python3-nltk.
package eval
