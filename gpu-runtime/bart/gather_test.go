package bart

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/transcept/transcept/gpu-runtime/seq2seq"
	"github.com/transcept/transcept/shared/lecture"
)

// fakeGen stands for the model: each call is announced on calls (the rows'
// first ids) and waits for a value on release (when hold is set); a row
// whose first id is 99 breaks any batch it is in, 98 panics, and a row
// whose Done is closed comes back cancelled. Output ids are [start, id×2,
// EOS] for input [id …].
type fakeGen struct {
	calls   chan []int
	release chan struct{}
	hold    bool
}

func newFakeGen(hold bool) *fakeGen {
	return &fakeGen{calls: make(chan []int, 100), release: make(chan struct{}), hold: hold}
}

func (f *fakeGen) gen(in []seq2seq.Input) ([]seq2seq.Output, error) {
	var firsts []int
	for _, x := range in {
		firsts = append(firsts, x.IDs[0])
	}
	f.calls <- firsts
	if f.hold {
		<-f.release
	}
	out := make([]seq2seq.Output, len(in))
	for i, x := range in {
		switch x.IDs[0] {
		case 99:
			if len(in) > 1 {
				return nil, lecture.Errorf(lecture.EINTERNAL, "row 99 breaks the batch")
			}
			return nil, lecture.Errorf(lecture.EINVALID, "row 99 is broken")
		case 98:
			panic("row 98")
		}
		select {
		case <-x.Done:
			out[i].Err = lecture.Errorf(lecture.EUNAVAILABLE, "cancelled")
			continue
		default:
		}
		out[i].IDs = []int{0, x.IDs[0] * 2, 2}
	}
	return out, nil
}

// fakeClock is a clock that moves only when the test advances it, which
// also fires every timer the gatherer started; waits records the timers'
// durations.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	timers []fakeTimer
	waits  []time.Duration
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1e9, 0)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// until is a timer for moment at: fired at once when the clock is there
// already, else by the advance that reaches it.
func (c *fakeClock) until(at time.Time) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waits = append(c.waits, at.Sub(c.t))
	if !at.After(c.t) {
		ch <- c.t
		return ch
	}
	c.timers = append(c.timers, fakeTimer{at, ch})
	return ch
}

// advance moves the clock on and fires the timers that are then due.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	kept := c.timers[:0]
	for _, tm := range c.timers {
		if tm.at.After(c.t) {
			kept = append(kept, tm)
			continue
		}
		tm.ch <- c.t
	}
	c.timers = kept
}

func (c *fakeClock) durations() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.waits)
}

func testGatherer(t *testing.T, maxRows int, wait time.Duration, f *fakeGen) (*gatherer, *fakeClock) {
	t.Helper()
	g := newGatherer(maxRows, wait, f.gen)
	c := newFakeClock()
	g.now, g.until = c.now, c.until
	g.start()
	t.Cleanup(func() {
		if f.hold {
			close(f.release)
			f.hold = false
		}
		g.stop()
	})
	return g, c
}

// queued waits until n jobs are queued (no timing: it yields until the
// submitting goroutines got there).
func queued(g *gatherer, n int) {
	for {
		g.mu.Lock()
		k := len(g.pending)
		g.mu.Unlock()
		if k == n {
			return
		}
		runtime.Gosched()
	}
}

type genResult struct {
	ids [][]int
	err error
}

// submit runs g.generate for windows whose first ids are firsts, in the
// background.
func submit(ctx context.Context, g *gatherer, firsts ...int) chan genResult {
	res := make(chan genResult, 1)
	var windows [][]int
	for _, f := range firsts {
		windows = append(windows, []int{f, 5, 6})
	}
	go func() {
		ids, err := g.generate(ctx, windows)
		res <- genResult{ids, err}
	}()
	return res
}

