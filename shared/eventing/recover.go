package eventing

// Recovery: the jobs a crashed or stopped process left in the journal, and
// the leases of other processes on the same journal.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Recover queues every job of the journal that no live process holds: the
// work accepted before a crash or a shutdown. A job whose holder died
// counts as interrupted; after MaxInterrupted it is dead-lettered. Then a
// sweep every Lease/2 picks up jobs whose holder (another process) died.
// It returns how many jobs it queued.
func (b *Bus[M]) Recover(ctx context.Context) (int, error) {
	if b.Journal == nil {
		return 0, nil
	}
	n, err := b.sweep(ctx, true)
	if err != nil {
		return 0, err
	}
	b.mu.Lock()
	if b.sweepOff == nil && !b.closed {
		b.sweepOff = make(chan struct{})
		off := b.sweepOff
		go func() {
			t := time.NewTicker(b.Lease / 2)
			defer t.Stop()
			for {
				select {
				case <-off:
					return
				case <-t.C:
					if _, err := b.sweep(context.Background(), false); err != nil {
						b.Log.Warn("pipeline queue sweep failed", "err", err)
					}
				}
			}
		}()
	}
	b.mu.Unlock()
	return n, nil
}

// sweep queues the journal's jobs that nobody runs. A periodic sweep
// (initial false) leaves alone fresh unleased jobs and our own, which may be
// ones finished since the listing.
func (b *Bus[M]) sweep(ctx context.Context, initial bool) (int, error) {
	jobs, err := b.Journal.List(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	now := time.Now()
	for _, j := range jobs {
		m := b.meta(j.Event)
		b.mu.Lock()
		_, known := b.jobs[b.jobID(j)]
		var t *Trigger[M]
		for _, tr := range b.triggers {
			if tr.Name == j.Trigger && tr.Match(j.Event) {
				t = tr
			}
		}
		b.mu.Unlock()
		if known || !initial && (j.LeaseOwner == b.owner || j.LeaseOwner == "" && now.Sub(j.Enqueued) < b.Lease) {
			continue
		}
		if t == nil {
			b.Log.Warn("queued job for an unknown trigger left alone", "trigger", j.Trigger, "type", m.Type, "lecture", m.Key)
			continue
		}
		if j.LeaseOwner != "" {
			if j.LeaseOwner != b.owner && b.ownerAlive(j.LeaseOwner) && now.Before(j.LeaseUntil) {
				continue // another live process runs it
			}
			j.Interrupted++
			j.LeaseOwner, j.LeaseUntil = "", time.Time{}
			b.observe(m.Type, "interrupted")
			b.Log.Warn("resuming a stage interrupted by a crash", "trigger", j.Trigger, "lecture", m.Key, "interrupted", j.Interrupted)
			if j.Interrupted >= b.MaxInterrupted {
				err := fmt.Errorf("the server stopped %d times while running this stage (crash or out of memory?)", j.Interrupted)
				if j.LastError != "" {
					err = fmt.Errorf("%w; last error: %s", err, j.LastError)
				}
				e := &entry[M]{job: j, t: t, index: -1, running: true}
				b.mu.Lock()
				b.jobs[b.jobID(j)] = e
				b.wg.Add(1)
				b.mu.Unlock()
				b.deadLetter(e, j, err)
				continue
			}
			if err := b.Journal.Save(ctx, j); err != nil {
				return n, err
			}
		}
		b.enqueue(j, t)
		n++
	}
	return n, nil
}

// ownerAlive says whether the process named by a lease owner may still run.
// On this host that is a direct check; elsewhere only the lease expiry tells.
func (b *Bus[M]) ownerAlive(owner string) bool {
	parts := strings.Split(owner, "/")
	mine := strings.Split(b.owner, "/")
	if len(parts) != 3 || parts[0] != mine[0] {
		return true
	}
	if parts[1] == mine[1] {
		return parts[2] == mine[2] // same pid: alive only if it is us
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 {
		return false
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
