package summarize

import (
	"github.com/transcept/transcept/gpu-runtime/model"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/gpu-runtime/seq2seq"
)

// This file is the one place that knows which generation gpu-runtime/seq2seq
// offers. Two switches wait for it:
//
//   - beam search: when seq2seq gains Beam (num_beams, length_penalty,
//     no_repeat_ngram_size, early_stopping, as BART-large-CNN's
//     generation_config.json asks for), generate calls it when the folder's
//     NumBeams > 1 (with NumReturnSequences 1: one row per window) and
//     beamAvailable becomes true;
//   - LoRA adapters: when seq2seq.Options can carry *ort.RunOptions (so every
//     encoder and decoder Run activates the adapter), generate passes ro on
//     and runOptionsSupported becomes true. Until then Load refuses an
//     adapter rather than summarise with the base model under the adapter's
//     identity.

// beamAvailable says whether generate runs beam search for folders that ask
// for it; false: greedy decoding always.
const beamAvailable = false

// runOptionsSupported says whether generate can activate a LoRA adapter.
const runOptionsSupported = false

// generate runs the model on a padded batch. ro is the run options with the
// adapter active (nil without one).
func generate(m *model.Seq2Seq, ids, mask [][]int, o seq2seq.Options, ro *ort.RunOptions) (*seq2seq.Result, error) {
	_ = ro // see runOptionsSupported
	return seq2seq.Greedy(m, ids, mask, o)
}
