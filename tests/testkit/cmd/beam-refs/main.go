// Command beam-refs runs our beam search (seq2seq.Beam) on a BART folder
// over a grid of settings that exercise Hugging Face's generate()
// semantics (num_beams, length_penalty, early_stopping,
// no_repeat_ngram_size, min_length, num_return_sequences, forced BOS/EOS,
// max_length), for batch 1 and a padded batch of 2, and writes per case the
// settings, the inputs and our sequences with their scores as JSON.
// hf_compare.py --beam runs Hugging Face on the same folder and file.
//
// gpu-runtime/seq2seq/testdata/beam-tiny.json is its output for the tiny
// folder of the default seed; regenerate it with
//
//	go run ./tests/testkit/cmd/beam-refs -o gpu-runtime/seq2seq/testdata/beam-tiny.json
//
// (without -model it writes the tiny folder, -seed, to a temporary folder).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/transcept/transcept/gpu-runtime/optimum"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/gpu-runtime/seq2seq"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

// Settings are one case's generate() arguments, Hugging Face's names;
// forced ids of -1 mean none.
type Settings struct {
	NumBeams            int     `json:"num_beams"`
	LengthPenalty       float64 `json:"length_penalty"`
	EarlyStopping       any     `json:"early_stopping"` // true, false or "never"
	NoRepeatNGramSize   int     `json:"no_repeat_ngram_size"`
	MinLength           int     `json:"min_length"`
	MaxLength           int     `json:"max_length"`
	NumReturnSequences  int     `json:"num_return_sequences"`
	DecoderStartTokenID int     `json:"decoder_start_token_id"`
	ForcedBOSTokenID    int     `json:"forced_bos_token_id"`
	ForcedEOSTokenID    int     `json:"forced_eos_token_id"`
	EOSTokenID          []int   `json:"eos_token_id"`
	PadTokenID          int     `json:"pad_token_id"`
}

// Case is one generation and our result.
type Case struct {
	Name          string    `json:"name"`
	Settings      Settings  `json:"settings"`
	InputIDs      [][]int   `json:"input_ids"`
	AttentionMask [][]int   `json:"attention_mask"`
	Sequences     [][]int   `json:"sequences"`
	Scores        []float64 `json:"sequences_scores"`
}

// Refs is the file.
type Refs struct {
	Model string `json:"model"`
	Cases []Case `json:"cases"`
}

// Inputs: rows of greedy-tiny.json (the tiny tokenizer's ids).
var (
	long  = []int{0, 120, 261, 275, 268, 270, 268, 36, 265, 263, 281, 268, 2}
	short = []int{0, 115, 111, 2}
)

type override struct {
	name                string
	maxLen              int  // 0: the folder's
	bos, eos            *int // nil: the folder's; -1: none
	early               string
	beams, ngram, minLn int
	ret                 int
	lp                  float64
}

// grid is the settings: every num_beams × length_penalty × early_stopping,
// each once plain and once with no_repeat_ngram_size 2, min_length 6 and
// two returned sequences; then forced-token and max_length variations.
func grid() []override {
	var g []override
	for _, beams := range []int{2, 4} {
		for _, lp := range []float64{0.5, 1, 2} {
			for _, early := range []string{seq2seq.StopHeuristic, seq2seq.StopEarly, seq2seq.StopNever} {
				g = append(g, override{beams: beams, lp: lp, early: early, ret: 1},
					override{beams: beams, lp: lp, early: early, ngram: 2, minLn: 6, ret: 2})
			}
		}
	}
	return append(g,
		override{name: "no-forced-eos", beams: 4, lp: 1, early: seq2seq.StopHeuristic, ret: 4, eos: ptr(-1)},
		override{name: "forced-bos-0", beams: 4, lp: 1, early: seq2seq.StopHeuristic, ret: 2, bos: ptr(0)},
		override{name: "max-length-8", beams: 4, lp: 1, early: seq2seq.StopNever, ret: 2, maxLen: 8},
		override{name: "max-length-8-lp-neg", beams: 4, lp: -1, early: seq2seq.StopNever, ret: 2, maxLen: 8},
		override{name: "ngram-3-min-12", beams: 2, lp: 1, early: seq2seq.StopHeuristic, ret: 2, ngram: 3, minLn: 12},
	)
}

func ptr(v int) *int { return &v }

