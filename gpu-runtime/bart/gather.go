package bart

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transcept/transcept/gpu-runtime/seq2seq"
	"github.com/transcept/transcept/shared/lecture"
)

// Defaults of the gatherer (Options.BatchSize, Options.BatchWait).
const (
	DefaultBatchWait = 5 * time.Millisecond
)

// gatherer batches the windows of concurrent requests (and the many
// windows of one lecture) into generation calls: the first window queued
// waits up to wait for others, a batch takes at most max rows, and one
// batch runs at a time (it uses every intra-op thread; windows queued
// meanwhile go in the next batch at once, their wait being over). Rows
// are picked round-robin over the requests that queued them, oldest
// request first, so a lecture of a hundred windows does not hold a short
// request back for a hundred windows. A request that goes away has its
// queued windows skipped and its running rows dropped at the next decoder
// step (seq2seq.Input.Done); the other rows go on. An error of the batch
// as a whole (ONNX Runtime failing, a panic) is retried row by row, so
// each row gets its own result.
type gatherer struct {
	wait time.Duration
	max  int
	gen  func([]seq2seq.Input) ([]seq2seq.Output, error)

	// now and until are the clock (time.Now, a timer for a moment; tests
	// replace them). The timer is set for a moment, not a duration, so a
	// clock read before it is set cannot stretch the wait.
	now   func() time.Time
	until func(time.Time) <-chan time.Time

	mu      sync.Mutex
	pending []*job
	closed  bool
	wake    chan struct{} // a job was queued or the gatherer closed (buffered 1)
	stopped chan struct{} // the loop returned

	stats struct{ batches, rows, tokens, retries atomic.Int64 }
}

// job is one window of one request.
type job struct {
	req     uint64          // the request (pass) it belongs to
	in      seq2seq.Input   // Done is the request's ctx.Done()
	arrived time.Time       // when it was queued
	res     chan jobResult  // buffered 1
	ctx     context.Context // the request's
}

type jobResult struct {
	ids []int
	err error
}

// GatherStats count what the gatherer ran since Load.
type GatherStats struct {
	Batches int64 // generation calls
	Rows    int64 // windows generated (cancelled ones included)
	Tokens  int64 // new tokens generated (decoder start not counted)
	Retries int64 // batches that failed as a whole and were rerun row by row
}

func newGatherer(maxRows int, wait time.Duration, gen func([]seq2seq.Input) ([]seq2seq.Output, error)) *gatherer {
	return &gatherer{wait: wait, max: max(maxRows, 1), gen: gen, now: time.Now, until: func(t time.Time) <-chan time.Time { return time.After(time.Until(t)) },
		wake: make(chan struct{}, 1), stopped: make(chan struct{})}
}

// start runs the loop; stop ends it.
func (g *gatherer) start() { go g.loop() }

// stop fails every queued job and ends the loop once the running batch is
// done.
func (g *gatherer) stop() {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		<-g.stopped
		return
	}
	g.closed = true
	left := g.pending
	g.pending = nil
	g.mu.Unlock()
	for _, j := range left {
		j.res <- jobResult{err: lecture.Errorf(lecture.EUNAVAILABLE, "the summary model was closed")}
	}
	g.signal()
	<-g.stopped
}

func (g *gatherer) signal() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

var requestIDs atomic.Uint64

// generate queues one request's windows and returns each window's
// generated ids (decoder start and EOS included), in order. It returns as
// soon as ctx ends, with ctx's error; the windows still queued are then
// skipped and the running ones dropped from their batch.
func (g *gatherer) generate(ctx context.Context, windows [][]int) ([][]int, error) {
	// A failed window fails the request: its other windows stop too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req := requestIDs.Add(1)
	jobs := make([]*job, len(windows))
	now := g.now()
	for i, ids := range windows {
		jobs[i] = &job{req: req, in: seq2seq.Input{IDs: ids, Done: ctx.Done()}, arrived: now, res: make(chan jobResult, 1), ctx: ctx}
	}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil, lecture.Errorf(lecture.EUNAVAILABLE, "the summary model was closed")
	}
	g.pending = append(g.pending, jobs...)
	g.mu.Unlock()
	g.signal()
	out := make([][]int, len(windows))
	for i, j := range jobs {
		select {
		case r := <-j.res:
			if r.err != nil {
				return nil, r.err
			}
			out[i] = r.ids
		case <-ctx.Done():
			return nil, lecture.Wrap(lecture.EUNAVAILABLE, ctx.Err(), "summary cancelled")
		}
	}
	return out, nil
}

