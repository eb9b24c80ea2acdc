package main

// transcept eval gate: the offline evaluation gate between two models.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/transcept/transcept/functions/wire"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/lecture"
	modelreg "github.com/transcept/transcept/shared/registry"
	"github.com/transcept/transcept/shared/registry/gate"
)

const gateHelp = `Usage: transcept eval gate --task summarize|qa|transcribe --candidate SPEC --baseline SPEC [options]

Runs the same evaluation on a candidate and a baseline and exits 1 when the
candidate regresses beyond the policy's thresholds (default: the committed
shared/registry/gate/gate-policy.json: ROUGE-L -0.5 point, WER +1 point,
latency p95 +20%):

  summarize   ROUGE-1/2/L on the first SummEval-100 articles (at LEAD-3's
              length) and QMSum Academic/val meetings (at the reference's)
  qa          QMSum ALL/val: share of its specific questions answered, share
              of off-topic questions declined
  transcribe  corpus WER on the speech clips (../shared/data/audio)

each with latency p50/p95 and peak memory (Go heap, resident set). The
items come from the eval set kept in the store (transcept eval seed) unless
--data or TRANSCEPT_EVAL_DATA names a folder; with neither, ../shared/data.
SPEC is
a registry version (NAME@ALIAS, NAME@VERSION, registry://NAME@ALIAS), a
model folder, or for tests and baselines: extractive, extractive:ratio=R
(summarize), extractive:min-coverage=C (qa). A registry model is the summary
model (BART) for summarize, the embedder or the instruct LM for qa, Whisper
for transcribe.

The JSON report goes to stdout (and --out FILE); when the candidate is a
registry version it is also stored with it, and its key printed on stderr
for ` + "`transcept models alias NAME@champion VERSION --report KEY`" + `.
`

func cmdEvalGate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval gate", gateHelp, stderr)
	task := fs.String("task", gate.Summarize, "summarize, qa or transcribe")
	cand := fs.String("candidate", "", "the candidate model")
	base := fs.String("baseline", "", "the baseline model (the champion)")
	policyFile := fs.String("policy", "", "policy file (default: the committed gate-policy.json)")
	data := fs.String("data", "", "evaluation data folder (default: TRANSCEPT_EVAL_DATA, else the eval set in the store, else ../shared/data)")
	out := fs.String("out", "", "also write the report to this file")
	noStore := fs.Bool("no-store", false, "do not store the report with a registry candidate")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *cand == "" || *base == "" {
		return usageError{msg: "gate needs --candidate and --baseline, and no other arguments"}
	}
	if *task != gate.Summarize && *task != gate.QA && *task != gate.Transcribe {
		return usageError{msg: fmt.Sprintf("--task %q: want summarize, qa or transcribe", *task)}
	}
	p := gate.DefaultPolicy()
	if *policyFile != "" {
		if p, err = gate.LoadPolicy(*policyFile); err != nil {
			return err
		}
	}
	for _, spec := range []string{*cand, *base} {
		if err := checkSpec(*task, spec); err != nil {
			return err
		}
	}
	c, err := config.FromEnv()
	if err != nil {
		return err
	}
	st, stErr := wire.Store(ctx, c)
	if stErr != nil {
		st = nil // the data folder may still be found; a registry spec reports the error
	}
	dir, label, set, err := wire.EvalData(ctx, c, st, *data)
	if err != nil {
		if lecture.ErrorCode(err) == lecture.ENOTFOUND {
			return usageError{msg: lecture.ErrorMessage(err) + ": pass --data DIR"}
		}
		return err
	}
	if set != nil {
		p = set.Policy(p)
	}
	g := &wire.Evaluator{Config: c, Policy: p, Data: dir, Progress: stderr, Store: st}
	if err := g.Load(*task); err != nil {
		return err
	}
	r := &gate.Report{Task: *task, Policy: p, Data: label, CreatedAt: time.Now().UTC()}
	var candVersion *modelreg.Version
	for _, side := range []struct {
		spec string
		s    *gate.Subject
		v    **modelreg.Version
	}{{*base, &r.Baseline, nil}, {*cand, &r.Candidate, &candVersion}} {
		s, v, err := g.Evaluate(ctx, *task, side.spec)
		if err != nil {
			return err
		}
		*side.s = s
		if side.v != nil {
			*side.v = v
		}
	}
	gate.Compare(r)
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := stdout.Write(b); err != nil {
		return err
	}
	if *out != "" {
		if err := os.WriteFile(*out, b, 0o644); err != nil {
			return lecture.Wrap(lecture.EUNAVAILABLE, err, "cannot write %s", *out)
		}
	}
	printChecks(stderr, r)
	if candVersion != nil && !*noStore {
		key, err := g.Registry().AttachReport(ctx, *candVersion, b)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "report stored with %s: %s\n", candVersion, key)
	}
	if !r.Pass {
		var names []string
		for _, ch := range r.Failed() {
			names = append(names, fmt.Sprintf("%s %g -> %g (%s)", ch.Metric, ch.Baseline, ch.Candidate, ch.Limit))
		}
		return lecture.Errorf(lecture.ECONFLICT, "gate failed: %s regresses against %s: %s", *cand, *base, strings.Join(names, "; "))
	}
	fmt.Fprintf(stderr, "gate passed: %s against %s\n", *cand, *base)
	return nil
}

func printChecks(w io.Writer, r *gate.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s gate\tbaseline %s\tcandidate %s\tlimit\t\n", r.Task, r.Baseline.Spec, r.Candidate.Spec)
	for _, ch := range r.Checks {
		mark := "ok"
		if !ch.Pass {
			mark = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ch.Metric, num(ch.Baseline), num(ch.Candidate), ch.Limit, mark)
	}
	tw.Flush()
}

func num(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

// checkSpec refuses a spec that is neither extractive (with a valid
// option), a model folder nor a registry reference: a usage error.
func checkSpec(task, spec string) error {
	key := map[string]string{gate.Summarize: "ratio", gate.QA: "min-coverage"}[task]
	if _, ok, err := wire.ExtractiveSpec(spec, key); err != nil || (ok && key != "") {
		if err != nil {
			return usageError{msg: lecture.ErrorMessage(err)}
		}
		return nil
	}
	if fi, err := os.Stat(spec); err == nil && fi.IsDir() {
		return nil
	}
	if _, _, err := modelreg.ParseRef(spec); err != nil {
		return usageError{msg: fmt.Sprintf("%q is neither a model folder nor a registry reference (NAME@ALIAS): %s", spec, lecture.ErrorMessage(err))}
	}
	return nil
}
