package main

// transcept rollout start|analyze|promote|abort|status: a canary rollout of
// a registry model on a function's Knative Service, analysed with
// Prometheus metrics (shared/rollout).

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/transcept/transcept/functions/wire"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/rollout"
	"github.com/transcept/transcept/shared/rollout/knative"
	"github.com/transcept/transcept/shared/rollout/prometheus"
)

const rolloutHelp = `Usage: transcept rollout start   --function F --model NAME@ALIAS [--percent 10]
       transcept rollout analyze --function F [--auto] [--policy FILE] [--interval D --count N --window D]
       transcept rollout promote --function F
       transcept rollout abort   --function F
       transcept rollout status  --function F

A canary rollout of a model from the registry on a function's Knative
Service (transcept-F in TRANSCEPT_NAMESPACE, reached with KUBECONFIG or the
in-cluster account). F is summarize, transcribe or answer.

start    resolves NAME@ALIAS to one immutable version, creates a revision of
         the Service pinned to it (transcept-F-VERSION-rN, the model setting
         set to registry://NAME@VERSION) and splits the traffic between two
         tagged targets: champion (the revision serving now) 100-P%,
         challenger P%. The equivalent kn commands are printed too.
analyze  queries Prometheus (TRANSCEPT_PROMETHEUS_URL) every interval, count
         times, for both revisions' error ratio and latency p95 over the
         window, against the analysis policy (the embedded default, or
         --policy FILE); prints each metric for challenger and champion and
         the verdict: promote, abort or inconclusive. With --auto it then
         promotes or aborts. Exits non-zero unless the verdict is promote.
promote  gives the challenger 100% and moves the registry's champion alias
         to its version, with the analysis report attached.
abort    gives the champion 100% back (the challenger keeps its tag at 0%).
status   the Service's traffic targets and the function's rollout log.

Every step is recorded, with who, when, why, the measurements and the
policy version, in the append-only log models/rollouts/F.<seq>.json.
`

// rolloutPlatform connects to the cluster (tests replace it).
var rolloutPlatform = func(c *config.Config) (rollout.Platform, error) {
	return knative.FromKubeconfig(config.Get("KUBECONFIG"), c.Rollout.Namespace)
}

func cmdRollout(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("rollout", rolloutHelp, stderr)
	function := fs.String("function", "", "the function: summarize, transcribe or answer")
	model := fs.String("model", "", "start: the challenger, NAME@ALIAS or NAME@VERSION")
	percent := fs.Int("percent", 10, "start: the challenger's share of the traffic, 1 to 99")
	by := fs.String("by", "", "who does it (default: user@host)")
	why := fs.String("why", "", "why (recorded in the log)")
	auto := fs.Bool("auto", false, "analyze: promote or abort according to the verdict")
	policyFile := fs.String("policy", "", "analyze: an analysis policy JSON file (default: the embedded one)")
	interval := fs.Duration("interval", 0, "analyze: time between measurements (default: the policy's)")
	count := fs.Int("count", 0, "analyze: number of measurements (default: the policy's)")
	window := fs.Duration("window", 0, "analyze: the range each query covers (default: the policy's)")
	promURL := fs.String("prometheus", "", "analyze: Prometheus base URL (default TRANSCEPT_PROMETHEUS_URL)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{msg: "give one of start, analyze, promote, abort, status; see --help"}
	}
	if *function == "" {
		return usageError{msg: "--function is required (summarize, transcribe or answer)"}
	}
	if _, err := rollout.LookupFunction(*function); err != nil {
		return err
	}
	c, err := config.FromEnv()
	if err != nil {
		return err
	}
	st, err := wire.Store(ctx, c)
	if err != nil {
		return err
	}
	connect := func() (*rollout.Rollouts, error) {
		p, err := rolloutPlatform(c)
		if err != nil {
			return nil, err
		}
		return rollout.New(st, p), nil
	}
	switch pos[0] {
	case "start":
		if *model == "" {
			return usageError{msg: "start needs --model NAME@ALIAS (or NAME@VERSION)"}
		}
		if *percent < 1 || *percent > 99 {
			return usageError{msg: fmt.Sprintf("--percent %d: the challenger's share is 1 to 99", *percent)}
		}
		r, err := connect()
		if err != nil {
			return err
		}
		rec, err := r.Start(ctx, rollout.StartOptions{Function: *function, Model: *model, Percent: *percent, Who: *by, Why: *why})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rollout #%d of %s: %s@%s on %s gets %d%%, champion %s keeps %d%%\n",
			rec.Rollout, rec.Function, rec.Model, rec.Challenger.Version, rec.Challenger.Revision, rec.Percent, rec.Champion.Revision, 100-rec.Percent)
		printKn(stdout, rec.Commands)
		fmt.Fprintf(stdout, "next: transcept rollout analyze --function %s --auto\n", rec.Function)
		return nil
	case "analyze", "analyse":
		pol, err := rollout.LoadPolicy(*policyFile)
		if err != nil {
			return err
		}
		pol = pol.With(*interval, *count, *window)
		u := *promURL
		if u == "" {
			u = c.Rollout.PrometheusURL
		}
		q, err := prometheus.New(u)
		if err != nil {
			return err
		}
		r, err := connect()
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "analysing %s with policy %s: %d measurements, %s apart, over %s windows, from %s\n",
			*function, pol.Version, pol.Count, time.Duration(pol.Interval), time.Duration(pol.Window), u)
		a := &rollout.Analysis{Policy: pol, Querier: q, OnMeasurement: func(round int, ms []rollout.Measurement) {
			var parts []string
			for _, m := range ms {
				parts = append(parts, fmt.Sprintf("%s %s/%s %s", m.Metric, m.Challenger.String(), m.Champion.String(), m.Phase))
			}
			fmt.Fprintf(stderr, "  %d/%d  %s\n", round, pol.Count, strings.Join(parts, "  "))
		}}
		rep, _, err := r.Analyze(ctx, *function, a, *by)
		if err != nil {
			return err
		}
		printReport(stdout, rep)
		if *auto {
			rec, err := r.Decide(ctx, *function, *by, rep)
			if err != nil {
				return err
			}
			if rec != nil {
				printDecision(stdout, rec)
			}
		} else if rep.Verdict != rollout.VerdictInconclusive {
			fmt.Fprintf(stdout, "next: transcept rollout %s --function %s\n", rep.Verdict, *function)
		}
		switch rep.Verdict {
		case rollout.VerdictAbort:
			return lecture.Errorf(lecture.ECONFLICT, "the challenger failed the analysis: %s", rep.Reason)
		case rollout.VerdictInconclusive:
			return lecture.Errorf(lecture.EUNAVAILABLE, "the analysis is inconclusive, nothing changed: %s", rep.Reason)
		}
		return nil
	case "promote", "abort":
		r, err := connect()
		if err != nil {
			return err
		}
		var rec *rollout.Record
		if pos[0] == "promote" {
			rec, err = r.Promote(ctx, *function, *by, *why, nil)
		} else {
			rec, err = r.Abort(ctx, *function, *by, *why, nil)
		}
		if err != nil {
			return err
		}
		printDecision(stdout, rec)
		return nil
	case "status":
		return rolloutStatus(ctx, st, c, *function, stdout, stderr)
	}
	return usageError{msg: fmt.Sprintf("unknown rollout subcommand %q: want start, analyze, promote, abort or status", pos[0])}
}

