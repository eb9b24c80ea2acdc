// Package ingest is the adapter between MinIO and the Broker: it receives
// MinIO's bucket notifications (S3 event JSON, decoded with aws-lambda-go's
// events.S3Event), answers MinIO's HEAD probe, and sends one
// transcept.lecture.uploaded CloudEvent per new object to K_SINK (set by a
// SinkBinding to the Broker). Events carry references, never payloads.
package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	awsevents "github.com/aws/aws-lambda-go/events"

	"github.com/transcept/transcept/functions/wire"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/eventing"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/tracing"
)

// MaxNotificationBytes bounds a notification body.
const MaxNotificationBytes = 4 << 20

// Function is the func-go instance.
type Function struct {
	wire.Base
	sink   string
	sender *eventing.Sender
}

// New returns the instance.
func New() *Function { return &Function{Base: wire.NewBase("ingest")} }

// Start wires the suite and the CloudEvents client for K_SINK.
func (f *Function) Start(ctx context.Context, cfg map[string]string) error {
	f.sink = cfg["K_SINK"]
	if f.sink == "" {
		f.sink = config.Get("K_SINK") // a SinkBinding sets it in the environment
	}
	if f.sink == "" {
		return fmt.Errorf("ingest: K_SINK is not set: bind the function to the Broker with a SinkBinding (infra/eventing), or set K_SINK")
	}
	c, err := eventing.NewSender(f.sink)
	if err != nil {
		return err
	}
	f.sender = c
	return f.Base.Start(ctx, cfg)
}

// Handle answers MinIO's HEAD probe and turns notifications into events.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodHead, http.MethodGet:
		w.WriteHeader(http.StatusOK) // MinIO probes the endpoint before enabling the target
		return
	case http.MethodPost:
	default:
		http.Error(w, "POST a bucket notification", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxNotificationBytes+1))
	if err != nil || len(body) > MaxNotificationBytes {
		http.Error(w, "notification unreadable or over 4 MiB", http.StatusRequestEntityTooLarge)
		return
	}
	var n awsevents.S3Event
	if err := json.Unmarshal(body, &n); err != nil {
		http.Error(w, "not an S3 event notification: "+err.Error(), http.StatusBadRequest)
		return
	}
	sent, err := f.Notify(r.Context(), n)
	if err != nil {
		code := http.StatusInternalServerError // MinIO retries
		if lecture.ErrorCode(err) == lecture.EINVALID {
			code = http.StatusBadRequest
		}
		http.Error(w, err.Error(), code)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]int{"events_sent": sent})
}

// Notify sends one event per created object in the notification. Records
// for other buckets or event kinds are skipped; an invalid key is logged
// and skipped (retrying cannot fix it); a failure to reach the Broker is an
// error, so that the sender retries.
func (f *Function) Notify(ctx context.Context, n awsevents.S3Event) (int, error) {
	done, err := f.Enter()
	if err != nil {
		return 0, err
	}
	defer done()
	sent := 0
	for _, rec := range n.Records {
		if !strings.HasPrefix(rec.EventName, "s3:ObjectCreated:") && !strings.HasPrefix(rec.EventName, "ObjectCreated:") {
			continue
		}
		key, err := url.QueryUnescape(rec.S3.Object.Key) // S3 notifications URL-encode keys
		if err != nil {
			f.Log().Warn("notification key is not URL-encoded text", "key", rec.S3.Object.Key)
			continue
		}
		ok, err := f.notifyOne(ctx, rec.S3.Bucket.Name, key, rec.S3.Object.ETag)
		if err != nil {
			return sent, err
		}
		if ok {
			sent++
		}
	}
	return sent, nil
}

// notifyOne sends the event of one created object, in the span that starts
// the upload's trace ("stage ingest"): every later stage is its descendant.
// ok is false when the object was skipped.
func (f *Function) notifyOne(ctx context.Context, bucket, key, etag string) (ok bool, err error) {
	ctx, end := tracing.StartConsumer(ctx, "stage ingest", tracing.String("transcept.stage", "ingest"),
		tracing.String("transcept.store.bucket", bucket), tracing.String("transcept.store.key", key))
	defer func() { end(err) }()
	ev, err := f.Suite().Service.Ingest(ctx, bucket, key, etag)
	if lecture.ErrorCode(err) == lecture.EINVALID || lecture.ErrorCode(err) == lecture.ENOTFOUND {
		f.Log().Warn("object skipped", "bucket", bucket, "key", key, "err", err)
		return false, nil
	} else if err != nil {
		return false, err
	}
	tracing.Annotate(ctx, tracing.String("transcept.lecture_id", ev.Data.LectureID), tracing.String("cloudevents.event_type", ev.Type))
	ce, err := eventing.ToCloudEvent(ev)
	if err != nil {
		return false, err
	}
	if res := f.sender.Send(ctx, ce); res != nil {
		return false, lecture.Wrap(lecture.EUNAVAILABLE, res, "sending %s for %s to %s", ev.Type, key, f.sink)
	}
	f.Metrics.CountEvent(ev.Type, "sent")
	f.Log().Info("lecture uploaded", "lecture", ev.Data.LectureID, "key", key, "hash", ev.Data.ContentHash)
	return true, nil
}