func wantIDs(t *testing.T, label string, r genResult, firsts ...int) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("%s: %v", label, r.err)
	}
	var want [][]int
	for _, f := range firsts {
		want = append(want, []int{0, f * 2, 2})
	}
	if fmt.Sprint(r.ids) != fmt.Sprint(want) {
		t.Errorf("%s: %v, want %v", label, r.ids, want)
	}
}

// noCall fails when the model was called (the loop is blocked waiting, so
// nothing can be on the way).
func noCall(t *testing.T, f *fakeGen, why string) {
	t.Helper()
	select {
	case c := <-f.calls:
		t.Fatalf("%s: the model ran %v", why, c)
	default:
	}
}

// TestGathererWaits: a lone window waits for the batch wait (measured from
// the oldest window); windows queued meanwhile join its batch; the model
// runs only once the wait is over.
func TestGathererWaits(t *testing.T) {
	f := newFakeGen(false)
	g, clock := testGatherer(t, 8, 5*time.Millisecond, f)
	a := submit(context.Background(), g, 1)
	queued(g, 1)
	b := submit(context.Background(), g, 2, 3)
	queued(g, 3)
	noCall(t, f, "three windows of 8, wait not over")
	clock.advance(4 * time.Millisecond)
	noCall(t, f, "wait not over after 4ms")
	clock.advance(time.Millisecond)
	if c := <-f.calls; !slices.Equal(c, []int{1, 2, 3}) {
		t.Errorf("batch %v, want [1 2 3]", c)
	}
	wantIDs(t, "a", <-a, 1)
	wantIDs(t, "b", <-b, 2, 3)
	if st := g.Stats(); st.Batches != 1 || st.Rows != 3 || st.Tokens != 6 {
		t.Errorf("stats %v", st)
	}
	for _, d := range clock.durations() {
		if d > 5*time.Millisecond { // (≤ 0: the clock got there before the timer was set)
			t.Errorf("timers %v: want what is left of 5ms", clock.durations())
		}
	}
}

