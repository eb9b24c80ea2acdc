package rollout

import (
	"context"
	"fmt"
	"time"

	"github.com/transcept/transcept/shared/lecture"
)

// Querier runs an instant PromQL query (the Prometheus adapter,
// shared/rollout/prometheus). ok is false when the query returns no data:
// an empty result or NaN (a ratio over no requests).
type Querier interface {
	Query(ctx context.Context, promql string) (v float64, ok bool, err error)
}

// Measurement is one metric measured once for both revisions.
type Measurement struct {
	At         time.Time `json:"at"`
	Metric     string    `json:"metric"`
	Challenger *Value    `json:"challenger"` // nil: no data
	Champion   *Value    `json:"champion"`
	Phase      string    `json:"phase"` // successful, failed, inconclusive
}

// MetricResult sums up one metric over the analysis.
type MetricResult struct {
	Name             string `json:"name"`
	Query            string `json:"query"`
	SuccessCondition string `json:"successCondition"`
	Successful       int    `json:"successful"`
	Failed           int    `json:"failed"`
	Inconclusive     int    `json:"inconclusive"`
	Phase            string `json:"phase"` // the metric's outcome
	// Challenger and Champion are the last values measured (nil: no data).
	Challenger *Value `json:"challenger"`
	Champion   *Value `json:"champion"`
}

// Report is what an analysis found and decided.
type Report struct {
	PolicyVersion string         `json:"policy_version"`
	Function      string         `json:"function"`
	Service       string         `json:"service"`
	Champion      string         `json:"champion_revision"`
	Challenger    string         `json:"challenger_revision"`
	Interval      Duration       `json:"interval"`
	Window        Duration       `json:"window"`
	Count         int            `json:"count"`
	Started       time.Time      `json:"started"`
	Finished      time.Time      `json:"finished"`
	Verdict       string         `json:"verdict"` // promote, abort, inconclusive
	Reason        string         `json:"reason"`
	Metrics       []MetricResult `json:"metrics"`
	Measurements  []Measurement  `json:"measurements"`
}

// Analysis runs a policy against Prometheus.
type Analysis struct {
	Policy  *Policy
	Querier Querier
	// Now and Sleep are the clock (time.Now and a timer when nil).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// OnMeasurement, when set, sees each round of measurements as it is taken.
	OnMeasurement func(round int, ms []Measurement)
}

func (a *Analysis) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

func (a *Analysis) sleep(ctx context.Context, d time.Duration) error {
	if a.Sleep != nil {
		return a.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Run measures every metric Count times, Interval apart, and decides: abort
// as soon as a metric has more than FailureLimit failed measurements,
// inconclusive as soon as one has more than InconclusiveLimit inconclusive
// ones, promote when the count is done without either. A query that fails
// (Prometheus unreachable, a bad query) ends the analysis with that error
// and no verdict.
func (a *Analysis) Run(ctx context.Context, t Targets) (*Report, error) {
	p := a.Policy
	if t.Champion == "" || t.Challenger == "" {
		return nil, lecture.Errorf(lecture.EINVALID, "analysis needs both the champion's and the challenger's revision")
	}
	r := &Report{PolicyVersion: p.Version, Function: t.Function, Service: t.Service, Champion: t.Champion, Challenger: t.Challenger,
		Interval: p.Interval, Window: p.Window, Count: p.Count, Started: a.now()}
	for _, m := range p.Metrics {
		r.Metrics = append(r.Metrics, MetricResult{Name: m.Name, Query: m.Query, SuccessCondition: m.SuccessCondition})
	}
	window := time.Duration(p.Window)
	for round := 0; round < p.Count && r.Verdict == ""; round++ {
		if round > 0 {
			if err := a.sleep(ctx, time.Duration(p.Interval)); err != nil {
				return nil, lecture.Wrap(lecture.EUNAVAILABLE, err, "analysis interrupted")
			}
		}
		var ms []Measurement
		for i := range p.Metrics {
			m := &p.Metrics[i]
			ch, err := a.query(ctx, m, render(m.Query, t, t.Challenger, window))
			if err != nil {
				return nil, err
			}
			cp, err := a.query(ctx, m, render(m.Query, t, t.Champion, window))
			if err != nil {
				return nil, err
			}
			phase, err := m.evaluate(ch, cp)
			if err != nil {
				return nil, err
			}
			ms = append(ms, Measurement{At: a.now(), Metric: m.Name, Challenger: ch, Champion: cp, Phase: phase})
			res := &r.Metrics[i]
			res.Challenger, res.Champion = ch, cp
			switch phase {
			case Successful:
				res.Successful++
			case Failed:
				res.Failed++
			default:
				res.Inconclusive++
			}
			switch {
			case res.Failed > p.FailureLimit && r.Verdict != VerdictAbort:
				r.Verdict = VerdictAbort
				r.Reason = fmt.Sprintf("%s failed %d of %d measurements (failure limit %d): challenger %s, champion %s, condition %s",
					m.Name, res.Failed, round+1, p.FailureLimit, ch.String(), cp.String(), m.SuccessCondition)
			case res.Inconclusive > p.InconclusiveLimit && r.Verdict == "":
				r.Verdict = VerdictInconclusive
				r.Reason = fmt.Sprintf("%s had no data in %d of %d measurements (inconclusive limit %d): is traffic reaching both revisions, and does Prometheus scrape them?",
					m.Name, res.Inconclusive, round+1, p.InconclusiveLimit)
			}
		}
		r.Measurements = append(r.Measurements, ms...)
		if a.OnMeasurement != nil {
			a.OnMeasurement(round+1, ms)
		}
	}
	for i := range r.Metrics {
		res := &r.Metrics[i]
		switch {
		case res.Failed > p.FailureLimit:
			res.Phase = Failed
		case res.Inconclusive > p.InconclusiveLimit:
			res.Phase = Inconclusive
		default:
			res.Phase = Successful
		}
	}
	if r.Verdict == "" {
		r.Verdict = VerdictPromote
		r.Reason = fmt.Sprintf("every metric held its condition over %d measurements, %s apart", p.Count, time.Duration(p.Interval))
	}
	r.Finished = a.now()
	return r, nil
}

func (a *Analysis) query(ctx context.Context, m *Metric, q string) (*Value, error) {
	v, ok, err := a.Querier.Query(ctx, q)
	if err != nil {
		return nil, lecture.Wrap(lecture.ErrorCode(err), err, "metric %s: %s", m.Name, lecture.ErrorMessage(err))
	}
	if !ok {
		return nil, nil
	}
	val := Value(v)
	return &val, nil
}
