package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/transcept/transcept/gpu-runtime/embed"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/eval"
	"github.com/transcept/transcept/shared/extractive"
	"github.com/transcept/transcept/shared/pipeline"
	"github.com/transcept/transcept/shared/retrieval"
)

const evalHelp = `Usage: transcept eval summarize|qmsum|retrieval|qa|wer|gate|seed [options]

Scores the embedded engines on the evaluation data (../shared/data beside the
repository, or --data DIR, or TRANSCEPT_EVAL_DATA) with the same ROUGE code
(Google rouge-score semantics) for every system, side by side:

  summarize   SummEval-100 (CNN/DailyMail): ours beside LEAD-3 (M0),
              BART-large-CNN (M22), Pegasus (M23) and T5 (M17)
  qmsum       QMSum "Summarize the whole meeting" at the reference's length,
              ours beside a lead baseline of the same length
  retrieval   BM25 recall@k of the relevant turns of QMSum's specific queries
  qa          how often the answerer answers QMSum's questions on their own
              meeting, and says "not covered" to off-topic ones
  wer         word error rate of the configured Whisper model on jfk, FLEURS
              and (apt install pocketsphinx-testdata) LibriVox clips
  gate        candidate against baseline, exit 1 on a regression: see eval gate --help
  seed        keep the eval set in the store (gate, nightly evaluation): see eval seed --help
`

func cmdEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "gate" {
		return cmdEvalGate(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "seed" {
		return cmdEvalSeed(ctx, args[1:], stdout, stderr)
	}
	fs := newFlags("eval", evalHelp, stderr)
	data := fs.String("data", "", "evaluation data folder (default: TRANSCEPT_EVAL_DATA or ../shared/data)")
	k := fs.Int("k", 5, "passages retrieved per query (retrieval)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{msg: "give one of: summarize, qmsum, retrieval; see --help"}
	}
	dir := *data
	if dir == "" {
		dir = eval.DataDir()
	}
	if _, err := os.Stat(dir); err != nil {
		return usageError{msg: fmt.Sprintf("evaluation data not found at %s: pass --data DIR", dir)}
	}
	sm := extractive.New()
	switch pos[0] {
	case "summarize", "summeval":
		items, err := eval.LoadSummEval(filepath.Join(dir, "summeval", "summeval100.jsonl"))
		if err != nil {
			return err
		}
		t, err := eval.SummEval(ctx, items, sm, []string{"M0", "M22", "M23", "M17"})
		if err != nil {
			return err
		}
		t.Print(stdout)
	case "qmsum":
		for _, split := range []string{"Academic/val", "ALL/val"} {
			ms, err := eval.LoadQMSum(filepath.Join(dir, "qmsum", split))
			if err != nil {
				return err
			}
			t, err := eval.QMSum(ctx, ms, sm, fmt.Sprintf("QMSum %s, general query 1, %d meetings, at the reference's length", split, len(ms)))
			if err != nil {
				return err
			}
			t.Print(stdout)
			fmt.Fprintln(stdout)
		}
	case "retrieval":
		modes := []string{"bm25"}
		var e retrieval.Embedder
		if m := config.Get("TRANSCEPT_EMBED_MODEL"); m != "" {
			em, err := embed.Load(m, embed.Options{})
			if err != nil {
				return err
			}
			e, modes = em, []string{"bm25", "vector", "hybrid"}
		} else {
			fmt.Fprintln(stderr, "embedding and hybrid figures need a model: set TRANSCEPT_EMBED_MODEL (make models)")
		}
		fmt.Fprintf(stdout, "| split | ranking | queries | turn recall@%d | queries with a hit@%d |\n|---|---|---|---|---|\n", *k, *k)
		for _, split := range []string{"Academic/val", "ALL/val"} {
			ms, err := eval.LoadQMSum(filepath.Join(dir, "qmsum", split))
			if err != nil {
				return err
			}
			for _, mode := range modes {
				r, err := eval.RetrievalWith(ctx, ms, *k, e, mode)
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "| %s | %s | %d | %.3f | %.3f |\n", split, mode, r.Queries, r.TurnRecall, r.HitRate)
			}
		}
	case "qa":
		ms, err := eval.LoadQMSum(filepath.Join(dir, "qmsum", "ALL", "val"))
		if err != nil {
			return err
		}
		c, err := eval.AnswerCoverage(ctx, ms, retrieval.NewAnswerer())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "| questions | answered | said \"not covered\" |\n|---|---|---|\n")
		fmt.Fprintf(stdout, "| QMSum ALL/val specific queries, on their meeting (%d) | %d (%.1f%%) | %d |\n", c.Specific, c.SpecificCovered, 100*float64(c.SpecificCovered)/float64(c.Specific), c.Specific-c.SpecificCovered)
		fmt.Fprintf(stdout, "| off-topic questions, on every meeting (%d) | %d (%.1f%%) | %d |\n", c.OffTopic, c.OffTopicCovered, 100*float64(c.OffTopicCovered)/float64(c.OffTopic), c.OffTopic-c.OffTopicCovered)
	case "wer":
		clips, err := eval.SpeechClips(dir)
		if err != nil {
			return err
		}
		s, err := offline(ctx)
		if err != nil {
			return err
		}
		if s.Service.Transcriber == nil {
			return pipeline.NoTranscriber()
		}
		rows, err := eval.TranscriptionWER(ctx, s.Service.Transcriber, clips, "en")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "WER of %s (%s)\n| set | clips | reference words | errors | WER |\n|---|---|---|---|---|\n", s.Service.Transcriber.Name(), s.Service.Transcriber.Model())
		for _, r := range rows {
			fmt.Fprintf(stdout, "| %s | %d | %d | %d | %.2f%% |\n", r.Set, r.Clips, r.Result.RefWords, r.Result.Errors(), 100*r.Result.WER)
		}
	default:
		return usageError{msg: fmt.Sprintf("unknown evaluation %q: want %s", pos[0], strings.Join([]string{"summarize", "qmsum", "retrieval", "qa", "wer"}, ", "))}
	}
	return nil
}
