package eventing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/lecture"
)

// memJournal is a Journal in memory, shared by the "processes" of a test.
type memJournal struct {
	mu   sync.Mutex
	jobs map[string]Job[lecture.Event]
	fail atomic.Bool // every call fails: a store that is down
}

func newMemJournal() *memJournal { return &memJournal{jobs: map[string]Job[lecture.Event]{}} }

func (m *memJournal) Save(_ context.Context, j Job[lecture.Event]) error {
	if m.fail.Load() {
		return errors.New("store down")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.jobs[JobID(j)] = j
	return nil
}

func (m *memJournal) Delete(_ context.Context, j Job[lecture.Event]) error {
	if m.fail.Load() {
		return errors.New("store down")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.jobs, JobID(j))
	return nil
}

func (m *memJournal) List(context.Context) ([]Job[lecture.Event], error) {
	if m.fail.Load() {
		return nil, errors.New("store down")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Job[lecture.Event]
	for _, j := range m.jobs {
		out = append(out, j)
	}
	return out, nil
}

func (m *memJournal) get(id string) (Job[lecture.Event], bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[id]
	return j, ok
}

func (m *memJournal) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.jobs)
}

func durableBus(j Journal[lecture.Event], workers int) *Bus[lecture.Event] {
	b := NewBus(workers, slog.New(slog.NewTextHandler(io.Discard, nil)))
	b.Backoff = time.Millisecond
	b.Journal = j
	return b
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// A process that dies in the middle of a stage leaves its job in the
// journal, leased to a dead owner; the next process runs it again, and the
// follow-up runs once.
func TestCrashedStageRunsAgainAtNextStart(t *testing.T) {
	j := newMemJournal()
	first := durableBus(j, 1)
	started := make(chan struct{})
	first.Subscribe(lecture.LectureUploaded, "transcribe", func(ctx context.Context, e lecture.Event) ([]lecture.Event, error) {
		close(started)
		select {} // the process "dies" here: never returns
	})
	if err := first.Publish(lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: "l1", Size: 10})); err != nil {
		t.Fatal(err)
	}
	<-started
	job, ok := j.get("l1.transcribe")
	if !ok || job.LeaseOwner != first.Owner() {
		t.Fatalf("running job not leased in the journal: %+v", job)
	}

	second := durableBus(j, 1)
	var ran, follow atomic.Int64
	second.Subscribe(lecture.LectureUploaded, "transcribe", func(ctx context.Context, e lecture.Event) ([]lecture.Event, error) {
		ran.Add(1)
		return []lecture.Event{lecture.NewEvent(lecture.TranscriptReady, e.Data)}, nil
	})
	second.Subscribe(lecture.TranscriptReady, "segment", func(ctx context.Context, e lecture.Event) ([]lecture.Event, error) {
		follow.Add(1)
		return nil, nil
	})
	n, err := second.Recover(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("Recover queued %d jobs, err %v; want 1", n, err)
	}
	second.Close()
	if ran.Load() != 1 || follow.Load() != 1 {
		t.Errorf("stage ran %d times, follow-up %d; want 1 and 1", ran.Load(), follow.Load())
	}
	if j.len() != 0 {
		t.Errorf("journal keeps %d jobs after all work is done", j.len())
	}
}

// An input that crashes the process every time ends dead-lettered, not in
// an endless crash loop.
func TestRepeatedCrashesDeadLetter(t *testing.T) {
	j := newMemJournal()
	ev := lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: "poison"})
	_ = j.Save(context.Background(), Job[lecture.Event]{Trigger: "transcribe", Event: ev, Interrupted: 4, LeaseOwner: "gone-host-is-not-us/1/x", Enqueued: time.Now()})
	// Another host's lease: only expiry frees it.
	b := durableBus(j, 1)
	b.MaxInterrupted = 5
	var reason atomic.Value
	b.Subscribe(lecture.LectureUploaded, "transcribe", func(ctx context.Context, e lecture.Event) ([]lecture.Event, error) {
		t.Error("a poisoned job ran again")
		return nil, nil
	})
	b.DeadLetterSink(func(ctx context.Context, e lecture.Event, err error) error { reason.Store(err.Error()); return nil })
	if n, _ := b.Recover(context.Background()); n != 0 {
		t.Fatalf("queued %d jobs; the lease (no expiry given) is expired, so it should be dead-lettered", n)
	}
	b.Close()
	if r, _ := reason.Load().(string); !strings.Contains(r, "stopped 5 times") {
		t.Errorf("dead-letter reason %q", r)
	}
	if j.len() != 0 {
		t.Errorf("dead-lettered job still queued")
	}
}

