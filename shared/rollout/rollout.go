// Package rollout is the canary rollout of a model on a function: start
// (a challenger revision pinned to one registry version takes a share of
// the traffic), analysis (Prometheus metrics of challenger and champion
// against a policy, after Argo Rollouts' AnalysisTemplate), and promote
// (the challenger takes all traffic and the registry's champion alias moves
// to its version, with the analysis report) or abort (traffic back to the
// champion). Every step is recorded with who, when, why, the measurements
// and the policy version in an append-only log in the object store, beside
// the model registry:
//
//	models/rollouts/<function>.<seq>.json
//
// Entries are created only where absent (conditional puts, as the
// registry's alias log), so concurrent commands are serialised.
//
// The package knows neither Kubernetes nor Prometheus: a Platform (the
// Knative adapter, shared/rollout/knative) moves the traffic and a Querier
// (shared/rollout/prometheus) runs the queries.
package rollout

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/registry"
)

// States of a rollout, and the actions recorded in its log.
const (
	StateAnalyzing = "analyzing"
	StatePromoted  = "promoted"
	StateAborted   = "aborted"

	ActionStart    = "start"
	ActionAnalysis = "analysis"
	ActionPromote  = "promote"
	ActionAbort    = "abort"
)

// ChampionAlias is the registry alias a promotion moves.
const ChampionAlias = "champion"

// Tags of the two traffic targets.
const (
	TagChampion   = "champion"
	TagChallenger = "challenger"
)

// Function is what a rollout needs to know of a function: the model
// setting a revision pins, and settings that go with it.
type Function struct {
	Name    string
	Setting string            // TRANSCEPT_SUMMARY_MODEL
	Env     map[string]string // set beside it: TRANSCEPT_SUMMARIZER=bart
}

// Functions are the functions that run a model from the registry.
var Functions = map[string]Function{
	"summarize":  {Name: "summarize", Setting: "TRANSCEPT_SUMMARY_MODEL", Env: map[string]string{"TRANSCEPT_SUMMARIZER": "bart"}},
	"transcribe": {Name: "transcribe", Setting: "TRANSCEPT_WHISPER_MODEL"},
	"answer":     {Name: "answer", Setting: "TRANSCEPT_QA_MODEL"},
}

// LookupFunction returns a function by name, or an EINVALID error naming
// the ones there are.
func LookupFunction(name string) (Function, error) {
	f, ok := Functions[name]
	if !ok {
		var names []string
		for n := range Functions {
			names = append(names, n)
		}
		sort.Strings(names)
		return Function{}, lecture.Errorf(lecture.EINVALID, "unknown function %q: a rollout runs on one of %s (the functions with a model setting)", name, strings.Join(names, ", "))
	}
	return f, nil
}

// Service is the Knative Service of a function.
func Service(function string) string { return "transcept-" + function }

// Plan is a challenger revision to create and the share of traffic it gets.
type Plan struct {
	Function string
	Service  string
	Revision string            // the challenger revision's name
	Env      map[string]string // settings the revision pins
	Percent  int               // the challenger's share, 1 to 99
}

// Target is one traffic target of a function's Service.
type Target struct {
	Tag      string `json:"tag,omitempty"`
	Revision string `json:"revision,omitempty"` // "" with Latest
	Latest   bool   `json:"latest,omitempty"`
	Percent  int    `json:"percent"`
	URL      string `json:"url,omitempty"` // the tag's URL, once Knative has reported it
}

// Platform moves a function's traffic (the Knative adapter). Every method
// returns the equivalent `kn` commands too.
type Platform interface {
	// Start creates the plan's revision from the Service's template and
	// splits the traffic: champion (the revision serving now) 100-Percent,
	// challenger Percent, tagged. It returns the champion's revision and the
	// model setting it runs.
	Start(ctx context.Context, p Plan) (champion, championSetting string, kn []string, err error)
	// SetTraffic gives challengerPercent to the challenger revision and the
	// rest to the champion, both tagged.
	SetTraffic(ctx context.Context, service, champion, challenger string, challengerPercent int) (kn []string, err error)
	// Traffic reads the Service's traffic targets.
	Traffic(ctx context.Context, service string) ([]Target, error)
}

// Arm is one side of a rollout.
type Arm struct {
	Revision string `json:"revision"`
	Version  string `json:"version,omitempty"` // the registry version, when known
	Setting  string `json:"setting,omitempty"` // the model setting's value on that revision
}

