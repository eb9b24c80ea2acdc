// Package eval is the nightly evaluation function: a PingSource's event
// (infra/eventing/pingsource.yaml) runs the gate's evaluation of every
// champion on the eval set in the store and scores the last day's input
// drift (wire.Suite.RunNightly); it sends transcept.model.evaluated and, on
// drift, transcept.model.retrain.requested to K_SINK (a SinkBinding to the
// Broker). Without K_SINK the events are only logged and counted.
package eval

import (
	"context"
	"io"

	"golang.org/x/sync/singleflight"

	"github.com/transcept/transcept/functions/wire"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/eventing"
)

// PingType is the type of a PingSource's events.
const PingType = "dev.knative.sources.ping"

// Function is the func-go instance.
type Function struct {
	wire.Base
	sender *eventing.Sender
	once   singleflight.Group // a redelivered ping joins the run in progress
}

// New returns the instance.
func New() *Function { return &Function{Base: wire.NewBase("eval")} }

// Start wires the suite and, when K_SINK is set, the CloudEvents sender.
func (f *Function) Start(ctx context.Context, cfg map[string]string) error {
	sink := cfg["K_SINK"]
	if sink == "" {
		sink = config.Get("K_SINK") // a SinkBinding sets it in the environment
	}
	if sink != "" {
		s, err := eventing.NewSender(sink)
		if err != nil {
			return err
		}
		f.sender = s
	}
	f.Metrics.InitEvalRuns(wire.EvalTasks...)
	return f.Base.Start(ctx, cfg)
}

// Handle runs the nightly evaluation on a PingSource event.
func (f *Function) Handle(ctx context.Context, ce eventing.CloudEvent) (*eventing.CloudEvent, error) {
	if ce.Type() != PingType {
		return nil, eventing.Status(400, "eval takes %s events (its PingSource), not %s", PingType, ce.Type())
	}
	done, err := f.Enter()
	if err != nil {
		return nil, eventing.Status(503, "%v", err)
	}
	defer done()
	_, err, _ = f.once.Do("nightly", func() (any, error) { return f.Run(ctx) })
	if err != nil {
		return nil, eventing.Status(500, "eval: %v", err)
	}
	return nil, nil
}

// Run runs the nightly evaluation once (the PingSource's event, or
// `transcept serve`'s POST /eval).
func (f *Function) Run(ctx context.Context) (*wire.Nightly, error) {
	var send func(context.Context, eventing.CloudEvent) error
	if f.sender != nil {
		send = f.sender.Send
	}
	return f.Suite().RunNightly(ctx, send, io.Discard)
}