// loop gathers and runs batches until stop.
func (g *gatherer) loop() {
	defer close(g.stopped)
	for {
		batch, ok := g.next()
		if !ok {
			return
		}
		g.run(batch)
	}
}

// next waits for a batch: max rows, or fewer once the oldest queued job has
// waited g.wait. ok is false when the gatherer is closed.
func (g *gatherer) next() (batch []*job, ok bool) {
	for {
		g.mu.Lock()
		if g.closed {
			g.mu.Unlock()
			return nil, false
		}
		g.dropGone()
		n := len(g.pending)
		var left time.Duration
		var due time.Time
		if n > 0 {
			due = g.pending[0].arrived.Add(g.wait)
			left = due.Sub(g.now())
		}
		if n >= g.max || n > 0 && left <= 0 {
			batch = g.take()
			g.mu.Unlock()
			return batch, true
		}
		g.mu.Unlock()
		if n == 0 {
			<-g.wake
			continue
		}
		// woken by a new job, or once the wait may be over: the top of the
		// loop looks again (the clock, not the timer, says when it is)
		select {
		case <-g.wake:
		case <-g.until(due):
		}
	}
}

// dropGone removes the queued jobs whose request went away (g.mu held).
func (g *gatherer) dropGone() {
	kept := g.pending[:0]
	for _, j := range g.pending {
		if j.ctx.Err() != nil {
			j.res <- jobResult{err: lecture.Wrap(lecture.EUNAVAILABLE, j.ctx.Err(), "summary cancelled")}
			continue
		}
		kept = append(kept, j)
	}
	clear(g.pending[len(kept):])
	g.pending = kept
}

// take removes up to max jobs from the queue, round-robin over the
// requests in order of their oldest job (g.mu held).
func (g *gatherer) take() []*job {
	if len(g.pending) <= g.max {
		b := g.pending
		g.pending = nil
		return b
	}
	var order []uint64
	byReq := map[uint64][]int{}
	for i, j := range g.pending {
		if _, ok := byReq[j.req]; !ok {
			order = append(order, j.req)
		}
		byReq[j.req] = append(byReq[j.req], i)
	}
	taken := make([]bool, len(g.pending))
	var batch []*job
	for round := 0; len(batch) < g.max; round++ {
		for _, r := range order {
			if idx := byReq[r]; round < len(idx) && len(batch) < g.max {
				batch = append(batch, g.pending[idx[round]])
				taken[idx[round]] = true
			}
		}
	}
	var rest []*job
	for i, j := range g.pending {
		if !taken[i] {
			rest = append(rest, j)
		}
	}
	g.pending = rest
	return batch
}

// run generates one batch and hands each job its result.
func (g *gatherer) run(batch []*job) {
	in := make([]seq2seq.Input, len(batch))
	for i, j := range batch {
		in[i] = j.in
	}
	g.stats.batches.Add(1)
	out, err := g.safeGen(in)
	if err != nil && len(batch) > 1 {
		// One row may be what broke the batch: each row alone, so the
		// others still get their summaries.
		g.stats.retries.Add(1)
		for _, j := range batch {
			g.stats.batches.Add(1)
			out, err := g.safeGen([]seq2seq.Input{j.in})
			g.deliver([]*job{j}, out, err)
		}
		return
	}
	g.deliver(batch, out, err)
}

func (g *gatherer) deliver(batch []*job, out []seq2seq.Output, err error) {
	for i, j := range batch {
		if err != nil {
			j.res <- jobResult{err: err}
			continue
		}
		g.stats.rows.Add(1)
		g.stats.tokens.Add(int64(max(len(out[i].IDs)-1, 0)))
		j.res <- jobResult{ids: out[i].IDs, err: out[i].Err}
	}
}

// safeGen runs gen, turning a panic into an error and checking the row
// count.
func (g *gatherer) safeGen(in []seq2seq.Input) (out []seq2seq.Output, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, lecture.Errorf(lecture.EINTERNAL, "summary generation failed: %v", p)
		}
	}()
	out, err = g.gen(in)
	if err == nil && len(out) != len(in) {
		err = lecture.Errorf(lecture.EINTERNAL, "generation gave %d rows for %d inputs", len(out), len(in))
	}
	return out, err
}

// Stats are the counters so far.
func (g *gatherer) Stats() GatherStats {
	return GatherStats{Batches: g.stats.batches.Load(), Rows: g.stats.rows.Load(), Tokens: g.stats.tokens.Load(), Retries: g.stats.retries.Load()}
}

func (s GatherStats) String() string {
	return fmt.Sprintf("%d batches, %d rows, %d tokens, %d retried", s.Batches, s.Rows, s.Tokens, s.Retries)
}
