package bart

import (
	"github.com/transcept/transcept/gpu-runtime/optimum"
	"github.com/transcept/transcept/gpu-runtime/seq2seq"
)

// This file is the one place that knows which generation gpu-runtime/seq2seq
// offers:
//
//   - beam search: seq2seq.Generate runs Beam when the folder's
//     generation_config.json asks for num_beams > 1 (BART-large-CNN does),
//     greedy otherwise; one row per window;
//   - LoRA adapters: an encoder-decoder adapter holds parameters of both
//     graphs and each session accepts only its own, so Load splits it
//     (lora.Activate) and the options carry one share per session
//     (seq2seq.Options.EncoderRunOptions, DecoderRunOptions).

// generate runs the model on a padded batch; o carries the adapter's run
// options when one is active.
func generate(m *optimum.Seq2Seq, ids, mask [][]int, o seq2seq.Options) (*seq2seq.Result, error) {
	o.NumReturnSequences = 1 // one summary per window
	return seq2seq.Generate(m, ids, mask, o)
}
