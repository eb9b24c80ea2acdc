package lambda

import (
	"context"

	"github.com/aws/aws-lambda-go/events"

	"github.com/transcept/transcept/functions/ingest"
	"github.com/transcept/transcept/shared/tracing"
)

// S3 adapts ingest to S3 event notifications delivered to a Lambda.
func S3(f *ingest.Function) func(context.Context, events.S3Event) error {
	return func(ctx context.Context, e events.S3Event) error {
		_, err := f.Notify(ctx, e)
		_ = tracing.Flush(ctx) // the process may be frozen until the next event
		return err
	}
}
