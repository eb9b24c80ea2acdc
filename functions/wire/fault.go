package wire

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/lecture"
)

// fault makes engine runs slow or failing on purpose (TRANSCEPT_FAULT_DELAY,
// TRANSCEPT_FAULT_ERROR_RATE), so that tests can deploy a canary challenger
// that the rollout analysis must catch. Off unless one of them is set.
type fault struct {
	delay time.Duration
	rate  float64
}

func (f fault) on() bool { return f.delay > 0 || f.rate > 0 }

// inject waits the delay (or until ctx ends), then fails a share rate of
// the runs with an internal error (a 500 from the function or the API).
func (f fault) inject(ctx context.Context, engine string) error {
	if f.delay > 0 {
		t := time.NewTimer(f.delay)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return lecture.Wrap(lecture.EUNAVAILABLE, ctx.Err(), "%s cancelled", engine)
		case <-t.C:
		}
	}
	if f.rate > 0 && rand.Float64() < f.rate {
		return lecture.Errorf(lecture.EINTERNAL, "%s: injected fault (TRANSCEPT_FAULT_ERROR_RATE=%g)", engine, f.rate)
	}
	return nil
}

type faultySummarizer struct {
	lecture.Summarizer
	f fault
}

func (s faultySummarizer) Summarize(ctx context.Context, sents []lecture.Sentence, opts lecture.SummarizeOptions) (*lecture.Summary, error) {
	if err := s.f.inject(ctx, "summarizer "+s.Name()); err != nil {
		return nil, err
	}
	return s.Summarizer.Summarize(ctx, sents, opts)
}

type faultyTranscriber struct {
	lecture.Transcriber
	f fault
}

func (t faultyTranscriber) Transcribe(ctx context.Context, path string, opts lecture.TranscribeOptions, progress lecture.Progress) (*lecture.Transcript, error) {
	if err := t.f.inject(ctx, "transcriber "+t.Name()); err != nil {
		return nil, err
	}
	return t.Transcriber.Transcribe(ctx, path, opts, progress)
}

// withFaults wraps the engines in the fault settings of c, when set.
func withFaults(c *config.Config, sum lecture.Summarizer, tx lecture.Transcriber) (lecture.Summarizer, lecture.Transcriber) {
	f := fault{delay: c.Rollout.FaultDelay, rate: c.Rollout.FaultErrorRate}
	if !f.on() {
		return sum, tx
	}
	sum = faultySummarizer{sum, f}
	if tx != nil {
		tx = faultyTranscriber{tx, f}
	}
	return sum, tx
}
