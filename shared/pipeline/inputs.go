package pipeline

import (
	"context"
	"time"

	"github.com/transcept/transcept/shared/lecture"
)

// InputRecorder measures each lecture's input as the segment stage reads
// its transcript (words, language, no-speech and out-of-vocabulary shares:
// the input drift measures, evalset.Recorder).
type InputRecorder interface {
	Observe(ctx context.Context, lectureID string, tr *lecture.Transcript)
	// Forget deletes what was kept of a lecture measured between from and
	// to (its creation and last update), when the lecture is deleted.
	Forget(ctx context.Context, lectureID string, from, to time.Time) error
}

// observeInput hands a transcript to the input recorder, when there is one.
func (s *Service) observeInput(ctx context.Context, id string, tr *lecture.Transcript) {
	if s.Inputs != nil {
		s.Inputs.Observe(ctx, id, tr)
	}
}