// TestGathererMax: a full batch runs without waiting; what is left over
// waits; no batch is over max.
func TestGathererMax(t *testing.T) {
	f := newFakeGen(false)
	g, clock := testGatherer(t, 4, time.Hour, f)
	a := submit(context.Background(), g, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	if c := <-f.calls; !slices.Equal(c, []int{1, 2, 3, 4}) {
		t.Errorf("first batch %v", c)
	}
	if c := <-f.calls; !slices.Equal(c, []int{5, 6, 7, 8}) {
		t.Errorf("second batch %v", c)
	}
	queued(g, 2)
	noCall(t, f, "two windows left, wait not over")
	clock.advance(time.Hour)
	if c := <-f.calls; !slices.Equal(c, []int{9, 10}) {
		t.Errorf("last batch %v", c)
	}
	wantIDs(t, "a", <-a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
}

// TestGathererRoundRobin: windows queued while a batch runs go in the next
// batch at once (their wait is over), taken in turn from each request, so a
// long lecture does not hold a short request back.
func TestGathererRoundRobin(t *testing.T) {
	f := newFakeGen(true)
	g, clock := testGatherer(t, 4, 5*time.Millisecond, f)
	first := submit(context.Background(), g, 1, 2, 3, 4)
	<-f.calls // running, held
	long := submit(context.Background(), g, 10, 11, 12, 13, 14, 15)
	queued(g, 6)
	short := submit(context.Background(), g, 20, 21)
	queued(g, 8)
	clock.advance(time.Second) // the held batch took a while
	f.release <- struct{}{}
	if c := <-f.calls; !slices.Equal(c, []int{10, 20, 11, 21}) {
		t.Errorf("second batch %v, want the two requests in turn [10 20 11 21]", c)
	}
	f.release <- struct{}{}
	wantIDs(t, "short", <-short, 20, 21)
	if c := <-f.calls; !slices.Equal(c, []int{12, 13, 14, 15}) {
		t.Errorf("third batch %v", c)
	}
	f.release <- struct{}{}
	wantIDs(t, "first", <-first, 1, 2, 3, 4)
	wantIDs(t, "long", <-long, 10, 11, 12, 13, 14, 15)
}

// TestGathererCancel: a request that goes away returns at once; its queued
// windows never reach the model, and its rows in a running batch come back
// cancelled without failing the others.
func TestGathererCancel(t *testing.T) {
	f := newFakeGen(true)
	g, clock := testGatherer(t, 4, 5*time.Millisecond, f)
	ctxA, cancelA := context.WithCancel(context.Background())
	a := submit(ctxA, g, 1, 2)
	queued(g, 2)
	b := submit(context.Background(), g, 3, 4)
	if got := <-f.calls; !slices.Equal(got, []int{1, 2, 3, 4}) { // running, held
		t.Errorf("batch %v", got)
	}
	cancelA()
	if r := <-a; lecture.ErrorCode(r.err) != lecture.EUNAVAILABLE || !errors.Is(r.err, context.Canceled) {
		t.Errorf("cancelled request: %v", r.err)
	}
	f.release <- struct{}{}
	wantIDs(t, "b", <-b, 3, 4)

	// Queued, then cancelled: skipped before the batch runs.
	ctxC, cancelC := context.WithCancel(context.Background())
	c := submit(ctxC, g, 5)
	queued(g, 1)
	d := submit(context.Background(), g, 6)
	queued(g, 2)
	cancelC()
	<-c
	clock.advance(time.Second)
	if got := <-f.calls; !slices.Equal(got, []int{6}) {
		t.Errorf("batch %v, want the cancelled window skipped", got)
	}
	f.release <- struct{}{}
	wantIDs(t, "d", <-d, 6)
}

// TestGathererErrorsIsolated: a row that breaks its batch (an error or a
// panic) fails its own request only: the batch is rerun row by row.
func TestGathererErrorsIsolated(t *testing.T) {
	for _, bad := range []int{99, 98} {
		f := newFakeGen(false)
		g, _ := testGatherer(t, 4, time.Hour, f)
		a := submit(context.Background(), g, 1)
		queued(g, 1)
		b := submit(context.Background(), g, bad)
		queued(g, 2)
		c := submit(context.Background(), g, 3, 4)
		wantIDs(t, fmt.Sprintf("a beside %d", bad), <-a, 1)
		wantIDs(t, fmt.Sprintf("c beside %d", bad), <-c, 3, 4)
		if r := <-b; r.err == nil {
			t.Errorf("row %d: no error", bad)
		} else {
			t.Logf("row %d: %v", bad, r.err)
		}
		var calls [][]int
		for range 5 {
			calls = append(calls, <-f.calls)
		}
		if fmt.Sprint(calls) != fmt.Sprintf("[[1 %d 3 4] [1] [%d] [3] [4]]", bad, bad) {
			t.Errorf("calls %v: want the batch, then each row alone", calls)
		}
		if st := g.Stats(); st.Retries != 1 || st.Batches != 5 {
			t.Errorf("stats %v", st)
		}
	}
}

// TestGathererStop: Close fails what is queued and refuses new work.
func TestGathererStop(t *testing.T) {
	f := newFakeGen(false)
	g, _ := testGatherer(t, 4, time.Hour, f)
	a := submit(context.Background(), g, 1)
	queued(g, 1)
	var wg sync.WaitGroup
	wg.Go(g.stop)
	if r := <-a; lecture.ErrorCode(r.err) != lecture.EUNAVAILABLE {
		t.Errorf("queued at stop: %v", r.err)
	}
	wg.Wait()
	if _, err := g.generate(context.Background(), [][]int{{1}}); lecture.ErrorCode(err) != lecture.EUNAVAILABLE {
		t.Errorf("after stop: %v", err)
	}
	noCall(t, f, "stopped")
}
