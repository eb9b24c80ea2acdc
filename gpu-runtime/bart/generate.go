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
//     (seq2seq.Options.EncoderRunOptions, DecoderRunOptions); every row of
//     a batch runs with the engine's one adapter (or none), so requests
//     batched together never need different adapters;
//   - batches: seq2seq.GenerateRows takes rows of any lengths, drops the
//     finished and the cancelled ones from the decoder's batch, greedy and
//     beam alike (gather.go feeds it).

// generate runs the model on the rows of a batch (seq2seq.GenerateRows:
// padded here, finished and cancelled rows leaving the batch); o carries
// the adapter's run options when one is active, the same for every row.
func generate(m *optimum.Seq2Seq, in []seq2seq.Input, o seq2seq.Options) ([]seq2seq.Output, error) {
	o.NumReturnSequences = 1 // one summary per window
	return seq2seq.GenerateRows(m, in, o)
}
