package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"
	fce "knative.dev/func-go/cloudevents"
	fhttp "knative.dev/func-go/http"

	"github.com/transcept/transcept/cmd/transcept/lambda"
	"github.com/transcept/transcept/functions/ingest"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/eventing"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/tracing"
)

const functionHelp = `Usage: transcept function NAME

Runs one function of the suite as Knative runs it (knative.dev/func-go):
configuration from the environment, /health/readiness false until its
connections are up, /metrics, graceful drain on SIGTERM. It listens on
LISTEN_ADDRESS (default [::]:8080). NAME is one of:
  gateway     HTTP API (also the Broker's dead-letter sink at /dead-letter)
  ingest      MinIO bucket notifications to CloudEvents for K_SINK
  transcribe  segment  summarize  index   pipeline stages (CloudEvents)
  answer      POST /qa
  eval        the nightly evaluation (its PingSource's event)
`

func cmdFunction(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("function", functionHelp, stderr)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{msg: "give one function NAME; see --help"}
	}
	spec, ok := registry[pos[0]]
	if !ok {
		return usageError{msg: fmt.Sprintf("unknown function %q: want one of %s", pos[0], strings.Join(functionNames(), ", "))}
	}
	// The runtime's own logs (zerolog) stay at warnings; ours are slog.
	fhttp.SetLogLevel(fhttp.LogWarn)
	inst, m := spec.New()
	var srv *http.Server
	var start func(context.Context) error
	switch spec.Kind {
	case kindHTTP:
		s := fhttp.New(inst.(fhttp.Handler))
		srv, start = &s.Server, s.Start
	default:
		s := fce.New(inst)
		srv, start = &s.Server, s.Start
	}
	// A stage works inside its request (a 3-hour lecture takes a while): the
	// runtime's 30 s write timeout would cut it off.
	srv.WriteTimeout, srv.ReadTimeout = 0, 5*time.Minute
	srv.Handler = withMetrics(srv.Handler, m)
	fmt.Fprintf(stdout, "transcept function %s starting\n", spec.Name)
	return start(ctx)
}

const lambdaHelp = `Usage: transcept lambda gateway|answer|ingest

Runs a function as an AWS Lambda handler, sharing its code with Knative:
gateway and answer take API Gateway HTTP API (payload 2.0) events; ingest
takes S3 event notifications and sends CloudEvents to K_SINK.
`

func cmdLambda(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("lambda", lambdaHelp, stderr)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || (pos[0] != "gateway" && pos[0] != "answer" && pos[0] != "ingest") {
		return usageError{msg: "give gateway, answer or ingest; see --help"}
	}
	inst, _ := registry[pos[0]].New()
	if err := inst.Start(ctx, config.Environ()); err != nil {
		return err
	}
	if pos[0] == "ingest" {
		awslambda.StartWithOptions(lambda.S3(inst.(*ingest.Function)), awslambda.WithContext(ctx))
		return nil
	}
	awslambda.StartWithOptions(lambda.HTTP(http.HandlerFunc(inst.(fhttp.Handler).Handle)), awslambda.WithContext(ctx))
	return nil
}

const brokerHelp = `Usage: transcept broker --infra infra/ --route SERVICE=URL ... [--addr 127.0.0.1:0]

A local stand-in for the Knative Broker: reads the Broker and Triggers from
infra/ and delivers events to functions running as separate processes, with
the Triggers' filters, retries with backoff and the dead-letter sink.
Point ingest's K_SINK at the address it prints.
`

type routeFlags map[string]string

func (r routeFlags) String() string { return fmt.Sprint(map[string]string(r)) }
func (r routeFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" || v == "" {
		return fmt.Errorf("want SERVICE=URL, got %q", s)
	}
	r[k] = v
	return nil
}

func cmdBroker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("broker", brokerHelp, stderr)
	dir := fs.String("infra", "infra", "folder with the Broker and Trigger manifests")
	addr := fs.String("addr", "127.0.0.1:8090", "listen address")
	scale := fs.Float64("backoff-scale", 1, "multiply every backoff delay (tests use 0.01)")
	routes := routeFlags{}
	fs.Var(routes, "route", "SERVICE=URL of a subscriber (repeat)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := eventing.Load(*dir)
	if err != nil {
		return lecture.Wrap(lecture.EINVALID, err, "loading triggers from %s", *dir)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	stopTraces, err := tracing.Setup(ctx, "transcept-broker")
	if err != nil {
		return lecture.Wrap(lecture.EINVALID, err, "tracing (OTEL_* settings)")
	}
	defer flushTraces(stopTraces)
	b, err := eventing.NewBroker(cfg, routes, log)
	if err != nil {
		return usageError{msg: err.Error()}
	}
	b.BackoffScale = *scale
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "cannot listen on %s", *addr)
	}
	fmt.Fprintf(stdout, "transcept broker listening on http://%s\n", ln.Addr())
	hs := &http.Server{Handler: b, ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); _ = hs.Close() }()
	if err := hs.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	b.Wait()
	return nil
}