// A lease held by a live process on another host is respected until it
// expires.
func TestLiveForeignLeaseIsRespected(t *testing.T) {
	j := newMemJournal()
	ev := lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: "busy"})
	_ = j.Save(context.Background(), Job[lecture.Event]{Trigger: "transcribe", Event: ev, LeaseOwner: "other-host/123/abc", LeaseUntil: time.Now().Add(time.Hour), Enqueued: time.Now()})
	b := durableBus(j, 1)
	b.Subscribe(lecture.LectureUploaded, "transcribe", func(ctx context.Context, e lecture.Event) ([]lecture.Event, error) {
		t.Error("ran a job another live process holds")
		return nil, nil
	})
	if n, err := b.Recover(context.Background()); n != 0 || err != nil {
		t.Fatalf("queued %d, err %v", n, err)
	}
	b.Close()
	if j.len() != 1 {
		t.Error("the other process's job was removed")
	}
}

// Shutdown cancels a stage that outlives the grace period and leaves it
// queued, not counted as a failure; the next start finishes it.
func TestShutdownLeavesWorkQueued(t *testing.T) {
	j := newMemJournal()
	b := durableBus(j, 1)
	started := make(chan struct{})
	b.Subscribe(lecture.LectureUploaded, "transcribe", func(ctx context.Context, e lecture.Event) ([]lecture.Event, error) {
		if e.Data.LectureID == "slow" {
			close(started)
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return nil, nil
	})
	_ = b.Publish(lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: "slow"}))
	<-started
	_ = b.Publish(lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: "waiting"}))
	t0 := time.Now()
	left := b.Shutdown(50 * time.Millisecond)
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("shutdown took %s with a 50 ms grace", d)
	}
	if left != 2 || j.len() != 2 {
		t.Fatalf("left %d in memory, %d in the journal; want 2 and 2", left, j.len())
	}
	if job, _ := j.get("slow.transcribe"); job.Attempts != 0 || job.LeaseOwner != "" {
		t.Errorf("the cut-short job counts as failed or stays leased: %+v", job)
	}
	next := durableBus(j, 1)
	var done atomic.Int64
	next.Subscribe(lecture.LectureUploaded, "transcribe", func(ctx context.Context, e lecture.Event) ([]lecture.Event, error) {
		done.Add(1)
		return nil, nil
	})
	if n, _ := next.Recover(context.Background()); n != 2 {
		t.Fatalf("next start queued %d jobs, want 2", n)
	}
	next.Close()
	if done.Load() != 2 || j.len() != 0 {
		t.Errorf("ran %d, journal %d", done.Load(), j.len())
	}
}

// Publish fails, and says so, when the journal cannot take the event: the
// caller must not report the work as accepted.
func TestPublishFailsWhenJournalDown(t *testing.T) {
	j := newMemJournal()
	b := durableBus(j, 1)
	b.Subscribe(lecture.LectureUploaded, "transcribe", func(ctx context.Context, e lecture.Event) ([]lecture.Event, error) { return nil, nil })
	j.fail.Store(true)
	if err := b.Publish(lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: "x"})); err == nil || !strings.Contains(err.Error(), "store down") {
		t.Errorf("Publish with the journal down: %v", err)
	}
	j.fail.Store(false)
	b.Close()
}

// A follow-up that cannot be queued (store down) makes the stage run again
// once the store is back: nothing is lost between stages.
func TestFollowUpNotLostWhenStoreFlaps(t *testing.T) {
	j := newMemJournal()
	b := durableBus(j, 1)
	var segment atomic.Int64
	var flapped atomic.Bool
	b.Subscribe(lecture.LectureUploaded, "transcribe", func(ctx context.Context, e lecture.Event) ([]lecture.Event, error) {
		if flapped.Swap(true) {
			return []lecture.Event{lecture.NewEvent(lecture.TranscriptReady, e.Data)}, nil
		}
		j.fail.Store(true) // the store goes down right after the stage's work
		go func() { time.Sleep(20 * time.Millisecond); j.fail.Store(false) }()
		return []lecture.Event{lecture.NewEvent(lecture.TranscriptReady, e.Data)}, nil
	})
	b.Subscribe(lecture.TranscriptReady, "segment", func(ctx context.Context, e lecture.Event) ([]lecture.Event, error) {
		segment.Add(1)
		return nil, nil
	})
	_ = b.Publish(lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: "flap"}))
	b.Close()
	if segment.Load() != 1 || j.len() != 0 {
		t.Errorf("segment ran %d times, journal %d", segment.Load(), j.len())
	}
}

