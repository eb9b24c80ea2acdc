package quantize

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"

	"github.com/transcept/transcept/gpu-runtime/optimum"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/gpu-runtime/seq2seq"
)

// Quality is one dtype measured against float32 on the same folder.
type Quality struct {
	DType string
	// LogitRelErr and LogitCosine compare the first decoder step's logits
	// (all rows of the batch together) with float32's.
	LogitRelErr, LogitCosine float64
	// TokenAgreement is the share of generated positions where greedy
	// decoding picks float32's token; Prefix the mean length of the run of
	// equal tokens from the start.
	TokenAgreement, Prefix float64
	Steps                  int
	// Margin is float32's mean gap between the best and the second-best
	// first-step logit, in standard deviations of that row's logits: how
	// far apart greedy's choices are (small on random weights).
	Margin float64
	// MsPerToken is the greedy generation's wall time per generated token
	// (encoder included), one run.
	MsPerToken float64
	// StepMs is one cached decoder step: (the run's time − a run of one
	// step) / (steps − 1).
	StepMs float64
	Bytes  int64 // the dtype's model files
}

// CompareOptions sets the fixed input.
type CompareOptions struct {
	Rows, InputLen, Steps int    // default 4 rows of 32 tokens, 64 steps
	Seed                  uint64 // of the random input ids
	Threads               int    // intra-op threads (default 2)
}

// Compare runs greedy decoding of a fixed random input through the
// float32 files of dir and each dtype's files in qdir ("": dir too), and
// measures the differences.
func Compare(dir, qdir string, dtypes []string, o CompareOptions) ([]Quality, error) {
	if qdir == "" {
		qdir = dir
	}
	if o.Rows == 0 {
		o.Rows = 4
	}
	if o.InputLen == 0 {
		o.InputLen = 32
	}
	if o.Steps == 0 {
		o.Steps = 64
	}
	if o.Threads == 0 {
		o.Threads = 2
	}
	stepMs := map[string]float64{}
	run := func(dtype string) (*seq2seq.Result, float64, int64, int, error) {
		from := qdir
		if dtype == "fp32" {
			from = dir
		}
		m, err := optimum.LoadSeq2SeqDType(from, dtype, ort.Options{IntraOpThreads: o.Threads, InterOpThreads: 1})
		if err != nil {
			return nil, 0, 0, 0, err
		}
		defer m.Close()
		r := rand.New(rand.NewPCG(o.Seed, 7))
		ids := make([][]int, o.Rows)
		for i := range ids {
			ids[i] = make([]int, o.InputLen)
			for j := range ids[i] {
				ids[i][j] = 3 + r.IntN(m.Vocab-3)
			}
		}
		in, mask := seq2seq.Pad(ids, 1)
		off := -1
		length := o.Steps + 1
		// warm-up, then one timed run
		if _, err := seq2seq.Greedy(m, in, mask, seq2seq.Options{MaxLength: 3, MinLength: 3, ForcedEOS: &off}); err != nil {
			return nil, 0, 0, 0, err
		}
		t0 := time.Now()
		if _, err := seq2seq.Greedy(m, in, mask, seq2seq.Options{MaxLength: 2, MinLength: 2, ForcedEOS: &off}); err != nil {
			return nil, 0, 0, 0, err
		}
		one := time.Since(t0)
		t0 = time.Now()
		res, err := seq2seq.Greedy(m, in, mask, seq2seq.Options{MaxLength: length, MinLength: length, ForcedEOS: &off})
		if err != nil {
			return nil, 0, 0, 0, err
		}
		all := time.Since(t0)
		ms := float64(all.Microseconds()) / 1000 / float64(o.Steps)
		stepMs[dtype] = float64((all - one).Microseconds()) / 1000 / float64(max(o.Steps-1, 1))
		var size int64
		for _, p := range []string{m.Seq2SeqFiles.Encoder, m.Seq2SeqFiles.Decoder, m.Seq2SeqFiles.DecoderWithPast} {
			if p != "" {
				size += fileBytes(p, nil)
			}
		}
		return res, ms, size, m.Vocab, nil
	}
	ref, refMs, refBytes, _, err := run("fp32")
	if err != nil {
		return nil, err
	}
	var margin float64
	for _, row := range ref.FirstLogits {
		var mean, sq float64
		b1, b2 := math.Inf(-1), math.Inf(-1)
		for _, v := range row {
			x := float64(v)
			mean += x
			sq += x * x
			if x > b1 {
				b1, b2 = x, b1
			} else if x > b2 {
				b2 = x
			}
		}
		mean /= float64(len(row))
		sd := math.Sqrt(max(sq/float64(len(row))-mean*mean, 1e-30))
		margin += (b1 - b2) / sd / float64(len(ref.FirstLogits))
	}
	out := []Quality{{DType: "fp32", Margin: margin, LogitCosine: 1, TokenAgreement: 1, Prefix: float64(o.Steps), Steps: o.Steps, MsPerToken: refMs, StepMs: stepMs["fp32"], Bytes: refBytes}}
	for _, d := range dtypes {
		res, ms, size, _, err := run(d)
		if err != nil {
			return nil, err
		}
		q := Quality{DType: d, Margin: margin, Steps: o.Steps, MsPerToken: ms, StepMs: stepMs[d], Bytes: size}
		var dd, yy, qq, yq float64
		for r := range ref.FirstLogits {
			for i, a := range ref.FirstLogits[r] {
				b := float64(res.FirstLogits[r][i])
				dd += (float64(a) - b) * (float64(a) - b)
				yy += float64(a) * float64(a)
				qq += b * b
				yq += float64(a) * b
			}
		}
		q.LogitRelErr, q.LogitCosine = math.Sqrt(dd/yy), yq/math.Sqrt(yy*qq)
		same, total, prefix := 0, 0, 0
		for r := range ref.IDs {
			run := true
			for t := 1; t <= o.Steps && t < len(ref.IDs[r]) && t < len(res.IDs[r]); t++ {
				total++
				if ref.IDs[r][t] == res.IDs[r][t] {
					same++
					if run {
						prefix++
					}
				} else {
					run = false
				}
			}
		}
		q.TokenAgreement = float64(same) / float64(max(total, 1))
		q.Prefix = float64(prefix) / float64(len(ref.IDs))
		out = append(out, q)
	}
	return out, nil
}

// WriteTable prints qualities as a Markdown table.
func WriteTable(w io.Writer, qs []Quality) {
	fmt.Fprintln(w, "| dtype | model files | logits rel. error | logits cosine | greedy tokens equal | equal prefix (of steps) | ms/token | decoder step ms |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	base := float64(qs[0].Bytes)
	defer fmt.Fprintf(w, "\nfp32's first-step top-1 margin: %.3f standard deviations of the logits\n", qs[0].Margin)
	for _, q := range qs {
		fmt.Fprintf(w, "| %s | %.1f MB (%.0f%%) | %.4f | %.5f | %.1f%% | %.1f / %d | %.2f | %.2f |\n", q.DType, float64(q.Bytes)/1e6, 100*float64(q.Bytes)/base,
			q.LogitRelErr, q.LogitCosine, 100*q.TokenAgreement, q.Prefix, q.Steps, q.MsPerToken, q.StepMs)
	}
}
