package summarize

import (
	"github.com/transcept/transcept/gpu-runtime/model"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/gpu-runtime/seq2seq"
)

// This file is the one place that knows which generation gpu-runtime/seq2seq
// offers:
//
//   - beam search: seq2seq.Generate runs Beam when the folder's
//     generation_config.json asks for num_beams > 1 (BART-large-CNN does),
//     greedy otherwise; one row per window;
//   - LoRA adapters: seq2seq.Options carries *ort.RunOptions to every run,
//     but an encoder-decoder adapter holds weights for both graphs, and each
//     session accepts only its own inputs: the adapter has to be split per
//     session first. Until that lands Load refuses an adapter rather than
//     summarise with the base model under the adapter's identity.

// beamAvailable says whether generate runs beam search for folders that ask
// for it; false: greedy decoding always.
const beamAvailable = true

// runOptionsSupported says whether generate can activate a LoRA adapter.
const runOptionsSupported = false

// generate runs the model on a padded batch. ro is the run options with the
// adapter active (nil without one).
func generate(m *model.Seq2Seq, ids, mask [][]int, o seq2seq.Options, ro *ort.RunOptions) (*seq2seq.Result, error) {
	o.RunOptions = ro
	o.NumReturnSequences = 1 // one summary per window
	return seq2seq.Generate(m, ids, mask, o)
}