// A stage past its budget is cancelled and retried, then dead-lettered with
// a reason that names the budget.
func TestBudgetCancelsAndNamesIt(t *testing.T) {
	b := durableBus(newMemJournal(), 1)
	b.Retries = 1
	b.Budget = func(Job[lecture.Event]) time.Duration { return 20 * time.Millisecond }
	var reason atomic.Value
	b.Subscribe(lecture.LectureUploaded, "summarize", func(ctx context.Context, e lecture.Event) ([]lecture.Event, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	b.DeadLetterSink(func(ctx context.Context, e lecture.Event, err error) error { reason.Store(err.Error()); return nil })
	_ = b.Publish(lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: "long"}))
	b.Close()
	if r, _ := reason.Load().(string); !strings.Contains(r, "time budget") {
		t.Errorf("reason %q", r)
	}
}

// With one busy worker, queued jobs run smallest input first; the reserved
// worker runs a small lecture while a big one holds the general worker.
func TestSchedulingSmallFirst(t *testing.T) {
	b := durableBus(nil, 1)
	b.AgeingPerMiB = time.Hour
	release := make(chan struct{})
	var mu sync.Mutex
	var order []string
	b.Subscribe(lecture.LectureUploaded, "stage", func(ctx context.Context, e lecture.Event) ([]lecture.Event, error) {
		if e.Data.LectureID == "blocker" {
			<-release
		}
		mu.Lock()
		order = append(order, e.Data.LectureID)
		mu.Unlock()
		return nil, nil
	})
	_ = b.Publish(lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: "blocker", Size: 1}))
	waitFor(t, "the blocker to start", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.jobs["blocker.stage"].running })
	_ = b.Publish(lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: "big", Size: 10 << 20}))
	_ = b.Publish(lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: "tiny", Size: 1 << 10}))
	_ = b.Publish(lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: "mid", Size: 5 << 20}))
	close(release)
	b.Close()
	if got := strings.Join(order, " "); got != "blocker tiny mid big" {
		t.Errorf("order %q, want smallest first", got)
	}

	r := durableBus(nil, 1)
	r.SmallBytes = 1 << 20
	hold := make(chan struct{})
	smallDone := make(chan struct{})
	r.Subscribe(lecture.LectureUploaded, "stage", func(ctx context.Context, e lecture.Event) ([]lecture.Event, error) {
		if e.Data.LectureID == "big" {
			<-hold
		} else {
			close(smallDone)
		}
		return nil, nil
	})
	_ = r.Publish(lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: "big", Size: 3 << 20}))
	_ = r.Publish(lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: "small", Size: 31 << 10}))
	select {
	case <-smallDone:
	case <-time.After(5 * time.Second):
		t.Error("a small lecture waited behind a big one")
	}
	close(hold)
	r.Close()
}