func earlyJSON(e string) any {
	switch e {
	case seq2seq.StopEarly:
		return true
	case seq2seq.StopNever:
		return "never"
	}
	return false
}

// Run computes every case on m.
func Run(m *optimum.Seq2Seq) (*Refs, error) {
	refs := &Refs{Model: "bart"}
	batches := []struct {
		name string
		rows [][]int
	}{{"batch1", [][]int{long}}, {"batch2", [][]int{long, short}}}
	for _, o := range grid() {
		for _, b := range batches {
			ids, mask := seq2seq.Pad(b.rows, m.Generation.PadTokenID)
			g := m.Generation
			s := Settings{NumBeams: o.beams, LengthPenalty: o.lp, EarlyStopping: earlyJSON(o.early),
				NoRepeatNGramSize: o.ngram, MinLength: g.MinLength, MaxLength: g.MaxLength, NumReturnSequences: o.ret,
				DecoderStartTokenID: g.DecoderStartTokenID, ForcedBOSTokenID: g.ForcedBOSTokenID,
				ForcedEOSTokenID: g.ForcedEOSTokenID, EOSTokenID: g.EOSTokenIDs, PadTokenID: g.PadTokenID}
			if o.minLn > 0 {
				s.MinLength = o.minLn
			}
			if o.maxLen > 0 {
				s.MaxLength = o.maxLen
			}
			if o.bos != nil {
				s.ForcedBOSTokenID = *o.bos
			}
			if o.eos != nil {
				s.ForcedEOSTokenID = *o.eos
			}
			lp := o.lp
			bos, eos := s.ForcedBOSTokenID, s.ForcedEOSTokenID
			res, err := seq2seq.Beam(m, ids, mask, seq2seq.Options{
				NumBeams: o.beams, LengthPenalty: &lp, EarlyStopping: o.early, NoRepeatNGramSize: o.ngram,
				MinLength: s.MinLength, MaxLength: s.MaxLength, NumReturnSequences: o.ret,
				ForcedBOS: &bos, ForcedEOS: &eos})
			if err != nil {
				return nil, err
			}
			name := o.name
			if name == "" {
				name = fmt.Sprintf("beams%d-lp%g-early_%s-ngram%d-min%d-ret%d", o.beams, o.lp, o.early, o.ngram, s.MinLength, o.ret)
			}
			refs.Cases = append(refs.Cases, Case{Name: name + "-" + b.name, Settings: s, InputIDs: ids,
				AttentionMask: mask, Sequences: res.IDs, Scores: res.Scores})
		}
	}
	return refs, nil
}

// Encode writes refs one case a line.
func Encode(refs *Refs) ([]byte, error) {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "{\"model\": %q, \"cases\": [\n", refs.Model)
	for i, c := range refs.Cases {
		b, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		buf.Write(b)
		if i < len(refs.Cases)-1 {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
	}
	buf.WriteString("]}\n")
	return buf.Bytes(), nil
}

// writeTiny writes the tiny folder of seed into a new temporary folder.
func writeTiny(seed uint64) (string, error) {
	dir, err := os.MkdirTemp("", "beam-refs-")
	if err != nil {
		return "", err
	}
	c := testmodels.Tiny()
	c.Seed = seed
	return dir, testmodels.WriteBART(dir, c)
}

func main() {
	out := flag.String("o", "", "output JSON (default: standard output)")
	dir := flag.String("model", "", "BART folder (default: the tiny folder of -seed, written to a temporary folder)")
	seed := flag.Uint64("seed", 1, "random seed of the tiny folder")
	flag.Parse()
	if err := run(*dir, *seed, *out); err != nil {
		fmt.Fprintln(os.Stderr, "beam-refs:", err)
		os.Exit(1)
	}
}

func run(dir string, seed uint64, out string) error {
	if dir == "" {
		d, err := writeTiny(seed)
		defer os.RemoveAll(d)
		if err != nil {
			return err
		}
		dir = d
	}
	m, err := optimum.LoadSeq2Seq(dir, ort.Options{IntraOpThreads: 1})
	if err != nil {
		return err
	}
	defer m.Close()
	refs, err := Run(m)
	if err != nil {
		return err
	}
	b, err := Encode(refs)
	if err != nil {
		return err
	}
	if out == "" {
		_, err = os.Stdout.Write(b)
		return err
	}
	return os.WriteFile(out, b, 0o644)
}