// Record is one entry of a function's rollout log.
type Record struct {
	Seq           int       `json:"seq"`
	Function      string    `json:"function"`
	Rollout       int       `json:"rollout"` // the seq of the rollout's start record
	Action        string    `json:"action"`  // start, analysis, promote, abort
	State         string    `json:"state"`   // analyzing, promoted, aborted
	Model         string    `json:"model"`   // the registry model's name
	Champion      Arm       `json:"champion"`
	Challenger    Arm       `json:"challenger"`
	Percent       int       `json:"percent"` // the challenger's share after this step
	Who           string    `json:"who"`
	Why           string    `json:"why,omitempty"`
	At            time.Time `json:"at"`
	PolicyVersion string    `json:"policy_version,omitempty"`
	Analysis      *Report   `json:"analysis,omitempty"`
	// AliasSeq and ReportKey: the registry alias-log entry a promotion
	// wrote, and the key of the analysis report attached to the version.
	AliasSeq  int      `json:"alias_seq,omitempty"`
	ReportKey string   `json:"report,omitempty"`
	Commands  []string `json:"kn,omitempty"` // the equivalent kn commands
}

// Rollouts runs rollouts over a store (the log), the model registry and a
// platform.
type Rollouts struct {
	Store    lecture.ObjectStore
	Registry *registry.Registry
	Platform Platform
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// New returns rollouts over st (log and registry) and p.
func New(st lecture.ObjectStore, p Platform) *Rollouts {
	return &Rollouts{Store: st, Registry: registry.New(st), Platform: p}
}

func (r *Rollouts) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

const logPrefix = "rollouts/"

func recordKey(function string, seq int) string {
	return fmt.Sprintf("%s%s.%010d.json", logPrefix, function, seq)
}

// Log returns a function's rollout log, oldest first.
func (r *Rollouts) Log(ctx context.Context, function string) ([]Record, error) {
	if _, err := LookupFunction(function); err != nil {
		return nil, err
	}
	list, err := r.Store.List(ctx, registry.BucketModels, logPrefix+function+".")
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, o := range list {
		rc, err := r.Store.Get(ctx, registry.BucketModels, o.Key)
		if err != nil {
			return nil, err
		}
		var rec Record
		err = json.NewDecoder(rc).Decode(&rec)
		rc.Close()
		if err != nil {
			return nil, lecture.Wrap(lecture.EINTERNAL, err, "rollout log entry %s unreadable", o.Key)
		}
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, nil
}

// Current returns the last record of a function's log (nil when empty).
func (r *Rollouts) Current(ctx context.Context, function string) (*Record, error) {
	log, err := r.Log(ctx, function)
	if err != nil || len(log) == 0 {
		return nil, err
	}
	return &log[len(log)-1], nil
}

// inProgress returns the last record when a rollout is being analysed, or
// an error saying there is none.
func (r *Rollouts) inProgress(ctx context.Context, function string) (*Record, error) {
	cur, err := r.Current(ctx, function)
	if err != nil {
		return nil, err
	}
	if cur == nil || cur.State != StateAnalyzing {
		last := "none was ever started"
		if cur != nil {
			last = fmt.Sprintf("the last one, #%d, was %s at %s", cur.Rollout, cur.State, cur.At.Format(time.RFC3339))
		}
		return nil, lecture.Errorf(lecture.ENOTFOUND, "no rollout of %s in progress (%s); start one with `transcept rollout start --function %s --model NAME@challenger`", function, last, function)
	}
	return cur, nil
}

// appendRecord writes rec as the next entry of its function's log, where
// absent; it fails with ECONFLICT when another command wrote an entry since
// prev (the last one read), so that two commands never act on the same state.
func (r *Rollouts) appendRecord(ctx context.Context, rec *Record, prev int) error {
	rec.Seq = prev + 1
	if rec.Rollout == 0 {
		rec.Rollout = rec.Seq
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return lecture.Wrap(lecture.EINTERNAL, err, "rollout record")
	}
	k := recordKey(rec.Function, rec.Seq)
	if cp, ok := r.Store.(registry.ConditionalPutter); ok {
		err = cp.PutIfAbsent(ctx, registry.BucketModels, k, bytes.NewReader(b), int64(len(b)), "application/json")
	} else if _, serr := r.Store.Stat(ctx, registry.BucketModels, k); serr == nil {
		err = lecture.Errorf(lecture.ECONFLICT, "rollout log entry %s exists", k)
	} else {
		err = r.Store.Put(ctx, registry.BucketModels, k, bytes.NewReader(b), int64(len(b)), "application/json")
	}
	if lecture.ErrorCode(err) == lecture.ECONFLICT {
		return lecture.Wrap(lecture.ECONFLICT, err, "another rollout command on %s wrote entry #%d first; see `transcept rollout status --function %s`", rec.Function, rec.Seq, rec.Function)
	}
	return err
}

// StartOptions are the inputs of Start.
type StartOptions struct {
	Function string // summarize
	Model    string // NAME@ALIAS or NAME@VERSION
	Percent  int    // the challenger's share, 1 to 99
	Who, Why string
}

// Start begins a rollout: the model reference is resolved to one immutable
// version, a challenger revision pinned to it is created and given Percent
// of the traffic, the rest staying on the revision serving now (the
// champion). Nothing changes when the input is wrong, the reference does not
// resolve, or a rollout of the function is in progress.
func (r *Rollouts) Start(ctx context.Context, o StartOptions) (*Record, error) {
	fn, err := LookupFunction(o.Function)
	if err != nil {
		return nil, err
	}
	if o.Percent < 1 || o.Percent > 99 {
		return nil, lecture.Errorf(lecture.EINVALID, "--percent %d: the challenger's share is 1 to 99 percent of the traffic", o.Percent)
	}
	name, _, err := registry.ParseRef(o.Model)
	if err != nil {
		return nil, err
	}
	log, err := r.Log(ctx, fn.Name)
	if err != nil {
		return nil, err
	}
	if n := len(log); n > 0 && log[n-1].State == StateAnalyzing {
		cur := log[n-1]
		since := cur.At
		for _, r := range log {
			if r.Seq == cur.Rollout {
				since = r.At
			}
		}
		return nil, lecture.Errorf(lecture.ECONFLICT, "rollout #%d of %s (%s@%s on %s) is in progress since %s: promote or abort it first",
			cur.Rollout, fn.Name, cur.Model, cur.Challenger.Version, cur.Challenger.Revision, since.Format(time.RFC3339))
	}
	v, err := r.Registry.Resolve(ctx, o.Model)
	if err != nil {
		return nil, err
	}
	aliases, err := r.Registry.Aliases(ctx, name)
	if err != nil {
		return nil, err
	}
	seq := len(log) + 1
	if len(log) > 0 {
		seq = log[len(log)-1].Seq + 1
	}
	plan := Plan{Function: fn.Name, Service: Service(fn.Name), Percent: o.Percent,
		Revision: fmt.Sprintf("%s-%s-r%d", Service(fn.Name), v.ID, seq),
		Env:      map[string]string{fn.Setting: registry.Scheme + v.String()}}
	for k, val := range fn.Env {
		plan.Env[k] = val
	}
	champion, championSetting, kn, err := r.Platform.Start(ctx, plan)
	if err != nil {
		return nil, err
	}
	who := o.Who
	if who == "" {
		who = registry.Who()
	}
	rec := &Record{Function: fn.Name, Action: ActionStart, State: StateAnalyzing, Model: name,
		Champion:   Arm{Revision: champion, Version: settingVersion(championSetting, name, aliases), Setting: championSetting},
		Challenger: Arm{Revision: plan.Revision, Version: v.ID, Setting: plan.Env[fn.Setting]},
		Percent:    o.Percent, Who: who, Why: o.Why, At: r.now(), Commands: kn}
	if err := r.appendRecord(ctx, rec, seq-1); err != nil {
		return nil, err
	}
	return rec, nil
}

// settingVersion is the version of model a model setting names: the
// version it pins, or the one its alias points at now; "" when it names no
// version of model (a plain folder, the default engine).
func settingVersion(setting, model string, aliases map[string]string) string {
	ref, err := registry.SplitSetting(setting)
	if err != nil {
		return ""
	}
	n, at, _ := registry.ParseRef(ref)
	if n != model {
		return ""
	}
	if id, ok := aliases[at]; ok {
		return id
	}
	if len(at) == registry.IDLen {
		return at
	}
	return ""
}

// Targets names the revisions of a rollout record for an analysis.
func (rec *Record) Targets() Targets {
	return Targets{Function: rec.Function, Service: Service(rec.Function), Champion: rec.Champion.Revision, Challenger: rec.Challenger.Revision}
}

// Analyze runs the analysis of the function's rollout in progress and
// records its report (nothing is recorded when the analysis cannot run:
// Prometheus unreachable, a bad query).
func (r *Rollouts) Analyze(ctx context.Context, function string, a *Analysis, who string) (*Report, *Record, error) {
	cur, err := r.inProgress(ctx, function)
	if err != nil {
		return nil, nil, err
	}
	rep, err := a.Run(ctx, cur.Targets())
	if err != nil {
		return nil, nil, err
	}
	rec := r.next(cur, ActionAnalysis, StateAnalyzing, cur.Percent, who, rep.Verdict+": "+rep.Reason)
	rec.PolicyVersion, rec.Analysis = rep.PolicyVersion, rep
	if err := r.appendRecord(ctx, rec, cur.Seq); err != nil {
		return nil, nil, err
	}
	return rep, rec, nil
}

func (r *Rollouts) next(cur *Record, action, state string, percent int, who, why string) *Record {
	if who == "" {
		who = registry.Who()
	}
	return &Record{Function: cur.Function, Rollout: cur.Rollout, Action: action, State: state, Model: cur.Model,
		Champion: cur.Champion, Challenger: cur.Challenger, Percent: percent, Who: who, Why: why, At: r.now()}
}

// lastAnalysis returns the latest analysis report of the rollout cur
// belongs to (nil when none ran).
func (r *Rollouts) lastAnalysis(ctx context.Context, cur *Record) (*Report, error) {
	log, err := r.Log(ctx, cur.Function)
	if err != nil {
		return nil, err
	}
	for i := len(log) - 1; i >= 0; i-- {
		if log[i].Rollout == cur.Rollout && log[i].Analysis != nil {
			return log[i].Analysis, nil
		}
	}
	return nil, nil
}

// Promote ends the rollout in progress in the challenger's favour: it takes
// all the traffic, and the registry's champion alias moves to its version
// with the analysis report (the given one, else the latest recorded)
// attached to the version and named by the alias move.
func (r *Rollouts) Promote(ctx context.Context, function, who, why string, rep *Report) (*Record, error) {
	cur, err := r.inProgress(ctx, function)
	if err != nil {
		return nil, err
	}
	if rep == nil {
		if rep, err = r.lastAnalysis(ctx, cur); err != nil {
			return nil, err
		}
	}
	if rep != nil && rep.Verdict != VerdictPromote && why == "" {
		why = fmt.Sprintf("promoted by hand against the analysis (%s)", rep.Verdict)
	}
	kn, err := r.Platform.SetTraffic(ctx, Service(function), cur.Champion.Revision, cur.Challenger.Revision, 100)
	if err != nil {
		return nil, err
	}
	if who == "" {
		who = registry.Who()
	}
	rec := r.next(cur, ActionPromote, StatePromoted, 100, who, why)
	rec.Commands = kn
	v := registry.Version{Name: cur.Model, ID: cur.Challenger.Version}
	if rep != nil {
		rec.PolicyVersion, rec.Analysis = rep.PolicyVersion, rep
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return nil, lecture.Wrap(lecture.EINTERNAL, err, "analysis report")
		}
		if rec.ReportKey, err = r.Registry.AttachReport(ctx, v, b); err != nil {
			return nil, err
		}
	}
	aliasWhy := fmt.Sprintf("canary rollout #%d of %s promoted", cur.Rollout, function)
	if why != "" {
		aliasWhy += ": " + why
	}
	e, err := r.Registry.Alias(ctx, cur.Model, ChampionAlias, v.ID, who, aliasWhy, rec.ReportKey)
	if err != nil {
		return nil, lecture.Wrap(lecture.ErrorCode(err), err, "the challenger has all the traffic, but the %s alias did not move: %s (move it with `transcept models alias %s@%s %s`)",
			ChampionAlias, lecture.ErrorMessage(err), cur.Model, ChampionAlias, v.ID)
	}
	rec.AliasSeq = e.Seq
	if err := r.appendRecord(ctx, rec, cur.Seq); err != nil {
		return nil, err
	}
	return rec, nil
}

// Abort ends the rollout in progress against the challenger: the champion
// takes all the traffic back (the challenger keeps its tag at 0%) and the
// registry is left as it is.
func (r *Rollouts) Abort(ctx context.Context, function, who, why string, rep *Report) (*Record, error) {
	cur, err := r.inProgress(ctx, function)
	if err != nil {
		return nil, err
	}
	if rep == nil {
		if rep, err = r.lastAnalysis(ctx, cur); err != nil {
			return nil, err
		}
	}
	kn, err := r.Platform.SetTraffic(ctx, Service(function), cur.Champion.Revision, cur.Challenger.Revision, 0)
	if err != nil {
		return nil, err
	}
	rec := r.next(cur, ActionAbort, StateAborted, 0, who, why)
	rec.Commands = kn
	if rep != nil {
		rec.PolicyVersion, rec.Analysis = rep.PolicyVersion, rep
	}
	if err := r.appendRecord(ctx, rec, cur.Seq); err != nil {
		return nil, err
	}
	return rec, nil
}

// Decide promotes or aborts according to a report's verdict; an
// inconclusive one changes nothing and returns nil.
func (r *Rollouts) Decide(ctx context.Context, function, who string, rep *Report) (*Record, error) {
	switch rep.Verdict {
	case VerdictPromote:
		return r.Promote(ctx, function, who, "analysis: "+rep.Reason, rep)
	case VerdictAbort:
		return r.Abort(ctx, function, who, "analysis: "+rep.Reason, rep)
	}
	return nil, nil
}
