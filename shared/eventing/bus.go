package eventing

import (
	"container/heap"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Handler processes a message and may return follow-up messages to publish.
type Handler[M any] func(ctx context.Context, m M) ([]M, error)

// DeadLetter receives a message that failed every delivery attempt; an
// error means the failure could not be recorded, and the delivery is kept to
// be dead-lettered again later.
type DeadLetter[M any] func(ctx context.Context, m M, err error) error

// Meta is what the Bus reads of a message.
type Meta struct {
	Type string // what a type filter matches and metrics count
	ID   string // for logs
	// Key groups deliveries: a newer message with the same key replaces a
	// queued one for the same trigger (the lecture id of a pipeline event).
	Key  string
	Size int64 // a cost hint for scheduling and budgets; 0 when unknown
	// Owner is who the work is for (the uploader's user id; "" when
	// unknown): FairShare orders different owners' jobs fairly.
	Owner string
}

// Job is one delivery of a message to one trigger: what a Journal keeps.
type Job[M any] struct {
	Trigger string `json:"trigger"`
	Event   M      `json:"event"`
	// Attempts counts deliveries that ended in an error; Interrupted those
	// cut short by a crash (the process died holding the lease).
	Attempts    int       `json:"attempts"`
	Interrupted int       `json:"interrupted,omitempty"`
	Enqueued    time.Time `json:"enqueued"`
	NotBefore   time.Time `json:"not_before,omitzero"`
	LeaseOwner  string    `json:"lease_owner,omitempty"`
	LeaseUntil  time.Time `json:"lease_until,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	// Unavailable counts consecutive failures of a dependency (store,
	// cache, disk) since UnavailableSince; they are retried without
	// using up Attempts, for a while.
	Unavailable      int       `json:"unavailable,omitempty"`
	UnavailableSince time.Time `json:"unavailable_since,omitzero"`
}

// Journal keeps jobs durably (the object store in `transcept serve`).
type Journal[M any] interface {
	Save(ctx context.Context, j Job[M]) error
	Delete(ctx context.Context, j Job[M]) error
	List(ctx context.Context) ([]Job[M], error)
}

// Policy is one trigger's own delivery settings (a Knative DeliverySpec);
// it replaces the Bus's Retries, Backoff and Budget for that trigger.
type Policy struct {
	Retries int           // deliveries after the first
	Backoff time.Duration // first retry delay
	Linear  bool          // the delay grows by Backoff each retry instead of doubling
	Timeout time.Duration // bounds one delivery; 0: the Bus's Budget
}

// Trigger routes the messages Match accepts to Handler.
type Trigger[M any] struct {
	Name       string
	Match      func(M) bool
	Handler    Handler[M]
	Policy     *Policy       // nil: the Bus's settings
	DeadLetter DeadLetter[M] // nil: the Bus's sink
}

// Bus is the one deliverer: it delivers messages to triggers with the
// Trigger semantics of Knative Eventing (filter, retry with backoff, then a
// dead-letter sink). `transcept serve` runs one over pipeline events
// (NewBus) with a Journal; the HTTP Broker runs one over CloudEvents whose
// triggers post to the functions.
//
// Scheduling: ready jobs run earliest virtual deadline first, where a job's
// deadline is its enqueue time plus its input size times AgeingPerMiB, so
// small lectures overtake big ones but a big one's turn always comes. One
// worker beyond the configured ones takes only jobs up to SmallBytes, so a
// small lecture never waits behind big ones holding every worker. Each job
// an owner already has queued or running pushes that owner's next job's
// deadline back by FairShare, so one user's flood does not starve others:
// a newcomer's lecture runs after the flood's first job, not its last,
// and the flood's jobs still age into their turn.
type Bus[M any] struct {
	Retries int           // deliveries after the first
	Backoff time.Duration // first retry delay, doubled each time
	Log     *slog.Logger
	// Observe, when set, counts outcomes (ok, retry, dead_letter,
	// interrupted) per type.
	Observe func(typ, outcome string)
	// Journal, when set, makes every delivery durable.
	Journal Journal[M]
	// Lease is how long a running delivery is held before another process
	// may take it over; it is renewed while the delivery runs.
	Lease time.Duration
	// MaxInterrupted dead-letters a delivery that crashed the process this
	// many times (an input that kills the server must not kill it forever).
	MaxInterrupted int
	// SmallBytes bounds the jobs the reserved worker takes (0: no reserved
	// worker); AgeingPerMiB is the scheduling delay one MiB of input buys.
	SmallBytes   int64
	AgeingPerMiB time.Duration
	// FairShare is the scheduling delay each job an owner already has
	// queued or running adds to that owner's next one (0: first come,
	// first served across owners).
	FairShare time.Duration
	// Budget, when set, bounds one delivery's run time.
	Budget func(Job[M]) time.Duration
	// Unavailable, when set, tells failures of a dependency (a full disk,
	// a store that is down) from failures of the work: those are retried
	// with backoff up to MaxDelay for UnavailableFor before they count.
	Unavailable    func(error) bool
	UnavailableFor time.Duration
	MaxDelay       time.Duration

	owner    string
	meta     func(M) Meta
	mu       sync.Mutex
	cond     *sync.Cond
	triggers []*Trigger[M]
	dead     DeadLetter[M]
	jobs     map[string]*entry[M] // queued, delayed or running, by job id
	owned    map[string]int       // owner -> entries in jobs
	big      queue[M]
	small    queue[M]
	wg       sync.WaitGroup // entries alive (Wait)
	workers  sync.WaitGroup
	running  sync.WaitGroup
	started  bool
	n        int
	closed   bool // no more work starts
	stopping bool // shutting down: deliveries cut short stay in the journal
	runCtx   context.Context
	cancel   context.CancelFunc
	sweepOff chan struct{}
	leftover int // deliveries cut short by Shutdown
}

type entry[M any] struct {
	job      Job[M]
	t        *Trigger[M]
	running  bool
	next     *Job[M] // a newer message for the same job, arrived while it ran
	deadline time.Time
	small    bool
	owner    string
	index    int
	timer    *time.Timer
}

// New makes a deliverer with n general workers (plus the reserved small-job
// worker when SmallBytes > 0) for messages that meta describes. Workers
// start with the first Publish or Recover, so set the fields first.
func New[M any](n int, log *slog.Logger, meta func(M) Meta) *Bus[M] {
	if n < 1 {
		n = 1
	}
	var nonce [6]byte
	_, _ = rand.Read(nonce[:])
	host, _ := os.Hostname()
	b := &Bus[M]{Retries: 3, Backoff: 100 * time.Millisecond, Log: log, Lease: time.Minute, MaxInterrupted: 5,
		AgeingPerMiB: 2 * time.Second, UnavailableFor: 15 * time.Minute, MaxDelay: 30 * time.Second, meta: meta, jobs: map[string]*entry[M]{}, owned: map[string]int{}, n: n,
		owner: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(nonce[:]))}
	b.cond = sync.NewCond(&b.mu)
	b.runCtx, b.cancel = context.WithCancel(context.Background())
	return b
}

// Subscribe adds a trigger: messages of type typ go to h.
func (b *Bus[M]) Subscribe(typ, name string, h Handler[M]) {
	b.AddTrigger(Trigger[M]{Name: name, Match: func(m M) bool { return b.meta(m).Type == typ }, Handler: h})
}

// AddTrigger adds a trigger with its own filter and, optionally, its own
// delivery settings and dead-letter sink.
func (b *Bus[M]) AddTrigger(t Trigger[M]) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.triggers = append(b.triggers, &t)
}

// DeadLetterSink sets where messages go after their last failed delivery.
func (b *Bus[M]) DeadLetterSink(d DeadLetter[M]) { b.dead = d }

// jobID names a job: one per key and trigger, so a newer message for the
// same key replaces an older one that has not run yet.
func (b *Bus[M]) jobID(j Job[M]) string { return b.meta(j.Event).Key + "." + j.Trigger }

// Owner is this broker's lease owner name: host/pid/nonce.
func (b *Bus[M]) Owner() string { return b.owner }

func (b *Bus[M]) startLocked() {
	if b.started {
		return
	}
	b.started = true
	for range b.n {
		b.workers.Add(1)
		go b.work(false)
	}
	if b.SmallBytes > 0 {
		b.workers.Add(1)
		go b.work(true)
	}
}

// Publish accepts e for every trigger that matches its type: written to the
// journal (when there is one) before it is queued, so an error means the
// event was not accepted.
func (b *Bus[M]) Publish(e M) error {
	m := b.meta(e)
	b.mu.Lock()
	var ts []*Trigger[M]
	for _, t := range b.triggers {
		if t.Match(e) {
			ts = append(ts, t)
		}
	}
	closed := b.closed
	b.mu.Unlock()
	if closed && b.Journal == nil {
		b.Log.Warn("event dropped: broker closed", "type", m.Type, "id", m.ID)
		return errors.New("the pipeline is shutting down")
	}
	now := time.Now().UTC()
	for _, t := range ts {
		j := Job[M]{Trigger: t.Name, Event: e, Enqueued: now}
		if b.Journal != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			err := b.Journal.Save(ctx, j)
			cancel()
			if err != nil {
				return fmt.Errorf("queueing %s for %s: %w", m.Type, t.Name, err)
			}
		}
		b.enqueue(j, t)
	}
	return nil
}

// enqueue adds a job to the in-memory schedule (replacing a queued job with
// the same id, or chaining behind a running one).
func (b *Bus[M]) enqueue(j Job[M], t *Trigger[M]) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return // journaled; the next start runs it
	}
	b.startLocked()
	id := b.jobID(j)
	if e, ok := b.jobs[id]; ok {
		if e.running {
			e.next = &j
			return
		}
		b.unqueueLocked(e)
		e.job = j
		b.scheduleLocked(e)
		return
	}
	e := &entry[M]{job: j, t: t, index: -1, owner: b.meta(j.Event).Owner}
	b.jobs[id] = e
	if e.owner != "" {
		b.owned[e.owner]++
	}
	b.wg.Add(1)
	b.scheduleLocked(e)
}

func (b *Bus[M]) scheduleLocked(e *entry[M]) {
	size := b.meta(e.job.Event).Size
	e.small = b.SmallBytes > 0 && size <= b.SmallBytes
	e.deadline = e.job.Enqueued.Add(time.Duration(float64(size) / (1 << 20) * float64(b.AgeingPerMiB)))
	if e.owner != "" && b.FairShare > 0 {
		ahead := b.owned[e.owner] - 1 // this owner's other jobs queued or running
		e.deadline = e.deadline.Add(time.Duration(ahead) * b.FairShare)
	}
	if d := time.Until(e.job.NotBefore); d > 0 {
		e.timer = time.AfterFunc(d, func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if e.timer != nil && !b.closed {
				e.timer = nil
				b.pushLocked(e)
			}
		})
		return
	}
	b.pushLocked(e)
}

func (b *Bus[M]) pushLocked(e *entry[M]) {
	if e.small {
		heap.Push(&b.small, e)
	} else {
		heap.Push(&b.big, e)
	}
	b.cond.Broadcast()
}

func (b *Bus[M]) unqueueLocked(e *entry[M]) {
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
	if e.index >= 0 {
		if e.small {
			heap.Remove(&b.small, e.index)
		} else {
			heap.Remove(&b.big, e.index)
		}
	}
}

// popLocked takes the next job a worker may run: the reserved worker only
// small ones, a general worker the earlier of both queues' heads.
func (b *Bus[M]) popLocked(smallOnly bool) *entry[M] {
	switch {
	case b.small.Len() > 0 && (smallOnly || b.big.Len() == 0 || !b.big[0].deadline.Before(b.small[0].deadline)):
		return heap.Pop(&b.small).(*entry[M])
	case !smallOnly && b.big.Len() > 0:
		return heap.Pop(&b.big).(*entry[M])
	}
	return nil
}

func (b *Bus[M]) work(smallOnly bool) {
	defer b.workers.Done()
	for {
		b.mu.Lock()
		var e *entry[M]
		for !b.closed {
			if e = b.popLocked(smallOnly); e != nil {
				break
			}
			b.cond.Wait()
		}
		if e == nil {
			b.mu.Unlock()
			return
		}
		e.running = true
		b.running.Add(1)
		b.mu.Unlock()
		b.run(e)
		b.running.Done()
	}
}

// Wait blocks until every queued delivery, and what it published, is done.
func (b *Bus[M]) Wait() { b.wg.Wait() }

// Close drains all queued work and stops the workers (tests and tools; a
// server uses Shutdown).
func (b *Bus[M]) Close() {
	b.wg.Wait()
	b.stop()
}

func (b *Bus[M]) stop() {
	b.mu.Lock()
	b.closed = true
	if b.sweepOff != nil {
		close(b.sweepOff)
		b.sweepOff = nil
	}
	b.cond.Broadcast()
	b.mu.Unlock()
	b.workers.Wait()
}

// Shutdown stops starting work, lets running deliveries finish within
// grace, then cancels them; deliveries cut short or not yet started stay in
// the journal for the next start. It returns how many were left queued.
func (b *Bus[M]) Shutdown(grace time.Duration) int {
	b.mu.Lock()
	b.closed = true
	b.stopping = true
	if b.sweepOff != nil {
		close(b.sweepOff)
		b.sweepOff = nil
	}
	for _, e := range b.jobs {
		if e.timer != nil {
			e.timer.Stop()
			e.timer = nil
		}
	}
	b.cond.Broadcast()
	b.mu.Unlock()
	done := make(chan struct{})
	go func() { b.running.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		b.Log.Warn("shutdown grace period over: cancelling running stages; they resume at the next start", "grace", grace)
		b.cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			b.Log.Error("stages did not stop within 5 s of cancellation")
		}
	}
	b.workers.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.jobs) + b.leftover
}

// finish removes a job that is done (or left for the next start).
func (b *Bus[M]) finish(e *entry[M]) {
	b.mu.Lock()
	if next := e.next; next != nil && !b.closed {
		e.next, e.running = nil, false
		e.job = *next
		b.scheduleLocked(e)
		b.mu.Unlock()
		if b.Journal != nil {
			_ = b.save(*next) // our delete may have removed its record
		}
		return
	}
	b.forgetLocked(e)
	b.mu.Unlock()
	b.wg.Done()
}

// forgetLocked removes a finished entry from the jobs and its owner's count.
func (b *Bus[M]) forgetLocked(e *entry[M]) {
	delete(b.jobs, b.jobID(e.job))
	if e.owner != "" {
		if b.owned[e.owner]--; b.owned[e.owner] <= 0 {
			delete(b.owned, e.owner)
		}
	}
}

func (b *Bus[M]) run(e *entry[M]) {
	j := e.job
	m := b.meta(j.Event)
	journal := b.Journal
	if journal != nil {
		j.LeaseOwner, j.LeaseUntil = b.owner, time.Now().UTC().Add(b.Lease)
		if err := b.save(j); err != nil {
			// The store cannot take the lease: try again later without
			// counting it against the job.
			b.Log.Warn("cannot lease a pipeline job; retrying", "trigger", e.t.Name, "lecture", m.Key, "err", err)
			e.job.NotBefore = time.Now().Add(b.delay(e.t, 1))
			b.requeue(e)
			return
		}
	}
	ctx, cancel := context.WithCancel(b.runCtx)
	budget := b.budget(e.t, j)
	if budget > 0 {
		ctx, cancel = context.WithTimeout(b.runCtx, budget)
	}
	renewed := make(chan struct{})
	stopRenew := make(chan struct{})
	go func() { // keep the lease while the stage runs
		defer close(renewed)
		if journal == nil {
			return
		}
		t := time.NewTicker(b.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-stopRenew:
				return
			case <-t.C:
				j.LeaseUntil = time.Now().UTC().Add(b.Lease)
				_ = b.save(j)
			}
		}
	}()
	next, err := b.call(ctx, e.t, j.Event)
	timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded)
	cancel()
	close(stopRenew)
	<-renewed
	j.LeaseOwner, j.LeaseUntil = "", time.Time{}

	if b.isStopping() && b.runCtx.Err() != nil {
		// Cut short by shutdown: not the job's fault, and not counted.
		if journal != nil {
			_ = b.save(j)
		}
		b.mu.Lock()
		b.leftover++
		b.mu.Unlock()
		b.observe(m.Type, "interrupted")
		b.finish(e)
		return
	}
	if err == nil {
		for _, n := range next {
			if perr := b.Publish(n); perr != nil {
				err = perr // the follow-up was not accepted: run this stage again
				break
			}
		}
	}
	if err == nil {
		if journal != nil {
			if derr := b.delete(j); derr != nil {
				b.Log.Warn("finished pipeline job not removed from the queue; it will run again harmlessly", "err", derr)
			}
		}
		b.observe(m.Type, "ok")
		b.finish(e)
		return
	}
	if timedOut {
		err = fmt.Errorf("%w (the stage ran past its time budget of %s)", err, budget.Round(time.Second))
	}
	if !timedOut && b.Unavailable != nil && b.Unavailable(err) {
		if j.Unavailable == 0 {
			j.UnavailableSince = time.Now().UTC()
		}
		if time.Since(j.UnavailableSince) < b.UnavailableFor {
			j.Unavailable++
			j.LastError = err.Error()
			j.NotBefore = time.Now().UTC().Add(b.delay(e.t, j.Unavailable))
			b.observe(m.Type, "retry")
			b.Log.Warn("stage waits for a dependency", "trigger", e.t.Name, "lecture", m.Key, "tries", j.Unavailable, "err", err)
			if journal != nil {
				_ = b.save(j)
			}
			e.job = j
			b.requeue(e)
			return
		}
	}
	j.Unavailable, j.UnavailableSince = 0, time.Time{}
	j.Attempts++
	j.LastError = err.Error()
	if j.Attempts > b.retries(e.t) {
		b.deadLetter(e, j, err)
		return
	}
	b.observe(m.Type, "retry")
	b.Log.Warn("stage failed, retrying", "trigger", e.t.Name, "type", m.Type, "lecture", m.Key, "attempt", j.Attempts, "err", err)
	j.NotBefore = time.Now().UTC().Add(b.delay(e.t, j.Attempts))
	if journal != nil {
		_ = b.save(j)
	}
	e.job = j
	b.requeue(e)
}

func (b *Bus[M]) deadLetter(e *entry[M], j Job[M], err error) {
	m := b.meta(j.Event)
	b.observe(m.Type, "dead_letter")
	b.Log.Error("stage failed after retries", "trigger", e.t.Name, "type", m.Type, "lecture", m.Key, "err", err)
	dead := b.dead
	if e.t.DeadLetter != nil {
		dead = e.t.DeadLetter
	}
	if dead != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		derr := dead(ctx, j.Event, err)
		cancel()
		if derr != nil {
			// Not recorded: keep the job and record it later, so the
			// lecture never stays "processing" for ever.
			b.Log.Error("dead-letter record not written; retrying", "lecture", m.Key, "err", derr)
			j.NotBefore = time.Now().UTC().Add(b.delay(e.t, j.Attempts))
			e.job = j
			b.requeue(e)
			return
		}
	}
	if b.Journal != nil {
		_ = b.delete(j)
	}
	b.finish(e)
}

// requeue puts a job back after a failure (its NotBefore says when).
func (b *Bus[M]) requeue(e *entry[M]) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e.running = false
	if b.closed {
		b.forgetLocked(e)
		b.wg.Done()
		return
	}
	if e.next != nil {
		e.job, e.next = *e.next, nil
	}
	b.scheduleLocked(e)
}

// delay is the wait before retry number attempt: the backoff doubled each
// time (or grown by itself, for a linear policy), at most MaxDelay when set.
func (b *Bus[M]) delay(t *Trigger[M], attempt int) time.Duration {
	d, linear := b.Backoff, false
	if t.Policy != nil {
		d, linear = t.Policy.Backoff, t.Policy.Linear
	}
	if linear {
		d *= time.Duration(max(attempt, 1))
	} else {
		for i := 1; i < attempt && d < time.Hour; i++ {
			d *= 2
		}
	}
	if b.MaxDelay > 0 && d > b.MaxDelay {
		d = b.MaxDelay
	}
	return d
}

func (b *Bus[M]) retries(t *Trigger[M]) int {
	if t.Policy != nil {
		return t.Policy.Retries
	}
	return b.Retries
}

// budget bounds one delivery: the trigger's timeout, else the Bus's Budget.
func (b *Bus[M]) budget(t *Trigger[M], j Job[M]) time.Duration {
	if t.Policy != nil && t.Policy.Timeout > 0 {
		return t.Policy.Timeout
	}
	if b.Budget != nil {
		return b.Budget(j)
	}
	return 0
}

func (b *Bus[M]) isStopping() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stopping
}

func (b *Bus[M]) save(j Job[M]) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return b.Journal.Save(ctx, j)
}

func (b *Bus[M]) delete(j Job[M]) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return b.Journal.Delete(ctx, j)
}

// call runs one delivery, turning a panic into an error.
func (b *Bus[M]) call(ctx context.Context, t *Trigger[M], e M) (next []M, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = panicError{r}
		}
	}()
	return t.Handler(ctx, e)
}

func (b *Bus[M]) observe(typ, outcome string) {
	if b.Observe != nil {
		b.Observe(typ, outcome)
	}
}

// Pending reports the jobs queued or running, for status and metrics.
func (b *Bus[M]) Pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.jobs) + b.leftover
}

type panicError struct{ v any }

func (p panicError) Error() string { return "stage panicked: " + fmtAny(p.v) }

func fmtAny(v any) string {
	if e, ok := v.(error); ok {
		return e.Error()
	}
	if s, ok := v.(string); ok {
		return s
	}
	return "unknown panic"
}