func printKn(w io.Writer, cmds []string) {
	if len(cmds) == 0 {
		return
	}
	fmt.Fprintln(w, "the same with kn:")
	for _, c := range cmds {
		fmt.Fprintln(w, "  "+c)
	}
}

func printDecision(w io.Writer, rec *rollout.Record) {
	switch rec.Action {
	case rollout.ActionPromote:
		fmt.Fprintf(w, "promoted: %s (%s@%s) has 100%% of %s; %s@%s moved (alias log #%d", rec.Challenger.Revision, rec.Model, rec.Challenger.Version,
			rollout.Service(rec.Function), rec.Model, rollout.ChampionAlias, rec.AliasSeq)
		if rec.ReportKey != "" {
			fmt.Fprintf(w, ", report %s", rec.ReportKey)
		}
		fmt.Fprintln(w, ")")
	case rollout.ActionAbort:
		fmt.Fprintf(w, "aborted: champion %s has 100%% of %s back; %s stays at 0%%\n", rec.Champion.Revision, rollout.Service(rec.Function), rec.Challenger.Revision)
	}
	printKn(w, rec.Commands)
}

func printReport(w io.Writer, rep *rollout.Report) {
	fmt.Fprintf(w, "challenger %s against champion %s, policy %s, %d measurements of %s windows\n",
		rep.Challenger, rep.Champion, rep.PolicyVersion, len(rep.Measurements)/max(1, len(rep.Metrics)), time.Duration(rep.Window))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "METRIC\tCHALLENGER\tCHAMPION\tOK\tFAILED\tNO DATA\tRESULT\tCONDITION")
	for _, m := range rep.Metrics {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", m.Name, m.Challenger.String(), m.Champion.String(), m.Successful, m.Failed, m.Inconclusive, m.Phase, m.SuccessCondition)
	}
	tw.Flush()
	fmt.Fprintf(w, "verdict: %s (%s)\n", rep.Verdict, rep.Reason)
}

func rolloutStatus(ctx context.Context, st lecture.ObjectStore, c *config.Config, function string, stdout, stderr io.Writer) error {
	r := rollout.New(st, nil)
	if p, err := rolloutPlatform(c); err != nil {
		fmt.Fprintf(stderr, "traffic not shown: %s\n", lecture.ErrorMessage(err))
	} else if ts, err := p.Traffic(ctx, rollout.Service(function)); err != nil {
		fmt.Fprintf(stderr, "traffic not shown: %s\n", lecture.ErrorMessage(err))
	} else {
		fmt.Fprintf(stdout, "traffic of %s:\n", rollout.Service(function))
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		for _, t := range ts {
			rev := t.Revision
			if t.Latest {
				rev = "@latest " + rev
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d%%\t%s\n", dash(t.Tag), rev, t.Percent, t.URL)
		}
		tw.Flush()
	}
	log, err := r.Log(ctx, function)
	if err != nil {
		return err
	}
	if len(log) == 0 {
		fmt.Fprintf(stdout, "no rollout of %s yet\n", function)
		return nil
	}
	cur := log[len(log)-1]
	fmt.Fprintf(stdout, "rollout #%d of %s: %s, %s@%s on %s (%d%%) against %s\n", cur.Rollout, function, cur.State, cur.Model, cur.Challenger.Version,
		cur.Challenger.Revision, cur.Percent, cur.Champion.Revision)
	fmt.Fprintln(stdout, "log:")
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, e := range log {
		verdict := "-"
		if e.Analysis != nil {
			verdict = e.Analysis.Verdict + " (policy " + e.PolicyVersion + ")"
		}
		fmt.Fprintf(tw, "  %d\t#%d\t%s\t%s\t%s\t%d%%\t%s\t%s\t%s\n", e.Seq, e.Rollout, e.At.Format(time.RFC3339), e.Action, e.State, e.Percent, e.Who, verdict, dash(e.Why))
	}
	tw.Flush()
	return nil
}
