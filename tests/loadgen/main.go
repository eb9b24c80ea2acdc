// Command loadgen drives one HTTP endpoint with POST requests and prints
// latency percentiles, the achieved rate and errors. It only targets the
// address it is given (loopback in `make bench`), stops by itself, and caps
// the number of requests.
//
// Two modes:
//
//   - closed loop (default, -rate 0): -c clients each send a request, wait for
//     the answer and send the next; it measures the most a server sustains,
//     but a slow answer also delays the requests behind it, so its
//     percentiles understate the latency an outside user would see
//     ("coordinated omission").
//   - open loop (-rate R): requests are due on a fixed timetable, one every
//     1/R s, whatever the server does; each latency is counted from the
//     request's intended send time, so time spent waiting behind a slow
//     answer (or behind the generator itself) is charged to that request.
//     At most -c requests are in flight; one that is due while -c are
//     outstanding is not sent and is reported as dropped.
//
// It is hand-written rather than built on a load-testing library (vegeta
// and the like): some 350 lines, no new module in go.mod, and it measures
// exactly what bench.sh compares. Samples are kept whole and sorted (8 bytes
// per request; -max bounds them: 3,000 req/s for 60 s is 1.4 MB).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type config struct {
	url     string
	body    []byte
	ctype   string
	clients int
	dur     time.Duration
	rate    float64
	maxReq  int64
	timeout time.Duration
	hrTimer bool
}

// result is what one run measured.
type result struct {
	mode      string
	offered   float64 // requests/s asked for (open loop), 0 in closed loop
	sent      int64   // requests started
	lat       []time.Duration
	non2xx    int64
	transport int64
	dropped   int64           // open loop: due while -c were in flight
	late      int64           // open loop: started more than 1 ms after due
	lag       []time.Duration // open loop: start delay behind the timetable, by request
	elapsed   time.Duration   // from the first due time to the last answer
	clients   int
	cpu       time.Duration // the generator's own CPU time (user + system)
}

// cpuTime is this process's CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	var c config
	flag.StringVar(&c.url, "url", "http://127.0.0.1:8080/summarize", "endpoint to POST to")
	bodyFile := flag.String("body", "", "file with the request body")
	flag.StringVar(&c.ctype, "type", "application/json", "Content-Type of the body")
	flag.IntVar(&c.clients, "c", 50, "closed loop: concurrent clients; open loop: most requests in flight (connections)")
	flag.DurationVar(&c.dur, "d", 10*time.Second, "how long to run")
	flag.Float64Var(&c.rate, "rate", 0, "open loop: requests per second on a fixed timetable (0: closed loop)")
	flag.Int64Var(&c.maxReq, "max", 2_000_000, "stop after this many requests")
	flag.DurationVar(&c.timeout, "timeout", 10*time.Second, "per-request timeout")
	flag.BoolVar(&c.hrTimer, "hrtimer", false, "open loop: keep the timetable with nanosleep(2) on its own thread (more precise, more CPU)")
	label := flag.String("label", "", "name printed at the start of the result line")
	summary := flag.String("summary", "", "also write the results as key=value lines to this file")
	flag.Parse()
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen: -body:", err)
		os.Exit(2)
	}
	c.body = body
	if c.clients < 1 || c.dur <= 0 || c.rate < 0 {
		fmt.Fprintln(os.Stderr, "loadgen: -c and -d must be positive, -rate not negative")
		os.Exit(2)
	}
	client := newClient(c)
	cpu0 := cpuTime()
	var r result
	if c.rate > 0 {
		r = openLoop(c, client)
	} else {
		r = closedLoop(c, client)
	}
	r.cpu = cpuTime() - cpu0
	line := r.line()
	if *label != "" {
		line = *label + "  " + line
	}
	fmt.Println(line)
	if *summary != "" {
		if err := os.WriteFile(*summary, []byte(r.keyValues()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen: -summary:", err)
			os.Exit(2)
		}
	}
	if r.non2xx+r.transport > 0 {
		os.Exit(1)
	}
}

