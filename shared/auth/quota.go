package auth

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/lecture"
)

// jobsRetry is the Retry-After of the concurrent-jobs limit: a job's end
// cannot be predicted, so clients poll.
const jobsRetry = 30 * time.Second

// QuotaError is a limit that was reached. lecture.ErrorCode reports
// catalogue.EQUOTA for it (HTTP 429) and lecture.ErrorMessage its message;
// RetryAfter returns when to try again.
type QuotaError struct {
	Limit      string        // what is limited, e.g. "uploads per hour"
	Max        float64       // the limit
	RetryAfter time.Duration // until the window ends
}

// Error says which limit was reached and when to try again, e.g. "quota
// reached: 100 uploads per hour; try again in 23m".
func (e *QuotaError) Error() string {
	return fmt.Sprintf("quota reached: %s %s; try again in %s",
		strconv.FormatFloat(e.Max, 'f', -1, 64), e.Limit, roundUp(e.RetryAfter))
}

// As makes errors.As(err, &*lecture.Error) see a QuotaError as an EQUOTA
// lecture error, so lecture.ErrorCode and ErrorMessage work on it.
func (e *QuotaError) As(target any) bool {
	if t, ok := target.(**lecture.Error); ok {
		*t = &lecture.Error{Code: catalogue.EQUOTA, Message: e.Error()}
		return true
	}
	return false
}

// RetryAfter returns the RetryAfter of a *QuotaError in err's chain (for
// the Retry-After header), and whether there was one.
func RetryAfter(err error) (time.Duration, bool) {
	var q *QuotaError
	if errors.As(err, &q) {
		return q.RetryAfter, true
	}
	return 0, false
}

// roundUp writes d for people, rounded up: "45s", "23m", "3h12m".
func roundUp(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", (d+time.Second-1)/time.Second)
	case d < time.Hour:
		return fmt.Sprintf("%dm", (d+time.Minute-1)/time.Minute)
	}
	m := (d + time.Minute - 1) / time.Minute
	return fmt.Sprintf("%dh%dm", m/60, m%60)
}

// Quotas enforces the per-user limits; a 0 limit is unlimited. Counters
// live in the catalogue (AddUsage), so limits hold across replicas.
type Quotas struct {
	Cat         catalogue.Catalogue
	MediaHours  float64 // recording hours per UTC day
	Uploads     float64 // uploads per hour
	Jobs        float64 // lectures processing at once
	QAPerMinute float64 // questions per minute
	Now         func() time.Time
}

func (q *Quotas) now() time.Time {
	if q.Now != nil {
		return q.Now()
	}
	return time.Now()
}

// Upload admits one upload of mediaSeconds of recording (0 for a
// transcript, or when the length is not known yet) by the user: it checks
// the user's lectures still processing against Jobs, then counts the
// upload against Uploads per hour and the recording against MediaHours
// per day, atomically in the catalogue. Over a limit it counts nothing
// and returns a *QuotaError. The jobs check reads a count and is not
// atomic: concurrent uploads may pass it together.
func (q *Quotas) Upload(ctx context.Context, userID string, mediaSeconds float64) error {
	if q.Jobs > 0 {
		n, err := q.Cat.CountActive(ctx, userID)
		if err != nil {
			return lecture.Wrap(lecture.EUNAVAILABLE, err, "cannot check the jobs quota")
		}
		if float64(n) >= q.Jobs {
			return &QuotaError{Limit: "lectures processing at once", Max: q.Jobs, RetryAfter: jobsRetry}
		}
	}
	now := q.now()
	var refund func()
	if q.Uploads > 0 {
		w := catalogue.Window(catalogue.CounterUploads, now)
		if err := q.add(ctx, userID, catalogue.CounterUploads, w, 1, q.Uploads, "uploads per hour", now); err != nil {
			return err
		}
		refund = func() {
			_, _ = q.Cat.AddUsage(context.WithoutCancel(ctx), userID, catalogue.CounterUploads, w, -1, 0) // best effort
		}
	}
	if q.MediaHours > 0 && mediaSeconds > 0 {
		w := catalogue.Window(catalogue.CounterMediaSeconds, now)
		if err := q.add(ctx, userID, catalogue.CounterMediaSeconds, w, mediaSeconds, q.MediaHours*3600, "recording hours per day", now); err != nil {
			if qe := (*QuotaError)(nil); errors.As(err, &qe) {
				qe.Max = q.MediaHours
			}
			if refund != nil {
				refund()
			}
			return err
		}
	}
	return nil
}

// Ask admits one question by the user against QAPerMinute.
func (q *Quotas) Ask(ctx context.Context, userID string) error {
	if q.QAPerMinute <= 0 {
		return nil
	}
	now := q.now()
	return q.add(ctx, userID, catalogue.CounterQA, catalogue.Window(catalogue.CounterQA, now), 1, q.QAPerMinute, "questions per minute", now)
}

func (q *Quotas) add(ctx context.Context, userID, counter string, window time.Time, delta, limit float64, name string, now time.Time) error {
	_, err := q.Cat.AddUsage(ctx, userID, counter, window, delta, limit)
	if err == nil {
		return nil
	}
	if lecture.ErrorCode(err) == catalogue.EQUOTA {
		return &QuotaError{Limit: name, Max: limit, RetryAfter: windowEnd(counter, window).Sub(now)}
	}
	return lecture.Wrap(lecture.EUNAVAILABLE, err, "cannot check the %s quota", name)
}

// windowEnd returns when the counter's window starting at start ends.
func windowEnd(counter string, start time.Time) time.Time {
	switch counter {
	case catalogue.CounterMediaSeconds:
		return start.AddDate(0, 0, 1)
	case catalogue.CounterUploads:
		return start.Add(time.Hour)
	}
	return start.Add(time.Minute)
}
