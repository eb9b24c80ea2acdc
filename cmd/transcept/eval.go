package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/transcept/transcept/shared/eval"
	"github.com/transcept/transcept/shared/extractive"
	"github.com/transcept/transcept/shared/quality"
)

const evalHelp = `Usage: transcept eval summarize|qmsum|retrieval [options]

Scores the embedded engines on the evaluation data (../shared/data beside the
repository, or --data DIR, or TRANSCEPT_DATA_DIR) with the same ROUGE code
(Google rouge-score semantics) for every system, side by side:

  summarize   SummEval-100 (CNN/DailyMail): ours beside LEAD-3 (M0),
              BART-large-CNN (M22), Pegasus (M23) and T5 (M17)
  qmsum       QMSum "Summarize the whole meeting" at the reference's length,
              ours beside a lead baseline of the same length
  retrieval   BM25 recall@k of the relevant turns of QMSum's specific queries
`

func cmdEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval", evalHelp, stderr)
	data := fs.String("data", "", "evaluation data folder (default: TRANSCEPT_DATA_DIR or ../shared/data)")
	k := fs.Int("k", 5, "passages retrieved per query (retrieval)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"give one of: summarize, qmsum, retrieval; see --help"}
	}
	dir := *data
	if dir == "" {
		dir = eval.DataDir()
	}
	if _, err := os.Stat(dir); err != nil {
		return usageError{fmt.Sprintf("evaluation data not found at %s: pass --data DIR", dir)}
	}
	sm := extractive.New()
	switch pos[0] {
	case "summarize", "summeval":
		items, err := eval.LoadSummEval(filepath.Join(dir, "summeval", "summeval100.jsonl"))
		if err != nil {
			return err
		}
		t, err := quality.SummEval(ctx, items, sm, []string{"M0", "M22", "M23", "M17"})
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
			t, err := quality.QMSum(ctx, ms, sm, fmt.Sprintf("QMSum %s, general query 1, %d meetings, at the reference's length", split, len(ms)))
			if err != nil {
				return err
			}
			t.Print(stdout)
			fmt.Fprintln(stdout)
		}
	case "retrieval":
		fmt.Fprintf(stdout, "| split | queries | BM25 turn recall@%d | queries with a hit@%d |\n|---|---|---|---|\n", *k, *k)
		for _, split := range []string{"Academic/val", "ALL/val"} {
			ms, err := eval.LoadQMSum(filepath.Join(dir, "qmsum", split))
			if err != nil {
				return err
			}
			r := quality.Retrieval(ms, *k)
			fmt.Fprintf(stdout, "| %s | %d | %.3f | %.3f |\n", split, r.Queries, r.TurnRecall, r.HitRate)
		}
	default:
		return usageError{fmt.Sprintf("unknown evaluation %q: want %s", pos[0], strings.Join([]string{"summarize", "qmsum", "retrieval"}, ", "))}
	}
	return nil
}