// newClient keeps connections alive and lets every in-flight request have
// its own idle connection back (the default keeps 2 per host, so a burst
// would close and redial the rest).
func newClient(c config) *http.Client {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          c.clients,
		MaxIdleConnsPerHost:   c.clients,
		MaxConnsPerHost:       c.clients,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ResponseHeaderTimeout: c.timeout,
		WriteBufferSize:       64 << 10,
		ReadBufferSize:        64 << 10,
	}
	return &http.Client{Transport: tr, Timeout: c.timeout}
}

// do sends one request and reads the whole answer (so the connection goes
// back to the pool). It returns whether the status was 2xx and any
// transport error.
func do(ctx context.Context, c config, client *http.Client) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(c.body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", c.ctype)
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return false, err
	}
	return resp.StatusCode >= 200 && resp.StatusCode < 300, nil
}

// firstErr keeps the first error of each kind to print.
type firstErr struct {
	once sync.Once
	msg  string
}

func (f *firstErr) set(s string) { f.once.Do(func() { f.msg = s }) }

var transportErr, statusErr firstErr

func closedLoop(c config, client *http.Client) result {
	var (
		n, non2xx, trErrs atomic.Int64
		mu                sync.Mutex
		lat               []time.Duration
		wg                sync.WaitGroup
	)
	start := time.Now()
	stop := start.Add(c.dur)
	for range c.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			for time.Now().Before(stop) && n.Add(1) <= c.maxReq {
				t0 := time.Now()
				ok, err := do(context.Background(), c, client)
				switch {
				case err != nil:
					trErrs.Add(1)
					transportErr.set(err.Error())
				case !ok:
					non2xx.Add(1)
					statusErr.set("non-2xx status")
				default:
					local = append(local, time.Since(t0))
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return result{mode: fmt.Sprintf("closed-loop c=%d", c.clients), clients: c.clients, sent: min(n.Load(), c.maxReq), lat: lat,
		non2xx: non2xx.Load(), transport: trErrs.Load(), elapsed: time.Since(start)}
}

// openLoop sends request i at start + i/rate. One goroutine keeps the
// timetable: it sleeps until the next request is due, then hands it to one
// of c workers (goroutines that keep their grown stacks and their
// keep-alive connections) unless c are busy, when it is dropped. A late
// wake-up hands over several at once, each still timed from its own due
// time.
//
// Go's timers wake to within about 0.3 ms when the process is otherwise
// idle (the median lag at 3,000 req/s); -hrtimer sleeps with nanosleep(2)
// on a thread of its own instead, about 0.08 ms late, for some 50 µs more
// CPU per request (a context switch each), which on two shared cores takes
// more from the server than it gives. Either way the lag is charged to the
// request and reported (lag p50/p99), so what the generator adds can be
// read off.
func openLoop(c config, client *http.Client) result {
	total := min(int64(c.dur.Seconds()*c.rate), c.maxReq)
	interval := time.Duration(float64(time.Second) / c.rate)
	lat := make([]time.Duration, total)  // by request; -1: failed or dropped
	lags := make([]time.Duration, total) // by request
	start := time.Now().Add(10 * time.Millisecond)
	var (
		inflight, non2xx, trErrs, dropped, late atomic.Int64
		lastDone                                atomic.Int64 // ns since start
		wg                                      sync.WaitGroup
	)
	one := func(i int64) {
		defer inflight.Add(-1)
		due := start.Add(time.Duration(i) * interval)
		ok, err := do(context.Background(), c, client)
		now := time.Now()
		switch {
		case err != nil:
			trErrs.Add(1)
			transportErr.set(err.Error())
			lat[i] = -1
		case !ok:
			non2xx.Add(1)
			statusErr.set("non-2xx status")
			lat[i] = -1
		default:
			lat[i] = now.Sub(due)
		}
		for done := int64(now.Sub(start)); ; {
			prev := lastDone.Load()
			if done <= prev || lastDone.CompareAndSwap(prev, done) {
				break
			}
		}
	}
	jobs := make(chan int64, c.clients) // never full: at most c are in flight
	for range c.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				one(i)
			}
		}()
	}
	if c.hrTimer {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	for i := int64(0); i < total; i++ {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 && c.hrTimer {
			ts := syscall.NsecToTimespec(int64(d))
			_ = syscall.Nanosleep(&ts, nil) // EINTR: wakes early, still timed from due
		} else if d > 0 {
			time.Sleep(d)
		}
		lag := time.Since(due)
		lags[i] = lag
		if lag > time.Millisecond {
			late.Add(1)
		}
		if inflight.Add(1) > int64(c.clients) {
			inflight.Add(-1)
			dropped.Add(1)
			lat[i] = -1
			continue
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	okLat := slices.DeleteFunc(lat, func(d time.Duration) bool { return d < 0 })
	elapsed := max(time.Duration(lastDone.Load()), time.Duration(total)*interval)
	return result{mode: fmt.Sprintf("open-loop c=%d", c.clients), clients: c.clients, offered: c.rate, sent: total - dropped.Load(), lat: okLat,
		non2xx: non2xx.Load(), transport: trErrs.Load(), dropped: dropped.Load(), late: late.Load(), lag: lags, elapsed: elapsed}
}

func (r *result) pct(p float64) time.Duration { return pct(r.lat, p) }

// pct is the nearest-rank percentile of d (sorted in place).
func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	if !slices.IsSorted(d) {
		slices.Sort(d)
	}
	i := int(p*float64(len(d))+0.5) - 1
	return d[max(0, min(len(d)-1, i))]
}

func (r *result) achieved() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(len(r.lat)) / r.elapsed.Seconds()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }

