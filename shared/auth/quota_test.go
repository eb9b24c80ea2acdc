package auth

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/lecture"
)

func TestQuotaError(t *testing.T) {
	var err error = &QuotaError{Limit: "uploads per hour", Max: 100, RetryAfter: 22*time.Minute + 10*time.Second}
	if lecture.ErrorCode(err) != catalogue.EQUOTA {
		t.Fatalf("code %q", lecture.ErrorCode(err))
	}
	want := "quota reached: 100 uploads per hour; try again in 23m"
	if err.Error() != want || lecture.ErrorMessage(err) != want {
		t.Fatalf("%q / %q, want %q", err.Error(), lecture.ErrorMessage(err), want)
	}
	wrapped := lecture.Wrap(lecture.EINTERNAL, err, "x") // the first *Error in the chain wins
	if d, ok := RetryAfter(wrapped); !ok || d != 22*time.Minute+10*time.Second {
		t.Fatalf("RetryAfter through a wrap = %v, %v", d, ok)
	}
	if _, ok := RetryAfter(errors.New("x")); ok {
		t.Fatal("RetryAfter of a plain error")
	}
	for d, s := range map[time.Duration]string{0: "0s", 1500 * time.Millisecond: "2s", 30 * time.Second: "30s", time.Minute: "1m", 61 * time.Second: "2m", 3*time.Hour + 11*time.Minute + 1: "3h12m"} {
		if got := roundUp(d); got != s {
			t.Errorf("roundUp(%v) = %q, want %q", d, got, s)
		}
	}
}

func TestQuotasUpload(t *testing.T) {
	cat := newFakeCat()
	clk := &clock{t: time.Date(2026, 12, 3, 10, 37, 0, 0, time.UTC)}
	q := &Quotas{Cat: cat, Uploads: 2, MediaHours: 1, Jobs: 3, Now: clk.now}
	if err := q.Upload(ctx, "u1", 1800); err != nil {
		t.Fatal(err)
	}
	// Over media hours: nothing counted, the upload refunded.
	err := q.Upload(ctx, "u1", 1801)
	wantCode(t, err, catalogue.EQUOTA, "quota reached: 1 recording hours per day; try again in 13h23m")
	if d, _ := RetryAfter(err); d != 13*time.Hour+23*time.Minute {
		t.Fatalf("RetryAfter %v", d)
	}
	if err := q.Upload(ctx, "u1", 1800); err != nil {
		t.Fatalf("the refused upload was counted: %v", err)
	}
	err = q.Upload(ctx, "u1", 0)
	wantCode(t, err, catalogue.EQUOTA, "quota reached: 2 uploads per hour; try again in 23m")
	if d, _ := RetryAfter(err); d != 23*time.Minute {
		t.Fatalf("RetryAfter %v", d)
	}
	if err := q.Upload(ctx, "u2", 0); err != nil {
		t.Fatalf("another user: %v", err)
	}
	clk.add(23 * time.Minute)
	if err := q.Upload(ctx, "u1", 0); err != nil {
		t.Fatalf("next hour: %v", err)
	}
	// Concurrent jobs.
	cat.active["u1"] = 3
	err = q.Upload(ctx, "u1", 0)
	wantCode(t, err, catalogue.EQUOTA, "3 lectures processing at once; try again in 30s")
	// Zero limits: unlimited.
	u := &Quotas{Cat: cat, Now: clk.now}
	for range 100 {
		if err := u.Upload(ctx, "u1", 1e6); err != nil {
			t.Fatal(err)
		}
		if err := u.Ask(ctx, "u1"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestQuotasAsk(t *testing.T) {
	cat := newFakeCat()
	clk := &clock{t: time.Date(2026, 12, 3, 10, 37, 15, 0, time.UTC)}
	q := &Quotas{Cat: cat, QAPerMinute: 3, Now: clk.now}
	for range 3 {
		if err := q.Ask(ctx, "u1"); err != nil {
			t.Fatal(err)
		}
	}
	err := q.Ask(ctx, "u1")
	wantCode(t, err, catalogue.EQUOTA, "3 questions per minute; try again in 45s")
	clk.add(45 * time.Second)
	if err := q.Ask(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
}

// TestQuotasRace: 40 concurrent uploads against 10 an hour: exactly 10 pass.
func TestQuotasRace(t *testing.T) {
	cat := newFakeCat()
	q := &Quotas{Cat: cat, Uploads: 10, MediaHours: 100, Jobs: 100}
	var passed, refused atomic.Int32
	var wg sync.WaitGroup
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := q.Upload(ctx, "u1", 60)
			switch {
			case err == nil:
				passed.Add(1)
			case lecture.ErrorCode(err) == catalogue.EQUOTA && strings.Contains(err.Error(), "uploads per hour"):
				refused.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if passed.Load() != 10 || refused.Load() != 30 {
		t.Fatalf("%d passed, %d refused; want 10 and 30", passed.Load(), refused.Load())
	}
}
