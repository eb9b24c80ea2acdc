package rollout

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/transcept/transcept/shared/lecture"
)

//go:embed analysis-policy.json
var defaultPolicy []byte

// Policy is an analysis policy, after Argo Rollouts' AnalysisTemplate: every
// Interval, Count times, each metric's query runs for the challenger's and
// the champion's revision over the last Window; a measurement is successful
// when its SuccessCondition holds, failed when it does not, inconclusive when
// a value it needs has no data. More than FailureLimit failed measurements of
// a metric abort the rollout; more than InconclusiveLimit inconclusive ones
// make the analysis inconclusive; otherwise it promotes.
type Policy struct {
	Version           string   `json:"version"`
	Description       string   `json:"description,omitempty"`
	Interval          Duration `json:"interval"`
	Count             int      `json:"count"`
	Window            Duration `json:"window"`
	FailureLimit      int      `json:"failureLimit"`
	InconclusiveLimit int      `json:"inconclusiveLimit"`
	Metrics           []Metric `json:"metrics"`
}

// Metric is one measured quantity. Query is a PromQL template: {{revision}},
// {{service}}, {{function}} and {{window}} are replaced before it runs; it
// must return one value. SuccessCondition is an expression
// (github.com/expr-lang/expr) over result (the challenger's value) and
// champion (the champion's), such as "result <= 0.05 && result <= champion + 0.02".
type Metric struct {
	Name             string `json:"name"`
	Description      string `json:"description,omitempty"`
	Query            string `json:"query"`
	SuccessCondition string `json:"successCondition"`

	cond         *vm.Program
	needChampion bool
}

// Duration is a time.Duration written as "30s" in JSON.
type Duration time.Duration

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string such as "30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration such as \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// DefaultPolicy is the policy embedded in the binary (analysis-policy.json).
func DefaultPolicy() *Policy {
	p, err := ParsePolicy(defaultPolicy)
	if err != nil {
		panic("rollout: the embedded analysis-policy.json: " + err.Error())
	}
	return p
}

// LoadPolicy reads a policy file; "" is the embedded default.
func LoadPolicy(path string) (*Policy, error) {
	if path == "" {
		return DefaultPolicy(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, lecture.Wrap(lecture.EINVALID, err, "analysis policy %s", path)
	}
	p, err := ParsePolicy(b)
	if err != nil {
		return nil, lecture.Wrap(lecture.EINVALID, err, "analysis policy %s: %s", path, lecture.ErrorMessage(err))
	}
	return p, nil
}

// ParsePolicy decodes and checks a policy, compiling its conditions.
func ParsePolicy(b []byte) (*Policy, error) {
	var p Policy
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, lecture.Wrap(lecture.EINVALID, err, "analysis policy: %v", err)
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	return &p, nil
}

func (p *Policy) check() error {
	bad := func(format string, args ...any) error {
		return lecture.Errorf(lecture.EINVALID, "analysis policy: "+format, args...)
	}
	switch {
	case p.Version == "":
		return bad("no version")
	case p.Interval <= 0 || p.Window < Duration(time.Second):
		return bad("interval and window must be positive (window at least 1s)")
	case p.Count < 1:
		return bad("count must be at least 1")
	case p.FailureLimit < 0 || p.InconclusiveLimit < 0:
		return bad("failureLimit and inconclusiveLimit must not be negative")
	case len(p.Metrics) == 0:
		return bad("no metrics")
	}
	seen := map[string]bool{}
	for i := range p.Metrics {
		m := &p.Metrics[i]
		if m.Name == "" || seen[m.Name] {
			return bad("metric %d: missing or repeated name %q", i+1, m.Name)
		}
		seen[m.Name] = true
		if !strings.Contains(m.Query, "{{revision}}") {
			return bad("metric %s: the query does not select {{revision}}", m.Name)
		}
		if err := m.compile(); err != nil {
			return bad("metric %s: successCondition %q: %v", m.Name, m.SuccessCondition, err)
		}
	}
	return nil
}

func (m *Metric) compile() error {
	if strings.TrimSpace(m.SuccessCondition) == "" {
		return fmt.Errorf("empty")
	}
	prog, err := expr.Compile(m.SuccessCondition, expr.Env(map[string]any{"result": 0.0, "champion": 0.0}), expr.AsBool())
	if err != nil {
		return err
	}
	m.cond = prog
	node := prog.Node()
	m.needChampion = ast.Find(node, func(n ast.Node) bool {
		id, ok := n.(*ast.IdentifierNode)
		return ok && id.Value == "champion"
	}) != nil
	return nil
}

// With returns a copy of p with the interval, count and window replaced
// where they are set (non-zero): the command line's overrides.
func (p *Policy) With(interval time.Duration, count int, window time.Duration) *Policy {
	q := *p
	if interval > 0 {
		q.Interval = Duration(interval)
	}
	if count > 0 {
		q.Count = count
	}
	if window > 0 {
		q.Window = Duration(window)
	}
	return &q
}

// Targets names what an analysis compares.
type Targets struct {
	Function   string // summarize
	Service    string // transcept-summarize
	Champion   string // the champion's revision
	Challenger string // the challenger's revision
}

// render fills a query template for one revision.
func render(query string, t Targets, revision string, window time.Duration) string {
	return strings.NewReplacer("{{revision}}", revision, "{{service}}", t.Service, "{{function}}", t.Function,
		"{{window}}", promDuration(window)).Replace(query)
}

// promDuration writes d as PromQL writes durations: 2m, 90s, 1500ms.
func promDuration(d time.Duration) string {
	switch {
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// Value is a measured value: a number, or no data (nil in a Measurement);
// infinities are kept (a p95 in the +Inf bucket) and written as strings.
type Value float64

// MarshalJSON writes finite values as numbers and infinities as "+Inf"/"-Inf".
func (v Value) MarshalJSON() ([]byte, error) {
	f := float64(v)
	switch {
	case math.IsInf(f, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(f, -1):
		return []byte(`"-Inf"`), nil
	case math.IsNaN(f):
		return []byte("null"), nil
	}
	return json.Marshal(f)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (v *Value) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"+Inf"`:
		*v = Value(math.Inf(1))
		return nil
	case `"-Inf"`:
		*v = Value(math.Inf(-1))
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*v = Value(f)
	return nil
}

// String formats a value for tables: 4 significant digits, "-" for no data.
func (v *Value) String() string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(float64(*v), 'g', 4, 64)
}

// Phases of a measurement, and verdicts of an analysis.
const (
	Successful   = "successful"
	Failed       = "failed"
	Inconclusive = "inconclusive"

	VerdictPromote      = "promote"
	VerdictAbort        = "abort"
	VerdictInconclusive = "inconclusive"
)

// evaluate decides one measurement's phase.
func (m *Metric) evaluate(challenger, champion *Value) (string, error) {
	if challenger == nil || (m.needChampion && champion == nil) {
		return Inconclusive, nil
	}
	env := map[string]any{"result": float64(*challenger), "champion": 0.0}
	if champion != nil {
		env["champion"] = float64(*champion)
	}
	out, err := expr.Run(m.cond, env)
	if err != nil {
		return "", lecture.Wrap(lecture.EINVALID, err, "metric %s: successCondition %q: %v", m.Name, m.SuccessCondition, err)
	}
	if out.(bool) {
		return Successful, nil
	}
	return Failed, nil
}