func (r *result) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  ", r.mode)
	if r.offered > 0 {
		fmt.Fprintf(&b, "offered %.0f/s  ", r.offered)
	}
	fmt.Fprintf(&b, "achieved %.0f/s  ok %d  p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  errors %d (non-2xx %d, transport %d)",
		r.achieved(), len(r.lat), ms(r.pct(.50)), ms(r.pct(.90)), ms(r.pct(.99)), ms(r.pct(.999)), ms(r.pct(1)),
		r.non2xx+r.transport, r.non2xx, r.transport)
	if n := r.sent; n > 0 {
		fmt.Fprintf(&b, "\n  generator: cpu %.0fµs/req", float64(r.cpu.Microseconds())/float64(n))
	}
	if r.offered > 0 {
		fmt.Fprintf(&b, "  dropped %d (pool of %d full)  start lag behind the timetable p50 %s  p99 %s  max %s  (%d over 1 ms)",
			r.dropped, r.clients, ms(pct(r.lag, .5)), ms(pct(r.lag, .99)), ms(pct(r.lag, 1)), r.late)
	}
	if transportErr.msg != "" {
		fmt.Fprintf(&b, "\n  first transport error: %s", transportErr.msg)
	}
	return b.String()
}

// keyValues is the result for scripts (bench.sh reads it); times in ms.
func (r *result) keyValues() string {
	f := func(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/1e6) }
	return fmt.Sprintf("mode=%s\noffered=%.0f\nachieved=%.1f\nok=%d\np50=%s\np90=%s\np99=%s\np999=%s\nmax=%s\nerrors=%d\nnon2xx=%d\ntransport=%d\ndropped=%d\nlate=%d\nlag_p99=%s\ngen_cpu_us=%.0f\n",
		strings.Fields(r.mode)[0], r.offered, r.achieved(), len(r.lat), f(r.pct(.50)), f(r.pct(.90)), f(r.pct(.99)), f(r.pct(.999)), f(r.pct(1)),
		r.non2xx+r.transport, r.non2xx, r.transport, r.dropped, r.late, f(pct(r.lag, .99)), float64(r.cpu.Microseconds())/float64(max(r.sent, 1)))
}