// One owner's flood does not starve another: with FairShare, a lecture
// from a second user, published after ten from the first, runs right after
// the first user's running one, not after all ten; without it, it runs
// last. Every job still runs, and the owner counts drain to nothing.
func TestSchedulingFairBetweenOwners(t *testing.T) {
	for _, c := range []struct {
		share time.Duration
		want  int // position of bob's lecture in the run order
	}{{time.Minute, 1}, {0, 10}} {
		b := durableBus(nil, 1)
		b.FairShare = c.share
		release := make(chan struct{})
		var mu sync.Mutex
		var order []string
		b.Subscribe(lecture.LectureUploaded, "stage", func(ctx context.Context, e lecture.Event) ([]lecture.Event, error) {
			if e.Data.LectureID == "alice-0" {
				<-release
			}
			mu.Lock()
			order = append(order, e.Data.LectureID)
			mu.Unlock()
			return nil, nil
		})
		_ = b.Publish(lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: "alice-0", Size: 1, Owner: "alice"}))
		waitFor(t, "alice's first lecture to start", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.jobs["alice-0.stage"].running })
		for i := 1; i < 10; i++ {
			_ = b.Publish(lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: fmt.Sprintf("alice-%d", i), Size: 1, Owner: "alice"}))
		}
		time.Sleep(5 * time.Millisecond) // bob uploads later than all of alice's
		_ = b.Publish(lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: "bob-0", Size: 1, Owner: "bob"}))
		close(release)
		b.Close()
		if len(order) != 11 {
			t.Fatalf("share %v: %d jobs ran, want 11: %v", c.share, len(order), order)
		}
		pos := slices.Index(order, "bob-0")
		if pos != c.want {
			t.Errorf("share %v: bob's lecture ran at position %d of %v, want %d", c.share, pos, order, c.want)
		}
		// Alice's own lectures keep their order among themselves.
		var alice []string
		for _, id := range order {
			if strings.HasPrefix(id, "alice-") {
				alice = append(alice, id)
			}
		}
		for i, id := range alice {
			if id != fmt.Sprintf("alice-%d", i) {
				t.Errorf("share %v: alice's lectures out of order: %v", c.share, alice)
				break
			}
		}
		b.mu.Lock()
		if len(b.owned) != 0 {
			t.Errorf("share %v: owner counts left after every job finished: %v", c.share, b.owned)
		}
		b.mu.Unlock()
	}
}

// A newer event for a lecture whose job is running is not lost: it runs
// after the current one, and its journal record survives the first one's
// completion.
func TestNewerEventWhileRunning(t *testing.T) {
	j := newMemJournal()
	b := durableBus(j, 1)
	gate := make(chan struct{})
	var hashes []string
	var mu sync.Mutex
	b.Subscribe(lecture.LectureUploaded, "stage", func(ctx context.Context, e lecture.Event) ([]lecture.Event, error) {
		if e.Data.ContentHash == "v1" {
			<-gate
		}
		mu.Lock()
		hashes = append(hashes, e.Data.ContentHash)
		mu.Unlock()
		return nil, nil
	})
	_ = b.Publish(lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: "l", ContentHash: "v1"}))
	waitFor(t, "v1 to run", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.jobs["l.stage"] != nil && b.jobs["l.stage"].running
	})
	_ = b.Publish(lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: "l", ContentHash: "v2"}))
	close(gate)
	b.Close()
	if strings.Join(hashes, ",") != "v1,v2" || j.len() != 0 {
		t.Errorf("ran %v, journal %d", hashes, j.len())
	}
}

// A dependency that is down (a full disk, a stopped store) does not use up
// the retries: the stage waits with backoff and runs when it is back.
func TestUnavailableDependencyWaits(t *testing.T) {
	b := durableBus(newMemJournal(), 1)
	b.Retries = 1
	b.MaxDelay = 5 * time.Millisecond
	down := errors.New("disk full")
	b.Unavailable = func(err error) bool { return errors.Is(err, down) }
	var tries atomic.Int64
	var dead atomic.Bool
	b.Subscribe(lecture.LectureUploaded, "index", func(ctx context.Context, e lecture.Event) ([]lecture.Event, error) {
		if tries.Add(1) < 20 {
			return nil, down
		}
		return nil, nil
	})
	b.DeadLetterSink(func(ctx context.Context, e lecture.Event, err error) error { dead.Store(true); return nil })
	_ = b.Publish(lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: "waits"}))
	b.Close()
	if tries.Load() != 20 || dead.Load() {
		t.Errorf("tries %d, dead-lettered %v; want 20 tries and success", tries.Load(), dead.Load())
	}

	// Past UnavailableFor the failures count like any other.
	c := durableBus(newMemJournal(), 1)
	c.Retries = 1
	c.UnavailableFor = 0
	c.Unavailable = b.Unavailable
	c.Subscribe(lecture.LectureUploaded, "index", func(ctx context.Context, e lecture.Event) ([]lecture.Event, error) { return nil, down })
	c.DeadLetterSink(func(ctx context.Context, e lecture.Event, err error) error { dead.Store(true); return nil })
	_ = c.Publish(lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: "gives-up"}))
	c.Close()
	if !dead.Load() {
		t.Error("an endless outage never dead-lettered")
	}
}
