package main

// transcept eval seed: the eval set kept in the store.

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/transcept/transcept/functions/wire"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/eval"
	"github.com/transcept/transcept/shared/evalset"
	modelreg "github.com/transcept/transcept/shared/registry"
	"github.com/transcept/transcept/shared/registry/gate"
)

const seedHelp = `Usage: transcept eval seed [--data DIR] [options]

Copies a pinned selection of the evaluation data (default ../shared/data)
into the store's eval bucket as a version of the eval set: the first
SummEval-100 articles and QMSum Academic/val meetings (summaries), QMSum
ALL/val meetings (questions, with the off-topic list built in), the speech
clips with their references (transcription); a manifest lists every file
with its size and sha256, with the set's vocabulary and input profile (what
input drift is measured against). The version is a hash of the items, so
seeding the same selection again writes nothing. The set seeded last is the
current one, which eval gate and the nightly evaluation read.
The default counts are the gate policy's.
`

func cmdEvalSeed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	p := gate.DefaultPolicy()
	fs := newFlags("eval seed", seedHelp, stderr)
	data := fs.String("data", "", "evaluation data folder (default: TRANSCEPT_EVAL_DATA or ../shared/data)")
	summeval := fs.Int("summeval", p.SummEvalItems, "SummEval articles (0: all)")
	qmsum := fs.Int("qmsum", p.QMSumMeetings, "QMSum Academic/val meetings for summaries (0: all, -1: none)")
	qa := fs.Int("qa", p.QAMeetings, "QMSum ALL/val meetings for questions (0: all, -1: none)")
	clips := fs.Int("clips", p.SpeechClips, "speech clips (0: all)")
	noAudio := fs.Bool("no-audio", false, "no speech clips")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{msg: "seed takes no arguments; see --help"}
	}
	dir := *data
	if dir == "" {
		dir = eval.DataDir()
	}
	if _, err := os.Stat(dir); dir == "" || err != nil {
		return usageError{msg: fmt.Sprintf("evaluation data not found at %q: pass --data DIR", dir)}
	}
	c, err := config.FromEnv()
	if err != nil {
		return err
	}
	st, err := wire.Store(ctx, c)
	if err != nil {
		return err
	}
	sel := evalset.Selection{SummEvalItems: *summeval, QMSumMeetings: *qmsum, QAMeetings: *qa, SpeechClips: *clips, NoAudio: *noAudio}
	m, created, err := evalset.Seed(ctx, st, dir, sel, modelreg.Who(), time.Now())
	if err != nil {
		return err
	}
	state := "seeded"
	if !created {
		state = "already stored"
	}
	fmt.Fprintf(stdout, "eval set %s %s: %d files (%d summarize, %d qa, %d transcribe), vocabulary %d words\n", m.Version, state,
		len(m.Items), m.Count(evalset.TaskSummarize), m.Count(evalset.TaskQA), m.Count(evalset.TaskTranscribe), m.Vocabulary)
	return nil
}
